// `portcullis compile -f FILE_OR_DIR [-f ...] -o DIR`: manifests -> DIR/snapshot.json + DIR/credentials.json,
// the same files the operator publishes, for running the token server without a cluster and for GitOps CI.
// Exit status 2 means "do not publish": a manifest is invalid or some object is not Ready; every problem
// is printed (file, document, field; or kind, name, reason, message) so one run shows all of them.

import type { Command } from 'commander';
import { parseBcryptCost } from '../../policy/password-hash.js';
import { CREDENTIALS_FILE, SNAPSHOT_FILE } from '../../wire/files.js';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveBindPassword, resolveCredential, DEFAULT_BCRYPT_COST } from '../../credentials/resolve.js';
import type { NamespaceInfo, RegistryUserResource, SecretResource } from '../../crds/types.js';
import { loadManifests } from '../../crds/manifests.js';
import { usernameOf } from '../../policy/compile/users.js';
import { namespaceOf, objectKey, registryKeyOf } from '../../policy/object-keys.js';
import { bindPasswordSecretRef, compileSnapshot, usersNeedingCredentials, type ObjectStatus, type ResolvedCredential } from '../../policy/snapshot.js';
import { mergeSnapshots, parseCredentials, serializeCredentials, serializeSnapshot } from '../../policy/snapshot-format.js';
import type { Credentials, Snapshot } from '../../policy/types.js';

/** Exit status for "the input must not be published" (invalid manifests, objects not Ready). */
export const EXIT_NOT_READY = 2;

export interface CompileOptions {
  /** Files or directories of manifests. */
  files: string[];
  outDir: string;
  /** Write the output even if some object is not Ready (invalid manifests still write nothing). */
  allowNotReady?: boolean;
  /** bcrypt cost for plain passwords. */
  cost?: number;
}

export interface CompileOutcome {
  /** 0, or EXIT_NOT_READY. */
  exitCode: number;
  /** The summary, for stdout. */
  out: string[];
  /** Errors, objects not Ready and warnings, for stderr. */
  err: string[];
  /** Whether DIR/snapshot.json and DIR/credentials.json were written. */
  wrote: boolean;
  snapshot?: Snapshot;
  statuses: ObjectStatus[];
}

/** Hashes from the last compile into the same directory, so unchanged passwords keep their hash (and revision). */
async function previousHashes(outDir: string): Promise<Credentials | undefined> {
  try {
    return parseCredentials(await readFile(join(outDir, CREDENTIALS_FILE), 'utf8'));
  } catch {
    return undefined; // none yet, or unreadable: hash afresh
  }
}

/** Credentials of the users compileSnapshot will read: admitted ones holding their username, and no others. */
async function resolveAll(
  users: RegistryUserResource[],
  needed: ReadonlySet<string>,
  secrets: SecretResource[],
  previous: Credentials | undefined,
  cost: number,
): Promise<Map<string, ResolvedCredential>> {
  const secretsByKey = new Map(secrets.map((s) => [objectKey(s), s]));
  const entries = await Promise.all(
    users
      .filter((u) => needed.has(objectKey(u)))
      .map(async (u): Promise<[string, ResolvedCredential]> => {
        const secret = secretsByKey.get(`${namespaceOf(u)}/${u.spec.passwordSecretRef?.name ?? ''}`);
        const reuseHash = previous?.registries[registryKeyOf(u)]?.[usernameOf(u)];
        const { credential } = await resolveCredential(u, secret, reuseHash === undefined ? { cost } : { cost, reuseHash });
        return [objectKey(u), credential];
      }),
  );
  return new Map(entries);
}

/** Writes `text` to `path` so readers see the old file or the new one, never half of one. */
export async function writeFileAtomic(path: string, text: string, mode: number): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(temp, text, { mode, flag: 'wx' });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

function describeStatus(s: ObjectStatus): string | undefined {
  const ready = s.conditions.find((c) => c.type === 'Ready');
  if (ready === undefined || ready.status === 'True') return undefined;
  return `${s.kind} ${s.namespace}/${s.name}: Ready=${ready.status} ${ready.reason}: ${ready.message}`;
}

