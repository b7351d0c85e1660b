import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { RegistryUserResource, SecretResource } from '../../crds/types.js';
import type { KubeClient } from '../../kube/request.js';
import { PasswordHashes, secretNamespaceNotServed } from './password-hashes.js';
import { KubeApiError } from '../../kube/request.js';

const user = (name: string): RegistryUserResource => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'RegistryUser',
  metadata: { name, namespace: 'team' },
  spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: 'shared', key: 'password' } },
});

function hashesReading(secret: SecretResource): { hashes: PasswordHashes; gets: string[] } {
  const gets: string[] = [];
  const client = {
    get: async (path: string) => {
      gets.push(path);
      return secret;
    },
  } as unknown as KubeClient;
  const hashes = new PasswordHashes({
    client,
    secretMetadata: (key) => (key === 'team/shared' ? { metadata: { name: 'shared', namespace: 'team', uid: 'uid-1', resourceVersion: '7' } } : undefined),
    log: pino({ level: 'silent' }),
    bcryptCost: 4,
  });
  return { hashes, gets };
}

describe('PasswordHashes', () => {
  it('reads a Secret many users name once per pass, not at all while its version is unchanged, and keeps no data between passes', async () => {
    const secret: SecretResource = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'shared', namespace: 'team', uid: 'uid-1', resourceVersion: '7' },
      data: { password: Buffer.from('correct horse battery').toString('base64') },
    };
    const { hashes, gets } = hashesReading(secret);
    const users = ['a', 'b', 'c'].map(user);

    const first = await hashes.resolve('team/main', users, new Map());
    expect(first.reads).toBe(1);
    expect([...first.credentials.values()].every((c) => 'hash' in c)).toBe(true);

    // Every hash recorded against the Secret's version: nothing to read.
    const second = await hashes.resolve('team/main', users, first.sources);
    expect(second.reads).toBe(0);

    // Without the record (a new Registry naming the same users), the Secret is read again: its data
    // did not outlive the pass that read it.
    const third = await hashes.resolve('team/other', users, new Map());
    expect(third.reads).toBe(1);
    expect(gets).toEqual(['/api/v1/namespaces/team/secrets/shared', '/api/v1/namespaces/team/secrets/shared']);
  });
});

describe('PasswordHashes, a pass over what the last one saw', () => {
  const secret: SecretResource = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'shared', namespace: 'team', uid: 'uid-1', resourceVersion: '7' },
    data: { password: Buffer.from('correct horse battery').toString('base64') },
  };

  function setup() {
    const state = { secretVersion: '7', watchVersion: '100', lookups: 0 };
    const client = { get: async () => ({ ...secret, metadata: { ...secret.metadata, resourceVersion: state.secretVersion } }) } as unknown as KubeClient;
    const hashes = new PasswordHashes({
      client,
      secretMetadata: (key) => {
        state.lookups++;
        return key === 'team/shared' ? { metadata: { name: 'shared', namespace: 'team', uid: 'uid-1', resourceVersion: state.secretVersion } } : undefined;
      },
      secretsVersion: () => state.watchVersion,
      log: pino({ level: 'silent' }),
      bcryptCost: 4,
    });
    return { hashes, state };
  }

  it('is the last result, without a look at any user, while no user object, Secret or recorded source changed', async () => {
    const { hashes, state } = setup();
    const users = ['a', 'b', 'c'].map(user);
    const first = await hashes.resolve('team/main', users, new Map());
    const looked = state.lookups;

    // The same objects in a new array (each reconcile filters the cache again).
    const again = await hashes.resolve('team/main', [...users], first.sources);
    expect(state.lookups).toBe(looked);
    expect(again.credentials).toBe(first.credentials);
    expect(again.reads).toBe(0);

    // A user object replaced (the informer's next version of it): every user is looked at again.
    await hashes.resolve('team/main', [users[0]!, user('b'), users[2]!], first.sources);
    expect(state.lookups).toBe(looked + 3);
  });

  it("is the last result after the operator's status writes replaced every user (same generation); not after a spec change", async () => {
    const { hashes, state } = setup();
    const versioned = (name: string, resourceVersion: string, generation: number, secretName = 'shared'): RegistryUserResource => ({
      ...user(name),
      metadata: { name, namespace: 'team', uid: `${name}-uid`, resourceVersion, generation },
      spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: secretName, key: 'password' } },
    });
    const first = await hashes.resolve('team/main', [versioned('a', '1', 1), versioned('b', '2', 1)], new Map());
    const looked = state.lookups;

    const written = await hashes.resolve('team/main', [versioned('a', '3', 1), versioned('b', '4', 1)], first.sources);
    expect(state.lookups).toBe(looked);
    expect(written.credentials).toBe(first.credentials);

    // b now names a Secret that does not exist: its spec changed (generation 2), so it must not keep a's hash.
    const moved = await hashes.resolve('team/main', [versioned('a', '3', 1), versioned('b', '5', 2, 'gone')], first.sources);
    expect(state.lookups).toBe(looked + 2);
    expect(moved.credentials.get('team/b')).toMatchObject({ reason: 'SecretNotFound' });
  });

  it('passes again once the Secret watch moved: a changed password Secret is read and hashed again', async () => {
    const { hashes, state } = setup();
    const users = ['a', 'b'].map(user);
    const first = await hashes.resolve('team/main', users, new Map());
    state.secretVersion = '8';
    state.watchVersion = '101';
    const second = await hashes.resolve('team/main', users, first.sources);
    expect(second.reads).toBe(1);
    expect(second.sources.get('team/a')?.sourceVersion).toContain(':8:');
    expect(second.sources.get('team/a')?.sourceVersion).not.toBe(first.sources.get('team/a')?.sourceVersion);
  });

  it('passes again from other recorded sources (a restart reading them from the hash-sources Secret)', async () => {
    const { hashes, state } = setup();
    const users = ['a'].map(user);
    const first = await hashes.resolve('team/main', users, new Map());
    const looked = state.lookups;
    await hashes.resolve('team/main', users, new Map(first.sources));
    expect(state.lookups).toBe(looked + 1);
  });
});

