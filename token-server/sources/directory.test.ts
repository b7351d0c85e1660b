import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, afterAll, beforeEach, describe, expect, it } from 'vitest';
import { serializeCredentials, serializeSnapshot } from '../../policy/snapshot-format.js';
import type { SigningKeySet } from '../../wire/signing-key-set.js';
import { makeKeys, makePolicy, SERVICE, type FixtureUser } from '../../test/support/token-server-fixtures.js';
import { directorySources, type DirectorySources } from './directory.js';
import type { PolicyState } from './types.js';

let keys: { dir: string; set: SigningKeySet; cleanup: () => Promise<void> };
let root: string;
let sources: DirectorySources | undefined;

beforeAll(async () => {
  keys = await makeKeys(new Date());
});
afterAll(async () => {
  await keys.cleanup();
});
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'portcullis-dir-'));
});
afterEach(async () => {
  sources?.close();
  sources = undefined;
  await rm(root, { recursive: true, force: true });
});

let generation = 0;
/** Writes files the way kubelet updates a mounted volume: a new timestamped dir, then an atomic `..data` swap. */
async function kubeletWrite(dir: string, files: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const version = `..v${++generation}`;
  await mkdir(join(dir, version));
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, version, name), content);
  await symlink(version, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(files)) {
    await symlink(join('..data', name), join(dir, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}

async function policyFiles(users?: FixtureUser[]): Promise<Record<string, string>> {
  const { snapshot, credentials } = await makePolicy(users);
  return { 'snapshot.json': serializeSnapshot(snapshot), 'credentials.json': serializeCredentials(credentials) };
}

function open(options: { pollIntervalMs?: number } = {}): DirectorySources {
  sources = directorySources({ policyDir: join(root, 'policy'), keysDir: keys.dir, pollIntervalMs: options.pollIntervalMs ?? 60_000, debounceMs: 20 });
  return sources;
}

function nextChange(s: DirectorySources): Promise<PolicyState> {
  return new Promise((resolve) => {
    const off = s.policy.onChange((state) => {
      off();
      resolve(state);
    });
  });
}

function nextRejection(s: DirectorySources): Promise<string> {
  return new Promise((resolve) => {
    const off = s.policy.onRejected((reason) => {
      off();
      resolve(reason);
    });
  });
}

describe('the directory source', () => {
  it('loads a snapshot, its credentials and the keys', async () => {
    await kubeletWrite(join(root, 'policy'), await policyFiles());
    const s = open();
    await Promise.all([s.policy.start(), s.keys.start()]);
    const state = s.policy.current();
    expect(state?.registries.get(SERVICE)?.credentials.get('alice')?.hash).toMatch(/^\$2b\$/);
    expect(state?.registries.get(SERVICE)?.index.users.get('alice')?.groups).toEqual(['team-a']);
    expect(s.keys.current()?.set.keys[0]?.kid).toBe(keys.set.keys[0]?.kid);
  });

  it('picks up a ..data symlink swap without a restart (fs.watch)', async () => {
    await kubeletWrite(join(root, 'policy'), await policyFiles());
    const s = open();
    await s.policy.start();
    const before = s.policy.current()?.generation;
    const changed = nextChange(s);
    await kubeletWrite(join(root, 'policy'), await policyFiles([{ username: 'zed', password: 'z' }]));
    const state = await changed;
    expect(state.generation).not.toBe(before);
    expect(state.registries.get(SERVICE)?.index.users.has('zed')).toBe(true);
  });

  it('picks up a change by polling when no watch event arrives', async () => {
    await kubeletWrite(join(root, 'policy'), await policyFiles());
    const s = open({ pollIntervalMs: 50 });
    await s.policy.start();
    const changed = nextChange(s);
    // Write behind the watcher's back: replace the target file's content in place.
    const { snapshot, credentials } = await makePolicy([{ username: 'polled', password: 'p' }]);
    await writeFile(join(root, 'policy', `..v${generation}`, 'snapshot.json'), serializeSnapshot(snapshot));
    await writeFile(join(root, 'policy', `..v${generation}`, 'credentials.json'), serializeCredentials(credentials));
    const state = await changed;
    expect(state.registries.get(SERVICE)?.index.users.has('polled')).toBe(true);
  });

  it('keeps the last good snapshot when a malformed one arrives, and reports it', async () => {
    await kubeletWrite(join(root, 'policy'), await policyFiles());
    const s = open();
    await s.policy.start();
    const good = s.policy.current();
    const rejected = nextRejection(s);
    const files = await policyFiles();
    await kubeletWrite(join(root, 'policy'), { ...files, 'snapshot.json': (files['snapshot.json'] as string).replace('"registry/main"', '"registry/edited"') });
    expect(await rejected).toMatch(/generation/);
    expect(s.policy.current()).toBe(good);

    const again = nextRejection(s);
    await kubeletWrite(join(root, 'policy'), { ...files, 'snapshot.json': '{not json' });
    expect(await again).toMatch(/not valid JSON/);
    expect(s.policy.current()).toBe(good);
  });

  it('reports a missing snapshot and becomes ready once one appears', async () => {
    const s = open();
    const rejected = nextRejection(s);
    await s.policy.start();
    expect(await rejected).toMatch(/snapshot.json not found/);
    expect(s.policy.current()).toBeUndefined();
    const changed = nextChange(s);
    await kubeletWrite(join(root, 'policy'), await policyFiles());
    await s.policy.check();
    expect((await changed).registries.has(SERVICE)).toBe(true);
  });

  it('refuses a key set whose leaf does not hold the private key', async () => {
    const other = await makeKeys(new Date());
    try {
      const mixed = { ...keys.set, keys: [{ ...(keys.set.keys[0] as SigningKeySet['keys'][0]), privateKey: other.set.keys[0]?.privateKey as string }] };
      const dir = join(root, 'keys');
      await kubeletWrite(dir, { 'signing.json': JSON.stringify(mixed) });
      const s = directorySources({ policyDir: join(root, 'policy'), keysDir: dir, pollIntervalMs: 60_000 });
      sources = s;
      const reasons: string[] = [];
      s.keys.onRejected((r) => reasons.push(r));
      await s.keys.start();
      expect(s.keys.current()).toBeUndefined();
      expect(reasons[0]).toMatch(/does not hold the private key/);
      expect(reasons[0]).not.toContain('PRIVATE KEY');
    } finally {
      await other.cleanup();
    }
  });
});
