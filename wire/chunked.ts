// How a set of files (snapshot.json; credentials.json) is laid out across a main object and part objects,
// so that neither ConfigMaps nor Secrets hit the API server's ~1 MiB object limit and a reader never mixes
// two generations. Pure: no I/O; the operator writes what `planChunks` returns and the token server's
// Kubernetes source feeds what it read into `assembleChunks`.
//
// - Small payloads (all files together <= inlineLimit) live inline in the main object beside
//   manifest.json: one object, one atomic write.
// - Larger ones are gzipped and split into parts. Parts are written first, the main object (whose
//   manifest lists each part's name and sha256) last, and stale parts are deleted only after that. A
//   reader that sees a new manifest waits until every listed part has arrived with the expected hash.
// - Part names: by default `<base>-<generation[:12]>-<i>`, so a reader holding an old manifest still finds
//   that manifest's parts. Or fixed slots (`slots`), for Secrets whose readers may only read them by
//   name (RBAC cannot select by label): slots are overwritten in place, and a reader that catches a slot
//   mid-rewrite sees a hash that does not match its manifest and keeps what it served until the next one.

import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';

export const MANIFEST_KEY = 'manifest.json';
export const PART_KEY = 'chunk';
export const CHUNKED_FORMAT = 'portcullis.dev/chunked/v1' as const;

export interface ManifestFile {
  /** sha256 (hex) of the file's text. */
  sha256: string;
  /** 'inline': stored under the file name in the main object. 'gzip': gzipped, concatenated parts. */
  encoding: 'inline' | 'gzip';
  parts: { name: string; sha256: string }[];
}

export interface Manifest {
  format: typeof CHUNKED_FORMAT;
  generation: string;
  files: Record<string, ManifestFile>;
}

export interface ChunkLimits {
  /** All files together up to this many bytes stay inline. Default 900 KiB. */
  inlineLimit: number;
  /** Bytes of gzip output per part (base64 adds a third). Default 640 KiB. */
  partBytes: number;
}

export const DEFAULT_CHUNK_LIMITS: ChunkLimits = { inlineLimit: 900 * 1024, partBytes: 640 * 1024 };

/** Fixed part names: `name(i)` for i below `count`; more parts than that is an error (TooLarge). */
export interface PartSlots {
  name: (index: number) => string;
  count: number;
}

export class TooLargeError extends Error {
  constructor(
    readonly parts: number,
    readonly slots: number,
  ) {
    super(`needs ${parts} parts, more than the ${slots} there are names for`);
    this.name = 'TooLargeError';
  }
}

