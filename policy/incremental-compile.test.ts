// The incremental compiler against compileSnapshot: after every step of random sequences of adds,
// changes and deletes (users, grants, credentials, namespace labels, the Registry's delegation), both
// give the same snapshots, generations, credentials and statuses. And the attacks: a remembered result
// must never let a delegated namespace's grant or user reach past its prefixes once they narrow.
import { describe, expect, it, vi } from 'vitest';
import type { NamespaceInfo, RegistryResource, RegistrySpec, RegistryUserResource, RepositoryGrantResource } from '../crds/types.js';
import { authorize, buildPolicyIndex } from './authorize.js';
import { Memo } from './compile-memo.js';
import { IncrementalCompiler } from './incremental-compile.js';
import { Reasons } from './reasons.js';
import { compileSnapshot, usersNeedingCredentials, type CompileInput, type ResolvedCredential } from './snapshot.js';
import { random } from '../local/seeded-random.js';

const HASH = '$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234';

const delegationA: RegistrySpec['delegation'] = [
  { namespaces: { from: 'Selector', selector: { matchLabels: { team: 'a' } } }, repositories: ['${namespace}/**'], identities: { groups: ['shared-*'] } },
];
const delegationNarrow: RegistrySpec['delegation'] = [
  { namespaces: { from: 'Selector', selector: { matchLabels: { team: 'a' } } }, repositories: ['${namespace}/only/**'] },
];

let version = 0;
const nextVersion = (): string => String(++version);

function registry(delegation: RegistrySpec['delegation']): RegistryResource {
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'Registry',
    metadata: { name: 'main', namespace: 'registry', uid: 'reg-uid', resourceVersion: nextVersion(), generation: 1 },
    spec: { service: 'main.example.com', ...(delegation === undefined ? {} : { delegation }) },
  };
}

class World {
  registries = [registry(delegationA)];
  users = new Map<string, RegistryUserResource>();
  grants = new Map<string, RepositoryGrantResource>();
  credentials = new Map<string, ResolvedCredential>();
  namespaces: NamespaceInfo[] = [
    { name: 'registry', labels: {} },
    { name: 'team-a', labels: { team: 'a' } },
    { name: 'team-b', labels: { team: 'b' } },
  ];

  input(): CompileInput {
    return {
      registries: this.registries,
      users: [...this.users.values()],
      grants: [...this.grants.values()],
      namespaces: this.namespaces,
      credentials: this.handedCredentials(),
    };
  }

  /** The map handed over last time while the credentials are the same; a copy once they changed (CompileInput). */
  private handed: Map<string, ResolvedCredential> | undefined;
  private handedCredentials(): Map<string, ResolvedCredential> {
    const same = this.handed?.size === this.credentials.size && [...this.credentials].every(([k, v]) => this.handed?.get(k) === v);
    if (!same) this.handed = new Map(this.credentials);
    return this.handed as Map<string, ResolvedCredential>;
  }
}

const NAMESPACES = ['registry', 'team-a', 'team-b'];
const REPOS = ['app/**', 'team-a/**', 'team-a/only/x', 'team-b/**', '**', 'team-a/${user}/*', '${user}/*', 'lib/base', 'team-a/only/**'];

function pick<T>(rnd: () => number, list: readonly T[]): T {
  return list[Math.floor(rnd() * list.length)] as T;
}

function randomUser(rnd: () => number, ns: string, name: string): RegistryUserResource {
  const username = rnd() < 0.3 ? pick(rnd, ['sam', 'shared', 'robot']) : name;
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RegistryUser',
    metadata: {
      name,
      namespace: ns,
      uid: `${ns}-${name}-uid`,
      resourceVersion: nextVersion(),
      generation: version,
      creationTimestamp: `2026-01-0${1 + Math.floor(rnd() * 9)}T00:00:00Z`,
    },
    spec: {
      registryRef: { name: 'main', namespace: 'registry' },
      passwordSecretRef: { name: `${name}-pw` },
      username,
      groups: rnd() < 0.5 ? ['devs'] : ['shared-ops', 'devs'],
      ...(rnd() < 0.15 ? { disabled: true } : {}),
    },
  };
}

function randomGrant(rnd: () => number, ns: string, name: string): RepositoryGrantResource {
  const subjects = rnd() < 0.5 ? [{ kind: 'Group' as const, name: 'devs' }] : [{ kind: 'User' as const, name: pick(rnd, ['u0', 'u1', 'sam', 'shared']) }];
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RepositoryGrant',
    metadata: { name, namespace: ns, uid: `${ns}-${name}-uid`, resourceVersion: nextVersion(), generation: version },
    spec: {
      registryRef: { name: 'main', namespace: 'registry' },
      subjects: rnd() < 0.1 ? [...subjects, { kind: 'Authenticated' as const }] : subjects,
      repositories: [pick(rnd, REPOS), ...(rnd() < 0.3 ? [pick(rnd, REPOS)] : [])],
      actions: rnd() < 0.5 ? ['pull'] : ['pull', 'push'],
      ...(rnd() < 0.1 ? { catalog: true } : {}),
    },
  };
}