describe('PasswordHashes, a namespace whose every Secret is to be read', () => {
  const N = 150;
  const secretOf = (i: number): SecretResource => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `pw-${i}`, namespace: 'team', uid: `uid-${i}`, resourceVersion: `${100 + i}` },
    data: { password: Buffer.from(`password number ${i}`).toString('base64') },
  });
  const users = Array.from({ length: N }, (_, i) => ({ ...user(`u-${i}`), spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: `pw-${i}` } } }));

  function setup(extraWatched: string[], listFails = false) {
    const calls: { path: string; query?: Record<string, unknown> }[] = [];
    const secrets = new Map(Array.from({ length: N }, (_, i) => [`pw-${i}`, secretOf(i)]));
    for (const name of extraWatched) secrets.set(name, { ...secretOf(0), metadata: { ...secretOf(0).metadata, name, uid: `uid-${name}` } });
    const client = {
      get: async (path: string, query?: Record<string, unknown>) => {
        calls.push({ path, ...(query ? { query } : {}) });
        if (path === '/api/v1/namespaces/team/secrets') {
          if (listFails) throw new KubeApiError(410, 'Expired', 'too old resource version');
          const all = [...secrets.values()];
          const start = query?.continue === undefined ? 0 : Number(query.continue);
          const page = all.slice(start, start + 100);
          return { items: page, metadata: start + 100 < all.length ? { continue: String(start + 100) } : {} };
        }
        return secrets.get(path.split('/').pop()!);
      },
    } as unknown as KubeClient;
    const hashes = new PasswordHashes({
      client,
      secretMetadata: (key) => {
        const s = secrets.get(key.split('/')[1]!);
        return s === undefined ? undefined : { metadata: { ...s.metadata } };
      },
      secretsIn: (namespace) => ({ names: new Set(namespace === 'team' ? secrets.keys() : []), resourceVersion: '4242' }),
      log: pino({ level: 'silent' }),
      bcryptCost: 4,
    });
    return { hashes, calls };
  }

  it('reads them with one LIST at exactly the watched version, in pages, and no GET', async () => {
    const { hashes, calls } = setup([]);
    const result = await hashes.resolve('team/main', users, new Map());
    expect([...result.credentials.values()].filter((c) => 'hash' in c)).toHaveLength(N);
    expect(result.reads).toBe(1);
    expect(calls.map((c) => c.path)).toEqual(['/api/v1/namespaces/team/secrets', '/api/v1/namespaces/team/secrets']);
    expect(calls[0]!.query).toEqual({ resourceVersion: '4242', resourceVersionMatch: 'Exact', limit: 500 });
    expect(calls[1]!.query).toEqual({ continue: '100', limit: 500 });
  });

  it('reads one by one when the namespace holds a Secret no user names: its data is never asked for', async () => {
    const { hashes, calls } = setup(['someone-elses-secret']);
    const result = await hashes.resolve('team/main', users, new Map());
    expect([...result.credentials.values()].filter((c) => 'hash' in c)).toHaveLength(N);
    expect(calls).toHaveLength(N);
    expect(calls.some((c) => c.path.endsWith('/secrets') || c.path.endsWith('/someone-elses-secret'))).toBe(false);
  });

  it('falls back to one GET per Secret when the LIST is refused (the version left etcd)', async () => {
    const { hashes, calls } = setup([], true);
    const result = await hashes.resolve('team/main', users, new Map());
    expect([...result.credentials.values()].filter((c) => 'hash' in c)).toHaveLength(N);
    expect(calls.filter((c) => !c.path.endsWith('/secrets'))).toHaveLength(N);
  });
});

describe('PasswordHashes with --secret-namespaces', () => {
  it('refuses a user outside them, SecretNamespaceNotServed, naming the value to set, without a read', async () => {
    const gets: string[] = [];
    const client = {
      get: async (path: string) => {
        gets.push(path);
        throw new Error('no read was expected');
      },
    } as unknown as KubeClient;
    const hashes = new PasswordHashes({
      client,
      // The Secret exists: the refusal is about where the operator may read, not about the Secret.
      secretMetadata: () => ({ metadata: { name: 'shared', namespace: 'team', uid: 'uid-1', resourceVersion: '7' } }),
      log: pino({ level: 'silent' }),
      bcryptCost: 4,
      secretNamespaces: ['registry', 'team-a'],
    });
    const resolved = await hashes.resolve('registry/main', [user('a')], new Map());
    expect(resolved.credentials.get('team/a')).toEqual(secretNamespaceNotServed('team'));
    // Other tenants' namespace names stay out of a status the tenant reads.
    expect(JSON.stringify(resolved.credentials.get('team/a'))).not.toContain('team-a');
    expect(resolved.credentials.get('team/a')).toMatchObject({
      reason: 'SecretNamespaceNotServed',
      message: expect.stringMatching(/--secret-namespaces.*add team to operator\.secretNamespaces/) as unknown,
    });
    expect(resolved.reads).toBe(0);
    expect(gets).toEqual([]);
  });
});