export interface ChunkPlan {
  manifest: Manifest;
  /** Text values for the main object (manifest.json and inline files). */
  main: Record<string, string>;
  /** In write order. */
  parts: { name: string; bytes: Buffer }[];
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function partName(base: string, generation: string, file: string, index: number, fileCount: number): string {
  // With one file the name stays short; with several the file's position keeps the names apart.
  const fileTag =
    fileCount > 1
      ? `-${file
          .replace(/[^a-z0-9]/gi, '')
          .toLowerCase()
          .slice(0, 12)}`
      : '';
  return `${base}-${generation.slice(0, 12)}${fileTag}-${index}`;
}

export interface ChunkOptions {
  /**
   * Name parts after their file's content (`<base>-<file>-<sha256[:16]>-<i>`) rather than the generation:
   * a file that did not change keeps its parts, so a new generation rewrites only the files that changed.
   * Such parts are immutable like generation-named ones: a reader holding an older manifest still finds its parts.
   */
  contentNames?: boolean;
  /** Gzips a file's text (given with its sha256, so a writer can reuse the bytes of an unchanged file). */
  gzip?: (text: string, sha256: string) => Buffer;
  /** sha256Hex of a file's text, for a writer that remembers the hashes of texts it planned before. */
  sha256?: (text: string) => string;
  /** Buffer.byteLength(text, 'utf8'), for a writer that remembers the lengths of texts it planned before. */
  byteLength?: (text: string) => number;
}

/** A text's length in UTF-8 bytes. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * The part hashes of gzip output, by the buffer and the part size. A writer that reuses an unchanged
 * file's gzip bytes (options.gzip) hands over the same buffer, which is never written to after gzip made it.
 */
const partHashes = new WeakMap<Buffer, { partBytes: number; sha256: string[] }>();

function partHashesOf(gz: Buffer, partBytes: number): string[] {
  const known = partHashes.get(gz);
  if (known?.partBytes === partBytes) return known.sha256;
  const sha256: string[] = [];
  for (let offset = 0; offset < gz.length || offset === 0; offset += partBytes) sha256.push(sha256Hex(gz.subarray(offset, offset + partBytes)));
  partHashes.set(gz, { partBytes, sha256 });
  return sha256;
}

/** Same input, same bytes: Node's gzip header has no mtime, and the level is fixed. */
export function gzipText(text: string): Buffer {
  return gzipSync(Buffer.from(text, 'utf8'), { level: 9 });
}

function contentPartName(base: string, file: string, sha256: string, index: number): string {
  const tag = file
    .replace(/\.json$/, '')
    .replace(/[^a-z0-9]/gi, '')
    .toLowerCase()
    .slice(0, 24);
  return `${base}-${tag}-${sha256.slice(0, 16)}-${index}`;
}

export function planChunks(
  base: string,
  generation: string,
  files: Record<string, string>,
  limits: ChunkLimits = DEFAULT_CHUNK_LIMITS,
  slots?: PartSlots,
  options: ChunkOptions = {},
): ChunkPlan {
  const names = Object.keys(files).sort();
  const lengthOf = options.byteLength ?? utf8Length;
  const total = names.reduce((n, f) => n + lengthOf(files[f] as string), 0);
  const manifest: Manifest = { format: CHUNKED_FORMAT, generation, files: {} };
  const main: Record<string, string> = {};
  const parts: ChunkPlan['parts'] = [];
  const hashOf = options.sha256 ?? sha256Hex;
  for (const file of names) {
    const text = files[file] as string;
    if (total <= limits.inlineLimit) {
      manifest.files[file] = { sha256: hashOf(text), encoding: 'inline', parts: [] };
      main[file] = text;
      continue;
    }
    const sha256 = hashOf(text);
    const gz = options.gzip ? options.gzip(text, sha256) : gzipText(text);
    const entry: ManifestFile = { sha256, encoding: 'gzip', parts: [] };
    const hashes = partHashesOf(gz, limits.partBytes);
    for (let offset = 0, i = 0; offset < gz.length || i === 0; offset += limits.partBytes, i++) {
      const bytes = gz.subarray(offset, offset + limits.partBytes);
      const name =
        slots !== undefined
          ? slots.name(parts.length)
          : options.contentNames
            ? contentPartName(base, file, sha256, i)
            : partName(base, generation, file, i, names.length);
      entry.parts.push({ name, sha256: hashes[i] as string });
      parts.push({ name, bytes });
    }
    manifest.files[file] = entry;
  }
  if (slots !== undefined && parts.length > slots.count) throw new TooLargeError(parts.length, slots.count);
  main[MANIFEST_KEY] = JSON.stringify(manifest);
  return { manifest, main, parts };
}

export function parseManifest(text: string): Manifest {
  const value = JSON.parse(text) as Partial<Manifest>;
  if (value.format !== CHUNKED_FORMAT || typeof value.generation !== 'string' || typeof value.files !== 'object' || value.files === null) {
    throw new Error(`${MANIFEST_KEY} is not a ${CHUNKED_FORMAT} manifest`);
  }
  // Each part is hashed (and fetched, for Secrets) once per listing: a part listed thousands of times, in
  // one file or across many, would cost that much work. The operator names every part once.
  const seen = new Set<string>();
  for (const [file, entry] of Object.entries(value.files)) {
    if (entry.encoding === 'inline') continue;
    if (!Array.isArray(entry.parts)) throw new Error(`${MANIFEST_KEY}: ${file} lists no parts`);
    for (const part of entry.parts) {
      if (seen.has(part.name)) throw new Error(`${MANIFEST_KEY}: part ${JSON.stringify(part.name)} is listed more than once`);
      seen.add(part.name);
    }
    if (seen.size > MAX_PARTS) throw new Error(`${MANIFEST_KEY} lists more than ${MAX_PARTS} parts`);
  }
  return value as Manifest;
}

/**
 * Bounds on what a manifest may make a reader do. At most MAX_PARTS parts in all (100,000 users and
 * grants take about 260). A file unzips to at most MAX_FILE_BYTES (100,000 users and grants are about
 * 30 MB in all): a small part of highly compressible bytes would otherwise grow to gigabytes in every
 * token server that reads it.
 */
export const MAX_PARTS = 4096;
export const MAX_FILE_BYTES = 256 * 1024 * 1024;

export type AssembleResult =
  | { complete: true; generation: string; files: Record<string, string> }
  /** Some parts have not arrived yet (or still hold another generation): wait for more events. */
  | { complete: false; waitingFor: string[] };

export type OpenResult =
  | {
      complete: true;
      generation: string;
      /** The files present (those `known` skipped left out), in manifest order. */
      names: string[];
      /**
       * A file's text, unzipped now and not kept: a reader that parses one file at a time never holds
       * every file's text at once (at 100,000 users and grants, about 30 MB). Undefined for a file not in
       * `names`; throws when the text does not match its manifest checksum.
       */
      file: (name: string) => string | undefined;
    }
  | { complete: false; waitingFor: string[] };

/**
 * Finds the parts of the files a manifest describes among the main object's text values and the parts
 * seen so far, checking each part's checksum, without unzipping anything (see `file`).
 * `known(file, sha256)`: the reader already holds this content (checked when it read it), so the file is
 * neither looked for nor unzipped again, and is left out.
 */
export function openChunks(
  main: Readonly<Record<string, string>>,
  parts: (name: string) => Buffer | undefined,
  known?: (file: string, sha256: string) => boolean,
): OpenResult {
  const manifestText = main[MANIFEST_KEY];
  if (manifestText === undefined) throw new Error(`the main object has no ${MANIFEST_KEY}`);
  const manifest = parseManifest(manifestText);
  const found = new Map<string, { sha256: string; inline?: string; chunks: Buffer[] }>();
  const waitingFor: string[] = [];
  for (const [file, entry] of Object.entries(manifest.files)) {
    if (known?.(file, entry.sha256)) continue;
    if (entry.encoding === 'inline') {
      const text = main[file];
      if (text === undefined) throw new Error(`${file} is listed inline but missing`);
      found.set(file, { sha256: entry.sha256, inline: text, chunks: [] });
      continue;
    }
    const chunks: Buffer[] = [];
    for (const part of entry.parts) {
      const bytes = parts(part.name);
      if (bytes === undefined || sha256Hex(bytes) !== part.sha256) waitingFor.push(part.name);
      else chunks.push(bytes);
    }
    found.set(file, { sha256: entry.sha256, chunks });
  }
  if (waitingFor.length > 0) return { complete: false, waitingFor };
  const file = (name: string): string | undefined => {
    const entry = found.get(name);
    if (entry === undefined) return undefined;
    const text = entry.inline ?? gunzipSync(Buffer.concat(entry.chunks), { maxOutputLength: MAX_FILE_BYTES }).toString('utf8');
    if (sha256Hex(text) !== entry.sha256) throw new Error(`${name} does not match its manifest checksum`);
    return text;
  };
  return { complete: true, generation: manifest.generation, names: [...found.keys()], file };
}

/**
 * Reassembles the files a manifest describes from the main object's text values and the parts seen so
 * far: openChunks with every file read. Throws when the data is present but wrong (a checksum of the
 * whole file does not match).
 */
export function assembleChunks(
  main: Readonly<Record<string, string>>,
  parts: (name: string) => Buffer | undefined,
  known?: (file: string, sha256: string) => boolean,
): AssembleResult {
  const opened = openChunks(main, parts, known);
  if (!opened.complete) return opened;
  const files: Record<string, string> = {};
  for (const name of opened.names) files[name] = opened.file(name) as string;
  return { complete: true, generation: opened.generation, files };
}

/** Names of all part objects a manifest refers to. */
export function manifestParts(manifest: Manifest): Set<string> {
  return new Set(Object.values(manifest.files).flatMap((f) => f.parts.map((p) => p.name)));
}

// ---- the objects that carry them ----

export type StoreKind = 'ConfigMap' | 'Secret';

/** A ConfigMap or Secret as cached by an informer. */
export interface StoredObject {
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; ownerReferences?: { uid: string }[] };
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

/** The text values of a cached main object (Secret data is base64). */
export function mainValues(kind: StoreKind, object: StoredObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(object.data ?? {})) out[k] = kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v;
  return out;
}

/** The bytes of a cached part object. */
export function partBytes(kind: StoreKind, object: StoredObject): Buffer | undefined {
  const value = kind === 'Secret' ? object.data?.[PART_KEY] : object.binaryData?.[PART_KEY];
  return value === undefined ? undefined : Buffer.from(value, 'base64');
}