/** One random edit of the world. */
function step(world: World, rnd: () => number): void {
  const r = rnd();
  const ns = pick(rnd, NAMESPACES);
  const name = `${rnd() < 0.5 ? 'u' : 'x'}${Math.floor(rnd() * 6)}`;
  const key = `${ns}/${name}`;
  if (r < 0.3) {
    world.users.set(key, randomUser(rnd, ns, name));
    if (rnd() < 0.8) world.credentials.set(key, { hash: `${HASH}${Math.floor(rnd() * 3)}` });
  } else if (r < 0.4) world.users.delete(key);
  else if (r < 0.7) world.grants.set(key, randomGrant(rnd, ns, name));
  else if (r < 0.8) world.grants.delete(key);
  else if (r < 0.87) {
    if (rnd() < 0.5) world.credentials.delete(key);
    else world.credentials.set(key, rnd() < 0.8 ? { hash: `${HASH}${Math.floor(rnd() * 3)}` } : { reason: 'SecretNotFound', message: 'gone' });
  } else if (r < 0.93) {
    world.registries = [registry(pick(rnd, [delegationA, delegationNarrow, undefined]))];
  } else {
    world.namespaces = world.namespaces.map((n) => (n.name === 'team-b' ? { name: 'team-b', labels: rnd() < 0.5 ? { team: 'a' } : { team: 'b' } } : n));
  }
}

describe('IncrementalCompiler', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('gives compileSnapshot’s output after every step of random edits (seed %i)', (seed) => {
    const rnd = random(seed);
    const world = new World();
    const compiler = new IncrementalCompiler();
    for (let i = 0; i < 120; i++) {
      step(world, rnd);
      const input = world.input();
      const { credentials: _unused, ...objects } = input;
      expect(compiler.usersNeedingCredentials(objects)).toEqual(usersNeedingCredentials(objects));
      expect(compiler.compile(input)).toEqual(compileSnapshot(input));
    }
  });

  it('gives the same generation when objects carry no resourceVersion (nothing remembered)', () => {
    const world = new World();
    const rnd = random(99);
    for (let i = 0; i < 30; i++) step(world, rnd);
    const bare = world.input();
    for (const o of [...bare.users, ...bare.grants]) delete o.metadata.resourceVersion;
    expect(new IncrementalCompiler().compile(bare)).toEqual(compileSnapshot(bare));
  });
});

