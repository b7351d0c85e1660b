// Reading manifests for `portcullis compile`: files or directories of YAML/JSON, multi-document, with
// `kind: List` flattened, sorted into the kinds the policy needs. Every problem is collected (not thrown)
// and names the file, the document and the field, so one CI run shows everything that is wrong:
//   examples/a.yaml: document 2 (RepositoryGrant team/x): spec.actions[1]: must be one of pull, push, delete, *

import { DEFAULT_NAMESPACE } from '../policy/object-keys.js';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { isCrdKind, isPlainObject, validateObjectMeta, validateResource } from './schema.js';
import { GROUP, type NamespaceInfo, type RegistryResource, type RegistryUserResource, type RepositoryGrantResource, type SecretResource } from './types.js';

/** Objects without a namespace are in this one, as kubectl would put them (policy/snapshot.ts agrees). */

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export interface LoadedManifests {
  registries: RegistryResource[];
  users: RegistryUserResource[];
  grants: RepositoryGrantResource[];
  secrets: SecretResource[];
  /** From `kind: Namespace` documents, with their labels (delegation selectors match on them). */
  namespaces: NamespaceInfo[];
  /** Invalid documents and objects; any error means the input must not be published. */
  errors: string[];
  /** Documents of kinds compile does not use, and similar harmless surprises. */
  warnings: string[];
  /** Where each object came from, keyed `Kind namespace/name`: `file: document N`. */
  origins: Map<string, string>;
}

/** Loads every manifest under `paths` (files, or directories searched recursively for .yaml/.yml/.json). */
export async function loadManifests(paths: string[]): Promise<LoadedManifests> {
  const out: LoadedManifests = { registries: [], users: [], grants: [], secrets: [], namespaces: [], errors: [], warnings: [], origins: new Map() };
  for (const path of paths) {
    let files: string[];
    try {
      files = await manifestFiles(path);
    } catch (error) {
      out.errors.push(`${path}: ${describeFsError(error)}`);
      continue;
    }
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        out.errors.push(`${file}: ${describeFsError(error)}`);
        continue;
      }
      loadText(text, file, out);
    }
  }
  return out;
}

/** Sorts the documents of one file's text into `out` (exported for tests and for stdin). */
export function loadText(text: string, file: string, out: LoadedManifests): void {
  if (extname(file) === '.json') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      out.errors.push(`${file}: invalid JSON: ${(error as Error).message}`);
      return;
    }
    addDocument(value, `${file}: document 1`, out);
    return;
  }
  const documents = parseAllDocuments(text);
  const list = Array.isArray(documents) ? documents : [documents];
  list.forEach((doc, i) => {
    const where = `${file}: document ${i + 1}`;
    if (doc.errors.length > 0) {
      const messages = doc.errors.map((e) => e.message.split('\n')[0]);
      const more = messages.length > 3 ? `; and ${messages.length - 3} more` : '';
      out.errors.push(`${where}: invalid YAML: ${messages.slice(0, 3).join('; ')}${more}`);
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      // An alias bomb ("Excessive alias count") or the like: a bad file to report, not a crash.
      out.errors.push(`${where}: invalid YAML: ${(error as Error).message.split('\n')[0]}`);
      return;
    }
    if (value === null || value === undefined) return; // an empty document, e.g. after a trailing `---`
    addDocument(value, where, out);
  });
}

/** Lists inside lists, as kubectl writes them, go one or two deep; thousands would exhaust the stack. */
const MAX_LIST_DEPTH = 8;

/**
 * Objects and arrays inside each other: Kubernetes objects go about fifteen deep. Validation and defaulting
 * recurse, so a document thousands deep (JSON parses it) would exhaust the stack.
 */
const MAX_NESTING = 64;

/** Whether `value` nests deeper than `limit`, found without recursion. */
function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth > limit) return true;
    for (const child of Object.values(node as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
  return false;
}

function addDocument(value: unknown, where: string, out: LoadedManifests, depth = 0): void {
  if (depth === 0 && nestsDeeperThan(value, MAX_NESTING)) {
    out.errors.push(`${where}: nested more than ${MAX_NESTING} deep`);
    return;
  }
  if (!isPlainObject(value)) {
    out.errors.push(`${where}: must be a Kubernetes object (a mapping with apiVersion and kind)`);
    return;
  }
  if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
    if (depth >= MAX_LIST_DEPTH) {
      out.errors.push(`${where}: Lists nested more than ${MAX_LIST_DEPTH} deep`);
      return;
    }
    value.items.forEach((item, i) => addDocument(item, `${where} item ${i + 1}`, out, depth + 1));
    return;
  }
  addObject(value, where, out);
}

