// Small valid OCI images built from bytes, so no test pulls anything from the internet. Each layer
// holds random content, so every call yields a different digest.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface BuiltImage {
  /** An OCI image layout directory (crane push DIR, skopeo oci:DIR). */
  layoutDir: string;
  /** Digest of the image manifest. */
  digest: string;
  manifest: string;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Bytes with their OCI digest and size, as manifests and layouts name them. */
export interface Blob {
  digest: string;
  size: number;
  data: Buffer;
}

export function blobOf(data: Buffer | string): Blob {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return { digest: `sha256:${sha256(bytes)}`, size: bytes.length, data: bytes };
}

/** A regular file of a POSIX ustar archive; mode 0644 unless given (0755 for a program). */
export interface TarEntry {
  name: string;
  content: Buffer;
  mode?: number;
}

/** Regular files in a POSIX ustar archive (enough for an image layer or an image archive). */
export function tarOf(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const { name, content, mode = 0o644 } of entries) {
    const header = Buffer.alloc(512, 0);
    const field = (value: string, offset: number, length: number): void => {
      header.write(value, offset, Math.min(Buffer.byteLength(value), length), 'ascii');
    };
    const octal = (value: number, length: number): string => value.toString(8).padStart(length - 1, '0');
    field(name, 0, 100);
    field(octal(mode, 8), 100, 8);
    field(octal(0, 8), 108, 8);
    field(octal(0, 8), 116, 8);
    field(octal(content.length, 12), 124, 12);
    field(octal(0, 12), 136, 12);
    header.fill(' ', 148, 156); // checksum is computed with its own field as spaces
    field('0', 156, 1);
    field('ustar', 257, 6);
    field('00', 263, 2);
    let sum = 0;
    for (const byte of header) sum += byte;
    field(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
    parts.push(header, content, Buffer.alloc((512 - (content.length % 512)) % 512, 0));
  }
  return Buffer.concat([...parts, Buffer.alloc(1024, 0)]);
}

/** One regular file in a POSIX ustar archive. */
export function tarWithFile(name: string, content: Buffer): Buffer {
  return tarOf([{ name, content }]);
}

async function writeBlob(layoutDir: string, data: Buffer | string): Promise<{ digest: string; size: number }> {
  const hex = sha256(data);
  await writeFile(join(layoutDir, 'blobs', 'sha256', hex), data);
  return { digest: `sha256:${hex}`, size: Buffer.byteLength(data) };
}

export async function buildImage(layoutDir: string, options: { layerBytes?: number } = {}): Promise<BuiltImage> {
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  const tar = tarWithFile('hello.txt', randomBytes(options.layerBytes ?? 1024));
  const layer = await writeBlob(layoutDir, gzipSync(tar));
  const config = await writeBlob(
    layoutDir,
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(tar)}`] },
    }),
  );
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
  });
  const m = await writeBlob(layoutDir, manifest);
  await writeFile(join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(layoutDir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }),
  );
  return { layoutDir, digest: m.digest, manifest };
}
