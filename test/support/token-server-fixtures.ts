// Shared test inputs: a small two-registry snapshot with known users and grants, a real key set from
// `keys init`, in-memory sources, and a logger whose lines tests can read.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll } from 'vitest';
import { pino, type Logger } from 'pino';
import { initKeysDir } from '../../pki/init.js';
import { canonicalJson, sha256Hex } from '../../policy/canonical.js';
import { credentialRevision } from '../../policy/revision.js';
import { KEY_FILES } from '../../wire/files.js';
import { type SigningKeySet } from '../../wire/signing-key-set.js';
import { CREDENTIALS_FORMAT, SNAPSHOT_FORMAT, type Credentials, type RegistryPolicy, type Snapshot, type SigningAlgorithm } from '../../policy/types.js';
import { loggerOptions } from '../../token-server/logger.js';
import type { KeyState, Source } from '../../token-server/sources/types.js';

export const SERVICE = 'registry.test';
export const OTHER_SERVICE = 'other.test';

/** Plain passwords of the fixture users; hashes are made at cost 4 to keep tests fast. */
export const PASSWORDS: Record<string, string> = {
  alice: 'alice-secret',
  bob: 'bob-secret',
  dave: 'dave-secret',
};

export interface FixtureUser {
  username: string;
  groups?: string[];
  disabled?: boolean;
  /** undefined: no credential at all. */
  password?: string;
  /** Store the hash in htpasswd's `$2y$` spelling. */
  htpasswd?: boolean;
  /** The RegistryUser's `uid:generation`; default `uid-<username>:1`. */
  objectRevision?: string;
}

export const DEFAULT_USERS: FixtureUser[] = [
  { username: 'alice', groups: ['team-a'], password: PASSWORDS.alice },
  { username: 'bob', groups: ['team-a'], password: PASSWORDS.bob, disabled: true },
  { username: 'carol', groups: [] },
  { username: 'dave', groups: [], password: PASSWORDS.dave, htpasswd: true },
];

// One hash per password for the whole run: a policy rebuilt with the same password keeps the same hash
// (as the operator does), so a test can change one thing about a user and nothing else.
const hashes = new Map<string, Promise<string>>();

export async function hashPassword(password: string, htpasswd = false): Promise<string> {
  let hash = hashes.get(password);
  if (hash === undefined) {
    hash = bcrypt.hash(password, 4);
    hashes.set(password, hash);
  }
  return htpasswd ? `$2y$${(await hash).slice(4)}` : hash;
}

export async function makePolicy(
  users: FixtureUser[] = DEFAULT_USERS,
  algorithm: SigningAlgorithm = 'ES256',
  issuer = 'portcullis-test',
): Promise<{ snapshot: Snapshot; credentials: Credentials }> {
  const hashes: Record<string, string> = {};
  for (const u of users) if (u.password !== undefined) hashes[u.username] = await hashPassword(u.password, u.htpasswd);
  const main: RegistryPolicy = {
    id: 'registry/main',
    service: SERVICE,
    issuer,
    realm: 'https://registry.test/token',
    tokenTTLSeconds: 300,
    signingAlgorithm: algorithm,
    users: users
      .map((u) => ({
        username: u.username,
        groups: [...(u.groups ?? [])].sort(),
        disabled: u.disabled ?? false,
        credentialRevision: hashes[u.username] === undefined ? '' : credentialRevision(hashes[u.username] as string),
        source: `registry/${u.username}`,
        objectRevision: u.objectRevision ?? `uid-${u.username}:1`,
      }))
      .sort((a, b) => a.username.localeCompare(b.username)),
    grants: [
      { source: 'registry/catalog', subjects: [{ kind: 'User', name: 'alice' }], repositories: [], actions: ['pull'], catalog: true },
      {
        source: 'registry/public',
        subjects: [{ kind: 'Anonymous' }, { kind: 'Authenticated' }],
        repositories: ['public/**'],
        actions: ['pull'],
        catalog: false,
      },
      { source: 'registry/team-a', subjects: [{ kind: 'Group', name: 'team-a' }], repositories: ['team-a/**'], actions: ['pull', 'push'], catalog: false },
    ],
  };
  const other: RegistryPolicy = {
    id: 'registry/other',
    service: OTHER_SERVICE,
    issuer: 'portcullis-test',
    tokenTTLSeconds: 60,
    signingAlgorithm: algorithm,
    users: [],
    grants: [{ source: 'registry/other-public', subjects: [{ kind: 'Anonymous' }], repositories: ['**'], actions: ['pull'], catalog: false }],
  };
  return {
    snapshot: snapshotOf([other, main].sort((a, b) => a.service.localeCompare(b.service))),
    credentials: { format: CREDENTIALS_FORMAT, registries: { [main.id]: hashes } },
  };
}

export function snapshotOf(registries: RegistryPolicy[]): Snapshot {
  return { format: SNAPSHOT_FORMAT, generation: sha256Hex(canonicalJson(registries)), registries };
}

/** A keys directory made by `keys init`, read back. Call `cleanup` afterwards. */
export async function makeKeys(
  now: Date,
  algorithm: SigningAlgorithm = 'ES256',
): Promise<{ dir: string; set: SigningKeySet; bundle: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-ts-keys-'));
  await initKeysDir(dir, { algorithm, now });
  const set = JSON.parse(await readFile(join(dir, KEY_FILES.signing), 'utf8')) as SigningKeySet;
  const bundle = await readFile(join(dir, KEY_FILES.bundle), 'utf8');
  return { dir, set, bundle, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A source whose state the test sets. */
export class MemorySource<T> implements Source<T> {
  private readonly changeListeners = new Set<(state: T) => void>();
  private readonly rejectListeners = new Set<(reason: string) => void>();

  constructor(private state: T | undefined) {}

  current(): T | undefined {
    return this.state;
  }

  set(state: T): void {
    this.state = state;
    for (const l of this.changeListeners) l(state);
  }

  reject(reason: string): void {
    for (const l of this.rejectListeners) l(reason);
  }

  onChange(listener: (state: T) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  onRejected(listener: (reason: string) => void): () => void {
    this.rejectListeners.add(listener);
    return () => this.rejectListeners.delete(listener);
  }
}

export function keyState(set: SigningKeySet, loadedAt: Date): KeyState {
  return { set, loadedAt };
}

/** A logger (with the production options) whose lines are kept in memory as parsed JSON. */
export function captureLogger(): { logger: Logger; lines: Record<string, unknown>[]; text: () => string } {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      raw.push(chunk.toString('utf8'));
      callback();
    },
  });
  const logger = pino({ ...loggerOptions('info') }, stream);
  return {
    logger,
    get lines() {
      return raw
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    text: () => raw.join(''),
  };
}

export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/**
 * Signing keys for the tests of one file (made before them, valid from an hour before `now`, removed
 * after them): a call at the top of a test file registers the hooks.
 */
export function keysForFile(now: Date): { readonly set: SigningKeySet; readonly bundle: string } {
  let keys: Awaited<ReturnType<typeof makeKeys>> | undefined;
  beforeAll(async () => {
    keys = await makeKeys(new Date(now.getTime() - 3600_000));
  });
  afterAll(async () => {
    await keys?.cleanup();
  });
  const made = (): Awaited<ReturnType<typeof makeKeys>> => {
    if (keys === undefined) throw new Error('keysForFile: the keys are made in beforeAll');
    return keys;
  };
  return {
    get set() {
      return made().set;
    },
    get bundle() {
      return made().bundle;
    },
  };
}