function describeObject(obj: Record<string, unknown>): string {
  const kind = typeof obj.kind === 'string' ? obj.kind : 'object without kind';
  const meta = isPlainObject(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : '(no name)';
  const namespace = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : DEFAULT_NAMESPACE;
  return kind === 'Namespace' ? `${kind} ${name}` : `${kind} ${namespace}/${name}`;
}

function addObject(obj: Record<string, unknown>, where: string, out: LoadedManifests): void {
  const label = `${where} (${describeObject(obj)})`;
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  const errors: string[] = [];
  if (typeof obj.kind !== 'string' || obj.kind === '') {
    out.errors.push(`${label}: kind: is required`);
    return;
  }
  if (group === GROUP || (apiVersion === '' && isCrdKind(obj.kind))) {
    errors.push(...validateResource(obj));
  } else if (apiVersion === 'v1' && (obj.kind === 'Secret' || obj.kind === 'Namespace')) {
    validateObjectMeta(obj.metadata, errors);
    if (obj.kind === 'Secret') validateSecretData(obj, errors);
  } else {
    out.warnings.push(`${label}: ignored (compile reads only ${GROUP} objects, Secrets and Namespaces)`);
    return;
  }
  if (errors.length > 0) {
    for (const e of errors) out.errors.push(`${label}: ${e}`);
    return;
  }

  const copy = structuredClone(obj) as Record<string, unknown> & { metadata: { name: string; namespace?: string; labels?: Record<string, string> } };
  if (obj.kind !== 'Namespace' && (copy.metadata.namespace === undefined || copy.metadata.namespace === '')) {
    copy.metadata.namespace = DEFAULT_NAMESPACE;
  }
  const key = obj.kind === 'Namespace' ? `Namespace ${copy.metadata.name}` : `${obj.kind} ${copy.metadata.namespace}/${copy.metadata.name}`;
  const first = out.origins.get(key);
  if (first !== undefined) {
    out.errors.push(`${label}: duplicate ${key}, first defined in ${first}`);
    return;
  }
  out.origins.set(key, where);
  switch (obj.kind) {
    case 'Registry':
      out.registries.push(copy as unknown as RegistryResource);
      break;
    case 'RegistryUser':
      out.users.push(copy as unknown as RegistryUserResource);
      break;
    case 'RepositoryGrant':
      out.grants.push(copy as unknown as RepositoryGrantResource);
      break;
    case 'Secret':
      out.secrets.push(copy as unknown as SecretResource);
      break;
    case 'Namespace':
      out.namespaces.push({ name: copy.metadata.name, labels: { ...(copy.metadata.labels ?? {}) } });
      break;
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// Values are never quoted in these messages: they are secrets.
function validateSecretData(obj: Record<string, unknown>, errors: string[]): void {
  for (const field of ['data', 'stringData'] as const) {
    const map = obj[field];
    if (map === undefined || map === null) continue;
    if (!isPlainObject(map)) {
      errors.push(`${field}: must be a mapping of key to value`);
      continue;
    }
    for (const [key, value] of Object.entries(map)) {
      if (typeof value !== 'string') errors.push(`${field}.${key}: must be a string`);
      else if (field === 'data' && !BASE64.test(value.replace(/\s+/g, ''))) errors.push(`${field}.${key}: must be base64 (use stringData for plain text)`);
    }
  }
}

/** The manifest files a path names: the file itself, or those under a directory (sorted, dotfiles skipped). */
async function manifestFiles(path: string): Promise<string[]> {
  const info = await stat(path);
  if (!info.isDirectory()) return [path];
  const files: string[] = [];
  const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const child = join(path, entry.name);
    if (entry.isDirectory()) files.push(...(await manifestFiles(child)));
    else if (MANIFEST_EXTENSIONS.has(extname(entry.name)) && entry.name !== 'kustomization.yaml') files.push(child);
  }
  return files;
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  return (error as Error).message;
}