describe('IncrementalCompiler attacks: a delegated namespace stays inside its prefixes', () => {
  const grant = (repositories: string[]): RepositoryGrantResource => ({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RepositoryGrant',
    metadata: { name: 'g', namespace: 'team-a', uid: 'g-uid', resourceVersion: '7', generation: 1 },
    spec: { registryRef: { name: 'main', namespace: 'registry' }, subjects: [{ kind: 'Group', name: 'devs' }], repositories, actions: ['pull', 'push'] },
  });
  const alice: RegistryUserResource = {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RegistryUser',
    metadata: { name: 'alice', namespace: 'team-a', uid: 'alice-uid', resourceVersion: '8', generation: 1 },
    spec: { registryRef: { name: 'main', namespace: 'registry' }, passwordSecretRef: { name: 'alice-pw' }, groups: ['devs'] },
  };
  const world = (g: RepositoryGrantResource, delegation: RegistrySpec['delegation'], teamA = 'a'): CompileInput => ({
    registries: [registry(delegation)],
    users: [alice],
    grants: [g],
    namespaces: [
      { name: 'registry', labels: {} },
      { name: 'team-a', labels: { team: teamA } },
    ],
    credentials: new Map([['team-a/alice', { hash: HASH }]]),
  });
  const pushTo = (input: CompileInput, compiler: IncrementalCompiler, repo: string): string[] => {
    const policy = compiler.compile(input).registries[0]!.snapshot.registries[0]!;
    return authorize(buildPolicyIndex(policy), { kind: 'user', username: 'alice', groups: ['devs'] }, [
      { type: 'repository', name: repo, actions: ['push'] },
    ])[0]!.granted;
  };

  it('a grant changed to reach another team is refused, and alice cannot push there', () => {
    const compiler = new IncrementalCompiler();
    expect(pushTo(world(grant(['team-a/**']), delegationA), compiler, 'team-a/app')).toEqual(['push']);
    // A spec change: the API server gives it a new resourceVersion and generation.
    const escaped = { ...grant(['team-a/**', 'team-b/**']), metadata: { ...grant([]).metadata, resourceVersion: '9', generation: 2 } };
    const result = compiler.compile(world(escaped, delegationA));
    expect(result.statuses.find((s) => s.name === 'g')?.conditions[0]).toMatchObject({ status: 'False', reason: Reasons.OutsideDelegatedPrefix });
    expect(pushTo(world(escaped, delegationA), compiler, 'team-b/app')).toEqual([]);
  });

  it('an unchanged grant is refused once the Registry narrows the delegation, though the grant itself did not change', () => {
    const compiler = new IncrementalCompiler();
    const g = grant(['team-a/**']);
    expect(pushTo(world(g, delegationA), compiler, 'team-a/app')).toEqual(['push']);
    const narrowed = world(g, delegationNarrow);
    const result = compiler.compile(narrowed);
    expect(result.statuses.find((s) => s.name === 'g')?.conditions[0]).toMatchObject({ status: 'False', reason: Reasons.OutsideDelegatedPrefix });
    expect(result.registries[0]!.snapshot.registries[0]!.grants).toEqual([]);
    expect(pushTo(narrowed, compiler, 'team-a/app')).toEqual([]);
    expect(result).toEqual(compileSnapshot(narrowed));
  });

  it('an unchanged grant and user are dropped once their namespace loses the label the delegation selects', () => {
    const compiler = new IncrementalCompiler();
    const g = grant(['team-a/**']);
    expect(pushTo(world(g, delegationA), compiler, 'team-a/app')).toEqual(['push']);
    const relabelled = world(g, delegationA, 'b');
    const result = compiler.compile(relabelled);
    expect(result.statuses.find((s) => s.name === 'g')?.conditions[0]).toMatchObject({ status: 'False', reason: Reasons.NamespaceNotAllowed });
    expect(result.statuses.find((s) => s.name === 'alice')?.conditions[0]).toMatchObject({ status: 'False', reason: Reasons.NamespaceNotAllowed });
    expect(result.registries[0]!.snapshot.registries[0]!).toMatchObject({ users: [], grants: [] });
  });
});

describe('IncrementalCompiler: a change that touches no user skips the users, and a change that does is seen', () => {
  const user = (name: string, rv: string, disabled = false): RegistryUserResource => ({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RegistryUser',
    metadata: { name, namespace: 'registry', uid: `${name}-uid`, resourceVersion: rv, generation: Number(rv) },
    spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: `${name}-pw` }, ...(disabled ? { disabled } : {}) },
  });
  const grantOf = (rv: string, actions: ('pull' | 'push')[]): RepositoryGrantResource => ({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RepositoryGrant',
    metadata: { name: 'g', namespace: 'registry', uid: 'g-uid', resourceVersion: rv, generation: Number(rv) },
    spec: { registryRef: { name: 'main' }, subjects: [{ kind: 'User', name: 'alice' }], repositories: ['app/**'], actions },
  });
  const setup = () => {
    const credentials = new Map<string, ResolvedCredential>([
      ['registry/alice', { hash: `${HASH}a` }],
      ['registry/bob', { hash: `${HASH}b` }],
    ]);
    const input: CompileInput = {
      registries: [registry(undefined)],
      users: [user('alice', '1'), user('bob', '2')],
      grants: [grantOf('3', ['pull'])],
      namespaces: [{ name: 'registry', labels: {} }],
      credentials,
    };
    const compiler = new IncrementalCompiler();
    compiler.usersNeedingCredentials(input);
    return { input, credentials, compiler, first: compiler.compile(input) };
  };
  const hashesOf = (result: ReturnType<IncrementalCompiler['compile']>) => result.registries[0]!.credentials.registries;

  it('a grant change keeps the users part: the same entry list, the same statuses', () => {
    const { input, compiler, first } = setup();
    const needed = compiler.usersNeedingCredentials(input);
    input.grants = [grantOf('4', ['pull', 'push'])];
    expect(compiler.usersNeedingCredentials(input)).toBe(needed);
    const next = compiler.compile(input);
    expect(next).toEqual(compileSnapshot(input));
    expect(next.registries[0]!.snapshot.registries[0]!.users).toBe(first.registries[0]!.snapshot.registries[0]!.users);
  });

  it("the operator's status writes (every user a new object, same generation) cost no user's memo lookup", () => {
    const { input, compiler, first } = setup();
    const needed = compiler.usersNeedingCredentials(input);
    input.users = [user('alice', '1'), user('bob', '2')].map((u, i) => ({ ...u, metadata: { ...u.metadata, resourceVersion: String(10 + i) } }));
    input.grants = [grantOf('4', ['pull', 'push'])];
    // Every remembered result is found through Memo's lookup (get and getList alike).
    const lookups = vi.spyOn(Memo.prototype as unknown as { lookup: (o: unknown) => unknown }, 'lookup');
    try {
      expect(compiler.usersNeedingCredentials(input)).toBe(needed);
      const next = compiler.compile(input);
      expect(next).toEqual(compileSnapshot(input));
      expect(next.registries[0]!.snapshot.registries[0]!.users).toBe(first.registries[0]!.snapshot.registries[0]!.users);
      const looked = lookups.mock.calls.map(([object]) => (object as { kind?: string }).kind);
      expect(looked).toEqual(['RepositoryGrant']);
    } finally {
      lookups.mockRestore();
    }
  });

  it('a user replaced inside the same list is seen: bob disabled leaves the credentials and the users to read', () => {
    const { input, compiler } = setup();
    input.users[1] = user('bob', '5', true);
    expect([...compiler.usersNeedingCredentials(input)]).toEqual(['registry/alice']);
    const next = compiler.compile(input);
    expect(next).toEqual(compileSnapshot(input));
    expect(Object.keys(hashesOf(next)[next.registries[0]!.id]!)).toEqual(['alice']);
  });

  it('a password changed in a new credentials map is seen: the old hash is gone', () => {
    const { input, credentials, compiler } = setup();
    input.credentials = new Map(credentials).set('registry/alice', { hash: `${HASH}c` });
    const next = compiler.compile(input);
    expect(next).toEqual(compileSnapshot(input));
    expect(hashesOf(next)[next.registries[0]!.id]!.alice).toBe(`${HASH}c`);
    input.credentials = new Map(credentials).set('registry/alice', { reason: Reasons.SecretNotFound, message: 'gone' });
    const gone = compiler.compile(input);
    expect(gone).toEqual(compileSnapshot(input));
    expect(hashesOf(gone)[gone.registries[0]!.id]!.alice).toBeUndefined();
    // An equal map, not the same one: the users part is kept all the same (the credential keys match).
    input.credentials = new Map(input.credentials);
    expect(compiler.compile(input).registries[0]!.snapshot.registries[0]!.users).toBe(gone.registries[0]!.snapshot.registries[0]!.users);
  });
});

