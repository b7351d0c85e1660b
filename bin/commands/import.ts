// `portcullis import htpasswd FILE --registry NAME [--namespace NS]`: an existing htpasswd file (as
// Distribution's htpasswd auth uses) -> one Secret + one RegistryUser per line, as YAML on stdout, so a
// registry can move to Portcullis without anyone changing a password. Only bcrypt lines are accepted;
// errors name the line number and the user, never the hash.

import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { parseHtpasswdHash, HTPASSWD_KEY } from '../../credentials/resolve.js';
import { API_VERSION, type RegistryUserResource, type SecretResource } from '../../crds/types.js';

export interface ImportOptions {
  /** The Registry's name, or `namespace/name` when it lives in another namespace. */
  registry: string;
  /** Namespace of the generated objects; absent: none written (kubectl's -n or context decides). */
  namespace?: string;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// What the RegistryUser CRD accepts as spec.username, without the control characters compile and the token
// server refuse (such a user could never log in).
// eslint-disable-next-line no-control-regex -- control characters are what this refuses
const USERNAME = /^[^:\s\x00-\x1f\x7f]{1,128}$/;
const SECRET_SUFFIX = '-htpasswd';

/**
 * A DNS-1123 name for a username: itself when it already is one, otherwise a lowercased, dashed form
 * plus a short digest of the exact username, so that `Alice` and `alice` never collide.
 */
export function objectNameFor(username: string): string {
  const limit = 253 - SECRET_SUFFIX.length;
  if (DNS1123_SUBDOMAIN.test(username) && username.length <= limit) return username;
  const digest = createHash('sha256').update(username, 'utf8').digest('hex').slice(0, 8);
  const base = username
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/[-.]{2,}/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, limit - digest.length - 1)
    .replace(/[-.]+$/g, '');
  return base === '' ? `user-${digest}` : `${base}-${digest}`;
}

/** The manifests for an htpasswd file's text, or every problem found (by line number). */
export function htpasswdToManifests(text: string, options: ImportOptions): { objects: (SecretResource | RegistryUserResource)[] } | { errors: string[] } {
  const errors: string[] = [];
  const objects: (SecretResource | RegistryUserResource)[] = [];
  const parts = options.registry.split('/');
  const [registryNamespace, registryName] = parts.length === 2 ? parts : [undefined, parts.length === 1 ? options.registry : undefined];
  if (registryName === undefined || !DNS1123_SUBDOMAIN.test(registryName) || (registryNamespace !== undefined && !DNS1123_LABEL.test(registryNamespace))) {
    errors.push(`--registry ${JSON.stringify(options.registry)}: must be a Registry name, or namespace/name`);
  }
  if (options.namespace !== undefined && !DNS1123_LABEL.test(options.namespace)) {
    errors.push(`--namespace ${JSON.stringify(options.namespace)}: must be a DNS-1123 label`);
  }
  const seen = new Map<string, number>();
  const names = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      errors.push(`line ${lineNo}: expected user:hash`);
      return;
    }
    const username = line.slice(0, colon);
    if (!USERNAME.test(username)) {
      errors.push(`line ${lineNo}: username ${JSON.stringify(username.slice(0, 40))} must be 1-128 characters without whitespace or control characters`);
      return;
    }
    const hash = line.slice(colon + 1);
    const parsed = hash.includes(':') ? { message: 'has more than one colon; expected user:hash' } : parseHtpasswdHash(hash);
    if ('message' in parsed) {
      errors.push(`line ${lineNo}: user ${JSON.stringify(username)} ${parsed.message}`);
      return;
    }
    const first = seen.get(username);
    if (first !== undefined) {
      errors.push(`line ${lineNo}: user ${JSON.stringify(username)} is already defined on line ${first}`);
      return;
    }
    seen.set(username, lineNo);
    const name = objectNameFor(username);
    const clash = names.get(name);
    if (clash !== undefined) {
      errors.push(`line ${lineNo}: user ${JSON.stringify(username)} maps to the object name ${name}, as does line ${clash}`);
      return;
    }
    names.set(name, lineNo);
    // Without --namespace, the objects go beside the Registry (where no delegation is needed to attach).
    const objectNamespace = options.namespace ?? registryNamespace;
    const meta = (objectName: string) => (objectNamespace === undefined ? { name: objectName } : { name: objectName, namespace: objectNamespace });
    const secretName = `${name}${SECRET_SUFFIX}`;
    objects.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(secretName),
      // Kept as written (e.g. $2y$): resolveCredential normalises it when it reads it.
      stringData: { [HTPASSWD_KEY]: hash },
      type: 'Opaque',
    });
    objects.push({
      apiVersion: API_VERSION,
      kind: 'RegistryUser',
      metadata: meta(name),
      spec: {
        registryRef: registryNamespace === undefined ? { name: registryName ?? '' } : { name: registryName ?? '', namespace: registryNamespace },
        username,
        passwordSecretRef: { name: secretName, key: HTPASSWD_KEY },
      },
    });
  });
  if (errors.length === 0 && objects.length === 0) errors.push('no users in the file');
  return errors.length > 0 ? { errors } : { objects };
}

/** Multi-document YAML of the objects. */
export function toYamlDocuments(objects: object[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

export function register(program: Command): void {
  const importCommand = program.command('import').description('convert existing credentials into Portcullis manifests');
  importCommand
    .command('htpasswd')
    .description('print a Secret and a RegistryUser (YAML) for every user of a bcrypt htpasswd file')
    .argument('<file>', 'htpasswd file (htpasswd -B); - for stdin')
    .requiredOption('--registry <name>', 'the Registry the users belong to (name, or namespace/name)')
    .option('-n, --namespace <ns>', 'namespace of the generated objects (default: the namespace in --registry NS/NAME)')
    .action(async (file: string, opts: { registry: string; namespace?: string }) => {
      const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
      const result = htpasswdToManifests(
        text,
        opts.namespace === undefined ? { registry: opts.registry } : { registry: opts.registry, namespace: opts.namespace },
      );
      if ('errors' in result) {
        for (const e of result.errors) process.stderr.write(`error: ${file}: ${e}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(toYamlDocuments(result.objects));
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