/** The whole command, without touching process state: tests call this. */
export async function compileManifests(options: CompileOptions): Promise<CompileOutcome> {
  const loaded = await loadManifests(options.files);
  const err = [...loaded.errors.map((e) => `error: ${e}`), ...loaded.warnings.map((w) => `warning: ${w}`)];
  const fail = (message?: string): CompileOutcome => ({
    exitCode: EXIT_NOT_READY,
    out: [],
    err: message === undefined ? err : [...err, `error: ${message}`],
    wrote: false,
    statuses: [],
  });
  if (loaded.errors.length > 0) return fail(`${loaded.errors.length} invalid manifest(s); nothing written`);
  if (loaded.registries.length === 0) return fail(`no Registry in ${options.files.join(', ')}; nothing written`);

  // Namespaces: labelled ones from the input; any other namespace an object is in has no labels.
  const namespaces = new Map<string, NamespaceInfo>(loaded.namespaces.map((n) => [n.name, n]));
  for (const o of [...loaded.registries, ...loaded.users, ...loaded.grants]) {
    const ns = namespaceOf(o);
    if (!namespaces.has(ns)) namespaces.set(ns, { name: ns, labels: {} });
  }

  const objects = { registries: loaded.registries, users: loaded.users, grants: loaded.grants, namespaces: [...namespaces.values()] };
  const previous = await previousHashes(options.outDir);
  const credentials = await resolveAll(loaded.users, usersNeedingCredentials(objects), loaded.secrets, previous, options.cost ?? DEFAULT_BCRYPT_COST);
  const secretsByKey = new Map(loaded.secrets.map((secret) => [objectKey(secret), secret]));
  const identitySecrets = new Map(
    loaded.registries.map((r) => [objectKey(r), resolveBindPassword(r, secretsByKey.get(`${namespaceOf(r)}/${bindPasswordSecretRef(r)?.name ?? ''}`))]),
  );
  const result = compileSnapshot({ ...objects, credentials, identitySecrets });
  let merged: { snapshot: Snapshot; credentials: Credentials };
  try {
    merged = mergeSnapshots(result.registries);
  } catch (error) {
    return fail((error as Error).message);
  }

  const out: string[] = [];
  for (const policy of merged.snapshot.registries) {
    const part = result.registries.find((r) => r.id === policy.id);
    out.push(
      `Registry ${policy.id} (service ${policy.service}): ${policy.users.length} users, ${policy.grants.length} grants, ` +
        `generation ${part?.snapshot.generation.slice(0, 12) ?? '?'}`,
    );
  }
  out.push(`snapshot generation ${merged.snapshot.generation}`);
  const notReady = result.statuses.map(describeStatus).filter((line): line is string => line !== undefined);
  err.push(...notReady.map((line) => `not ready: ${line}`));

  const publish = notReady.length === 0 || options.allowNotReady === true;
  if (publish) {
    await mkdir(options.outDir, { recursive: true });
    await writeFileAtomic(join(options.outDir, SNAPSHOT_FILE), serializeSnapshot(merged.snapshot), 0o644);
    await writeFileAtomic(join(options.outDir, CREDENTIALS_FILE), serializeCredentials(merged.credentials), 0o600);
    out.push(`wrote ${join(options.outDir, SNAPSHOT_FILE)} and ${join(options.outDir, CREDENTIALS_FILE)}`);
  } else {
    err.push(`error: ${notReady.length} object(s) not Ready; nothing written (--allow-not-ready writes anyway)`);
  }
  return {
    exitCode: notReady.length === 0 ? 0 : EXIT_NOT_READY,
    out,
    err,
    wrote: publish,
    snapshot: merged.snapshot,
    statuses: result.statuses,
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function register(program: Command): void {
  program
    .command('compile')
    .description('compile Registry, RegistryUser and RepositoryGrant manifests (and password Secrets) into a snapshot directory')
    .requiredOption('-f, --filename <path>', 'manifest file or directory (repeatable; directories are read recursively)', collect, [])
    .requiredOption('-o, --output <dir>', 'directory to write snapshot.json and credentials.json to')
    .option('--allow-not-ready', 'write the output even if some objects are not Ready (exit status stays 2)', false)
    .option('--bcrypt-cost <n>', 'bcrypt cost for plain passwords', String(DEFAULT_BCRYPT_COST))
    .addHelpText('after', '\nExit status: 0 all objects Ready and written; 2 invalid manifests or objects not Ready.')
    .action(async (opts: { filename: string[]; output: string; allowNotReady: boolean; bcryptCost: string }) => {
      let cost: number;
      try {
        cost = parseBcryptCost(opts.bcryptCost);
      } catch (error) {
        program.error((error as Error).message);
      }
      const outcome = await compileManifests({ files: opts.filename, outDir: opts.output, allowNotReady: opts.allowNotReady, cost });
      for (const line of outcome.out) process.stdout.write(`${line}\n`);
      for (const line of outcome.err) process.stderr.write(`${line}\n`);
      process.exitCode = outcome.exitCode;
    });
}