describe('unservedRegistries: a Registry in a namespace the operator does not serve', () => {
  const aged = (namespace: string, name: string, created: string): RegistryResource => ({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'Registry',
    metadata: { name, namespace, uid: `${name}-uid`, resourceVersion: nextVersion(), generation: 1, creationTimestamp: created },
    spec: { service: 'main.example.com' },
  });
  const world = new World();
  world.registries = [aged('registry', 'main', '2024-01-01T00:00:00Z'), aged('team-a', 'younger', '2024-02-01T00:00:00Z')];
  world.users.set('registry/alice', {
    ...randomUser(random(1), 'registry', 'alice'),
    spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: 'p' } },
  });
  world.credentials.set('registry/alice', { hash: HASH });
  const unserved = new Map([['registry/main', { reason: Reasons.RegistryNamespaceNotServed, message: 'not served here' }]]);
  const input = { ...world.input(), unservedRegistries: unserved };

  it('is refused with the reason given, compiles to nothing, and its users need no password', () => {
    const { credentials: _unused, ...objects } = input;
    const compiler = new IncrementalCompiler();
    expect(compiler.usersNeedingCredentials(objects)).toEqual(new Set());
    expect(usersNeedingCredentials(objects)).toEqual(new Set());
    const result = compiler.compile(input);
    expect(result).toEqual(compileSnapshot(input));
    expect(result.registries.map((r) => r.id)).toEqual([]);
    const ready = (kind: string, name: string) => result.statuses.find((s) => s.kind === kind && s.name === name)?.conditions.find((c) => c.type === 'Ready');
    expect(ready('Registry', 'main')).toMatchObject({ status: 'False', reason: Reasons.RegistryNamespaceNotServed, message: 'not served here' });
    expect(ready('RegistryUser', 'alice')).toMatchObject({ status: 'False', reason: Reasons.RegistryNotReady });
    // It keeps the service it claimed first: a younger Registry elsewhere cannot take it over meanwhile.
    expect(ready('Registry', 'younger')).toMatchObject({ status: 'False', reason: Reasons.ServiceConflict });
  });

  it('is served as before once its namespace is', () => {
    const result = new IncrementalCompiler().compile(world.input());
    expect(result.registries.map((r) => r.id)).toEqual(['registry/main']);
  });
});
