import { describe, expect, it } from 'vitest';
import { leakedParts, thrownBy } from '../test/support/assert.js';
import type {
  NamespaceInfo,
  RegistryResource,
  RegistrySpec,
  RegistryUserResource,
  RegistryUserSpec,
  RepositoryGrantResource,
  RepositoryGrantSpec,
} from '../crds/types.js';
import { canonicalJson, sha256Hex } from './canonical.js';
import { Reasons } from './reasons.js';
import { compileSnapshot, type CompileInput, type CompileResult, type ResolvedCredential } from './snapshot.js';
import { IncrementalCompiler } from './incremental-compile.js';
import { credentialRevision } from './revision.js';
import { CREDENTIALS_FORMAT } from './types.js';
import { mergeSnapshots, parseCredentials, parseSnapshot, serializeSnapshot, snapshotOf } from './snapshot-format.js';

const HASH = '$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234';

function registry(ns: string, name: string, spec: Partial<RegistrySpec> = {}, generation = 1): RegistryResource {
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'Registry',
    metadata: { name, namespace: ns, generation },
    spec: { service: `${name}.${ns}.example.com`, ...spec },
  };
}
function regUser(
  ns: string,
  name: string,
  spec: Partial<RegistryUserSpec> = {},
  extra: { creationTimestamp?: string; generation?: number } = {},
): RegistryUserResource {
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RegistryUser',
    metadata: { name, namespace: ns, ...extra },
    spec: { registryRef: { name: 'main', namespace: 'registry' }, passwordSecretRef: { name: `${name}-password` }, ...spec },
  };
}
function regGrant(ns: string, name: string, spec: Partial<RepositoryGrantSpec> = {}, generation?: number): RepositoryGrantResource {
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RepositoryGrant',
    metadata: generation === undefined ? { name, namespace: ns } : { name, namespace: ns, generation },
    spec: {
      registryRef: { name: 'main', namespace: 'registry' },
      subjects: [{ kind: 'Group', name: 'devs' }],
      repositories: ['app/**'],
      actions: ['pull'],
      ...spec,
    },
  };
}
const namespaces: NamespaceInfo[] = [
  { name: 'registry', labels: {} },
  { name: 'team-a', labels: { team: 'a', tier: 'gold' } },
  { name: 'team-b', labels: { team: 'b' } },
];
function input(parts: Partial<CompileInput>): CompileInput {
  const users = parts.users ?? [];
  const credentials = new Map<string, ResolvedCredential>(
    users.map((u) => [`${u.metadata.namespace}/${u.metadata.name}`, { hash: `${HASH}-${u.metadata.name}` }]),
  );
  for (const [k, v] of parts.credentials ?? []) credentials.set(k, v);
  return {
    registries: parts.registries ?? [registry('registry', 'main')],
    users,
    grants: parts.grants ?? [],
    namespaces: parts.namespaces ?? namespaces,
    credentials,
  };
}
function statusOf(r: CompileResult, kind: string, ns: string, name: string) {
  const s = r.statuses.find((x) => x.kind === kind && x.namespace === ns && x.name === name);
  if (s === undefined) throw new Error(`no status for ${kind} ${ns}/${name}`);
  return s.conditions[0];
}
const policyOf = (r: CompileResult, id = 'registry/main') => r.registries.find((x) => x.id === id)?.snapshot.registries[0];

describe('compileSnapshot: registries', () => {
  it('applies defaults: issuer portcullis, tokenTTL 5m, ES256', () => {
    const r = compileSnapshot(input({}));
    expect(policyOf(r)).toEqual({
      id: 'registry/main',
      service: 'main.registry.example.com',
      issuer: 'portcullis',
      tokenTTLSeconds: 300,
      signingAlgorithm: 'ES256',
      users: [],
      grants: [],
    });
    expect(statusOf(r, 'Registry', 'registry', 'main')).toMatchObject({ type: 'Ready', status: 'True', observedGeneration: 1 });
  });
  it('keeps explicit settings', () => {
    const r = compileSnapshot(
      input({ registries: [registry('registry', 'main', { issuer: 'me', realm: 'https://r/token', tokenTTL: '1h', signing: { algorithm: 'RS256' } })] }),
    );
    expect(policyOf(r)).toMatchObject({ issuer: 'me', realm: 'https://r/token', tokenTTLSeconds: 3600, signingAlgorithm: 'RS256' });
  });
  const invalid: [string, Partial<RegistrySpec>][] = [
    ['a tokenTTL under 60s is refused', { tokenTTL: '59s' }],
    ['a tokenTTL over 24h is refused', { tokenTTL: '25h' }],
    ['an unparsable tokenTTL is refused', { tokenTTL: 'soon' }],
    ['an unknown algorithm is refused', { signing: { algorithm: 'HS256' as 'ES256' } }],
    ['a bad rotateEvery is refused', { signing: { rotateEvery: 'daily' } }],
    ['an empty service is refused', { service: '' }],
    ['a Selector delegation without selector is refused', { delegation: [{ namespaces: { from: 'Selector' }, repositories: ['x/**'] }] }],
    ['a delegation prefix that is not a pattern is refused', { delegation: [{ namespaces: { from: 'All' }, repositories: ['X//'] }] }],
  ];
  it.each(invalid)('%s (Ready=False InvalidSpec, not compiled)', (_sentence, spec) => {
    const r = compileSnapshot(input({ registries: [registry('registry', 'main', spec)] }));
    expect(statusOf(r, 'Registry', 'registry', 'main')).toMatchObject({ status: 'False', reason: Reasons.InvalidSpec });
    expect(r.registries).toEqual([]);
  });
  it('the later of two registries with the same service gets ServiceConflict', () => {
    const r = compileSnapshot(input({ registries: [registry('zz', 'second', { service: 'same' }), registry('aa', 'first', { service: 'same' })] }));
    expect(r.registries.map((x) => x.id)).toEqual(['aa/first']);
    expect(statusOf(r, 'Registry', 'zz', 'second')).toMatchObject({ status: 'False', reason: Reasons.ServiceConflict });
    expect(statusOf(r, 'Registry', 'zz', 'second')?.message).toContain('aa/first');
  });
  it('reports counts of compiled users and grants', () => {
    const r = compileSnapshot(input({ users: [regUser('registry', 'alice'), regUser('registry', 'bob')], grants: [regGrant('registry', 'g')] }));
    expect(r.statuses.find((s) => s.kind === 'Registry')?.counts).toEqual({ users: 2, grants: 1 });
  });
});

describe('compileSnapshot: users', () => {
  it('username defaults to metadata.name; groups are sorted and de-duplicated', () => {
    const r = compileSnapshot(input({ users: [regUser('registry', 'alice', { groups: ['b', 'a', 'b'] })] }));
    expect(policyOf(r)?.users).toEqual([
      { username: 'alice', groups: ['a', 'b'], disabled: false, credentialRevision: credentialRevision(`${HASH}-alice`), source: 'registry/alice' },
    ]);
    expect(r.registries[0]?.credentials.registries['registry/main']).toEqual({ alice: `${HASH}-alice` });
    expect(statusOf(r, 'RegistryUser', 'registry', 'alice')).toMatchObject({ status: 'True' });
  });
  it('the username __proto__ keeps its hash: an own key, in both compilers and after a JSON round trip', () => {
    const users = [regUser('registry', 'alice', { username: '__proto__' }), regUser('registry', 'bob')];
    for (const compile of [compileSnapshot, (i: CompileInput) => new IncrementalCompiler().compile(i)]) {
      const hashes = compile(input({ users })).registries[0]!.credentials.registries['registry/main']!;
      expect(Object.hasOwn(hashes, '__proto__')).toBe(true);
      expect(Object.entries(hashes)).toEqual([
        ['__proto__', `${HASH}-alice`],
        ['bob', `${HASH}-bob`],
      ]);
      const shipped = parseCredentials(JSON.stringify({ format: CREDENTIALS_FORMAT, registries: { r: hashes } })).registries.r!;
      expect(Object.hasOwn(shipped, '__proto__') && shipped['__proto__']).toBe(`${HASH}-alice`);
    }
  });
  it("registryRef.namespace defaults to the object's own namespace", () => {
    const r = compileSnapshot(
      input({ users: [regUser('registry', 'alice', { registryRef: { name: 'main' } }), regUser('team-a', 'bob', { registryRef: { name: 'main' } })] }),
    );
    expect(statusOf(r, 'RegistryUser', 'registry', 'alice')).toMatchObject({ status: 'True' });
    expect(statusOf(r, 'RegistryUser', 'team-a', 'bob')).toMatchObject({ status: 'False', reason: Reasons.RegistryNotFound });
  });
  it('a user pointing at a missing Registry is RegistryNotFound', () => {
    const r = compileSnapshot(input({ users: [regUser('registry', 'alice', { registryRef: { name: 'nope' } })] }));
    expect(statusOf(r, 'RegistryUser', 'registry', 'alice')).toMatchObject({ status: 'False', reason: Reasons.RegistryNotFound });
  });
  it('a user pointing at a Registry that is not ready is RegistryNotReady', () => {
    const r = compileSnapshot(input({ registries: [registry('registry', 'main', { tokenTTL: '1s' })], users: [regUser('registry', 'alice')] }));
    expect(statusOf(r, 'RegistryUser', 'registry', 'alice')).toMatchObject({ status: 'False', reason: Reasons.RegistryNotReady });
  });
  it('a user whose credential is unresolved carries its reason and is left out', () => {
    const r = compileSnapshot(
      input({
        users: [regUser('registry', 'alice'), regUser('registry', 'bob')],
        credentials: new Map([['registry/alice', { reason: Reasons.SecretKeyNotFound, message: 'key password missing' }]]),
      }),
    );
    expect(statusOf(r, 'RegistryUser', 'registry', 'alice')).toMatchObject({
      status: 'False',
      reason: Reasons.SecretKeyNotFound,
      message: 'key password missing',
    });
    expect(policyOf(r)?.users.map((u) => u.username)).toEqual(['bob']);
    expect(r.registries[0]?.credentials.registries['registry/main']).toEqual({ bob: `${HASH}-bob` });
  });
  it('a user with no credential entry at all is SecretNotFound', () => {
    const base = input({ users: [regUser('registry', 'alice')] });
    const r = compileSnapshot({ ...base, credentials: new Map() });
    expect(statusOf(r, 'RegistryUser', 'registry', 'alice')).toMatchObject({ status: 'False', reason: Reasons.SecretNotFound });
  });
  it('a disabled user is listed as disabled, with no credential', () => {
    const base = input({ users: [regUser('registry', 'carol', { disabled: true })] });
    const r = compileSnapshot({ ...base, credentials: new Map() });
    expect(policyOf(r)?.users).toEqual([{ username: 'carol', groups: [], disabled: true, credentialRevision: '', source: 'registry/carol' }]);
    expect(statusOf(r, 'RegistryUser', 'registry', 'carol')).toMatchObject({ status: 'True', reason: Reasons.UserDisabled });
  });
  it('of two users with the same username the older wins; the other is UsernameConflict', () => {
    const r = compileSnapshot(
      input({
        users: [
          regUser('registry', 'a-new', { username: 'sam' }, { creationTimestamp: '2024-02-01T00:00:00Z' }),
          regUser('registry', 'z-old', { username: 'sam' }, { creationTimestamp: '2024-01-01T00:00:00Z' }),
        ],
      }),
    );
    expect(policyOf(r)?.users.map((u) => u.source)).toEqual(['registry/z-old']);
    expect(statusOf(r, 'RegistryUser', 'registry', 'a-new')).toMatchObject({ status: 'False', reason: Reasons.UsernameConflict });
  });
  it('with equal creation times, namespace/name decides the username', () => {
    const r = compileSnapshot(input({ users: [regUser('registry', 'b', { username: 'sam' }), regUser('registry', 'a', { username: 'sam' })] }));
    expect(policyOf(r)?.users.map((u) => u.source)).toEqual(['registry/a']);
    expect(statusOf(r, 'RegistryUser', 'registry', 'b')).toMatchObject({ reason: Reasons.UsernameConflict });
  });
  it('a winner with a broken Secret keeps its username (no takeover)', () => {
    const r = compileSnapshot(
      input({
        users: [regUser('registry', 'a', { username: 'sam' }), regUser('registry', 'b', { username: 'sam' })],
        credentials: new Map([['registry/a', { reason: Reasons.SecretNotFound, message: 'gone' }]]),
      }),
    );
    expect(policyOf(r)?.users).toEqual([]);
    expect(statusOf(r, 'RegistryUser', 'registry', 'b')).toMatchObject({ reason: Reasons.UsernameConflict });
  });
  it('a username with a colon is InvalidSpec', () => {
    const r = compileSnapshot(input({ users: [regUser('registry', 'x', { username: 'a:b' })] }));
    expect(statusOf(r, 'RegistryUser', 'registry', 'x')).toMatchObject({ status: 'False', reason: Reasons.InvalidSpec });
  });
  it('conditions carry observedGeneration', () => {
    const r = compileSnapshot(input({ users: [regUser('registry', 'alice', {}, { generation: 7 })] }));
    expect(statusOf(r, 'RegistryUser', 'registry', 'alice')?.observedGeneration).toBe(7);
    expect(r.statuses.find((s) => s.name === 'alice')?.observedGeneration).toBe(7);
  });
  it('messages never contain the hash', () => {
    const r = compileSnapshot(input({ users: [regUser('registry', 'alice'), regUser('registry', 'b', { username: 'alice' })] }));
    expect(JSON.stringify(r.statuses)).not.toContain(HASH);
    expect(serializeSnapshot(r.registries[0]!.snapshot)).not.toContain(HASH);
  });
});

describe('compileSnapshot: grants', () => {
  it('normalises: actions sorted, subjects sorted and de-duplicated, patterns sorted', () => {
    const r = compileSnapshot(
      input({
        grants: [
          regGrant('registry', 'g', {
            subjects: [{ kind: 'User', name: 'z' }, { kind: 'Group', name: 'b' }, { kind: 'User', name: 'z' }, { kind: 'Anonymous' }],
            repositories: ['b/*', 'a/**', 'b/*'],
            actions: ['push', 'pull'],
            catalog: true,
          }),
        ],
      }),
    );
    expect(policyOf(r)?.grants).toEqual([
      {
        source: 'registry/g',
        subjects: [{ kind: 'Anonymous' }, { kind: 'Group', name: 'b' }, { kind: 'User', name: 'z' }],
        repositories: ['a/**', 'b/*'],
        actions: ['pull', 'push'],
        catalog: true,
      },
    ]);
  });
  it('* absorbs the other actions', () => {
    const r = compileSnapshot(input({ grants: [regGrant('registry', 'g', { actions: ['pull', '*', 'delete'] })] }));
    expect(policyOf(r)?.grants[0]?.actions).toEqual(['*']);
  });
  const invalid: [string, Partial<RepositoryGrantSpec>][] = [
    ['an invalid pattern', { repositories: ['Bad Pattern'] }],
    ['${namespace} in a grant', { repositories: ['${namespace}/**'] }],
    ['an unknown action', { actions: ['write' as 'push'] }],
    ['an unknown subject kind', { subjects: [{ kind: 'Robot' as 'User', name: 'x' }] }],
    ['a User subject without name', { subjects: [{ kind: 'User' }] }],
    ['an Anonymous subject with a name', { subjects: [{ kind: 'Anonymous', name: 'x' }] }],
    ['no subjects', { subjects: [] }],
    ['no repositories', { repositories: [] }],
  ];
  it.each(invalid)('%s is InvalidSpec and not applied', (_sentence, spec) => {
    const r = compileSnapshot(input({ grants: [regGrant('registry', 'g', spec)] }));
    expect(statusOf(r, 'RepositoryGrant', 'registry', 'g')).toMatchObject({ status: 'False', reason: Reasons.InvalidSpec });
    expect(policyOf(r)?.grants).toEqual([]);
  });
  it('a grant pointing at a missing Registry is RegistryNotFound', () => {
    const r = compileSnapshot(input({ grants: [regGrant('registry', 'g', { registryRef: { name: 'other' } })] }));
    expect(statusOf(r, 'RepositoryGrant', 'registry', 'g')).toMatchObject({ status: 'False', reason: Reasons.RegistryNotFound });
  });
});

describe('compileSnapshot: delegation', () => {
  const delegating = (delegation: RegistrySpec['delegation']) => [registry('registry', 'main', { delegation })];
  const teamPrefix: RegistrySpec['delegation'] = [
    { namespaces: { from: 'Selector', selector: { matchLabels: { team: 'a' } } }, repositories: ['${namespace}/**'] },
  ];

  it("objects in the registry's own namespace are unrestricted", () => {
    const r = compileSnapshot(input({ registries: delegating(teamPrefix), grants: [regGrant('registry', 'g', { repositories: ['**'] })] }));
    expect(statusOf(r, 'RepositoryGrant', 'registry', 'g')).toMatchObject({ status: 'True' });
  });
  it('without delegation, another namespace is NamespaceNotAllowed', () => {
    const r = compileSnapshot(input({ users: [regUser('team-a', 'alice')], grants: [regGrant('team-a', 'g')] }));
    expect(statusOf(r, 'RegistryUser', 'team-a', 'alice')).toMatchObject({ status: 'False', reason: Reasons.NamespaceNotAllowed });
    expect(statusOf(r, 'RepositoryGrant', 'team-a', 'g')).toMatchObject({ status: 'False', reason: Reasons.NamespaceNotAllowed });
    expect(policyOf(r)).toMatchObject({ users: [], grants: [] });
  });
  it('a selector admits namespaces with matching labels only', () => {
    const r = compileSnapshot(input({ registries: delegating(teamPrefix), users: [regUser('team-a', 'alice'), regUser('team-b', 'bob')] }));
    expect(statusOf(r, 'RegistryUser', 'team-a', 'alice')).toMatchObject({ status: 'True' });
    expect(statusOf(r, 'RegistryUser', 'team-b', 'bob')).toMatchObject({ status: 'False', reason: Reasons.NamespaceNotAllowed });
  });
  it('a grant inside ${namespace}/** is applied', () => {
    const r = compileSnapshot(input({ registries: delegating(teamPrefix), grants: [regGrant('team-a', 'g', { repositories: ['team-a/app', 'team-a/**'] })] }));
    expect(statusOf(r, 'RepositoryGrant', 'team-a', 'g')).toMatchObject({ status: 'True' });
    expect(policyOf(r)?.grants.map((g) => g.source)).toEqual(['team-a/g']);
  });
  it("a grant outside its namespace's prefix is not applied", () => {
    const r = compileSnapshot(input({ registries: delegating(teamPrefix), grants: [regGrant('team-a', 'g', { repositories: ['team-a/app', 'team-b/**'] })] }));
    const c = statusOf(r, 'RepositoryGrant', 'team-a', 'g');
    expect(c).toMatchObject({ status: 'False', reason: Reasons.OutsideDelegatedPrefix });
    expect(c?.message).toContain('team-b/**');
    expect(policyOf(r)?.grants).toEqual([]);
  });
  it('the prefix root itself is outside ${namespace}/**', () => {
    const r = compileSnapshot(input({ registries: delegating(teamPrefix), grants: [regGrant('team-a', 'g', { repositories: ['team-a'] })] }));
    expect(statusOf(r, 'RepositoryGrant', 'team-a', 'g')).toMatchObject({ reason: Reasons.OutsideDelegatedPrefix });
  });
  it("from: All admits every namespace; from: Same admits none but the registry's", () => {
    const all = compileSnapshot(
      input({
        registries: delegating([{ namespaces: { from: 'All' }, repositories: ['shared/**'] }]),
        grants: [regGrant('team-b', 'g', { repositories: ['shared/x'] })],
      }),
    );
    expect(statusOf(all, 'RepositoryGrant', 'team-b', 'g')).toMatchObject({ status: 'True' });
    const same = compileSnapshot(
      input({ registries: delegating([{ namespaces: { from: 'Same' }, repositories: ['**'] }]), grants: [regGrant('team-b', 'g')] }),
    );
    expect(statusOf(same, 'RepositoryGrant', 'team-b', 'g')).toMatchObject({ reason: Reasons.NamespaceNotAllowed });
  });
  it('prefixes come only from entries that admit the namespace', () => {
    const delegation: RegistrySpec['delegation'] = [
      { namespaces: { from: 'Selector', selector: { matchLabels: { team: 'a' } } }, repositories: ['a-stuff/**'] },
      { namespaces: { from: 'Selector', selector: { matchLabels: { team: 'b' } } }, repositories: ['b-stuff/**'] },
    ];
    const r = compileSnapshot(
      input({
        registries: delegating(delegation),
        grants: [regGrant('team-a', 'ok', { repositories: ['a-stuff/x'] }), regGrant('team-a', 'bad', { repositories: ['b-stuff/x'] })],
      }),
    );
    expect(statusOf(r, 'RepositoryGrant', 'team-a', 'ok')).toMatchObject({ status: 'True' });
    expect(statusOf(r, 'RepositoryGrant', 'team-a', 'bad')).toMatchObject({ reason: Reasons.OutsideDelegatedPrefix });
  });
  const expressions: [string, NonNullable<NonNullable<RegistrySpec['delegation']>[number]['namespaces']['selector']>, boolean][] = [
    ['In with the value', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold', 'silver'] }] }, true],
    ['In without the value', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['bronze'] }] }, false],
    ['NotIn with the value', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['gold'] }] }, false],
    ['NotIn of a missing label', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['x'] }] }, true],
    ['Exists', { matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, true],
    ['DoesNotExist', { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, false],
    ['matchLabels and expressions together', { matchLabels: { team: 'a' }, matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, true],
    ['an empty selector selects all', {}, true],
  ];
  it.each(expressions)('selector %s: admits team-a = %s', (_sentence, selector, admitted) => {
    const r = compileSnapshot(
      input({ registries: delegating([{ namespaces: { from: 'Selector', selector }, repositories: ['**'] }]), grants: [regGrant('team-a', 'g')] }),
    );
    expect(statusOf(r, 'RepositoryGrant', 'team-a', 'g')?.status).toBe(admitted ? 'True' : 'False');
  });
});

describe('snapshots: determinism and files', () => {
  const objects = () =>
    input({
      registries: [registry('registry', 'main'), registry('other', 'r2')],
      users: [regUser('registry', 'bob'), regUser('registry', 'alice', { groups: ['x'] })],
      grants: [regGrant('registry', 'g2'), regGrant('registry', 'g1', { actions: ['push'] })],
    });
  it('the same input in another order gives the same bytes', () => {
    const a = compileSnapshot(objects());
    const shuffled = objects();
    shuffled.registries.reverse();
    shuffled.users.reverse();
    shuffled.grants.reverse();
    const b = compileSnapshot(shuffled);
    expect(a.registries.map((x) => serializeSnapshot(x.snapshot))).toEqual(b.registries.map((x) => serializeSnapshot(x.snapshot)));
    expect(a.statuses).toEqual(b.statuses);
  });
  it('registries are sorted by id; statuses by kind, namespace, name', () => {
    const r = compileSnapshot(objects());
    expect(r.registries.map((x) => x.id)).toEqual(['other/r2', 'registry/main']);
    expect(r.statuses.map((s) => `${s.kind} ${s.namespace}/${s.name}`)).toEqual([
      'Registry other/r2',
      'Registry registry/main',
      'RegistryUser registry/alice',
      'RegistryUser registry/bob',
      'RepositoryGrant registry/g1',
      'RepositoryGrant registry/g2',
    ]);
  });
  it('generation is the sha256 of the canonical JSON of registries', () => {
    const s = compileSnapshot(objects()).registries[0]!.snapshot;
    expect(s.generation).toBe(sha256Hex(canonicalJson(s.registries)));
  });
  it('a change of policy changes the generation', () => {
    const a = compileSnapshot(objects()).registries[1]!.snapshot.generation;
    const changed = objects();
    changed.grants[0]!.spec.actions = ['delete'];
    expect(compileSnapshot(changed).registries[1]!.snapshot.generation).not.toBe(a);
  });
  it('serialize then parse gives the snapshot back, with a trailing newline', () => {
    const s = compileSnapshot(objects()).registries[1]!.snapshot;
    const text = serializeSnapshot(s);
    expect(text.endsWith('}\n')).toBe(true);
    expect(parseSnapshot(text)).toEqual(s);
    // Laid out otherwise, the generation is checked against a canonical copy instead of the written span.
    expect(parseSnapshot(JSON.stringify(JSON.parse(text), null, 2))).toEqual(s);
    expect(parseSnapshot(`${text.trimEnd().slice(0, -1)},"note":"added by hand"}`)).toEqual({ ...s, note: 'added by hand' });
  });
  it('merge joins parts sorted by service, with one generation and all credentials', () => {
    const r = compileSnapshot(objects());
    const merged = mergeSnapshots(r.registries);
    expect(merged.snapshot.registries.map((x) => x.service)).toEqual(['main.registry.example.com', 'r2.other.example.com']);
    expect(merged.snapshot.generation).toBe(sha256Hex(canonicalJson(merged.snapshot.registries)));
    expect(Object.keys(merged.credentials.registries).sort()).toEqual(['other/r2', 'registry/main']);
    expect(parseSnapshot(serializeSnapshot(merged.snapshot))).toEqual(merged.snapshot);
  });
  it('merge throws on a service served twice', () => {
    const a = compileSnapshot(input({ registries: [registry('a', 'main', { service: 's' })] })).registries;
    const b = compileSnapshot(input({ registries: [registry('b', 'main', { service: 's' })] })).registries;
    expect(() => mergeSnapshots([...a, ...b])).toThrow(/served by both/);
  });
  const broken: [string, (s: Record<string, unknown>) => unknown, RegExp][] = [
    ['not JSON', () => '{', /not valid JSON/],
    ['a wrong format', (s) => ({ ...s, format: 'v0' }), /format/],
    ['a missing registries list', (s) => ({ ...s, registries: undefined }), /registries/],
    ['an edited body', (s) => ({ ...s, registries: (s.registries as Record<string, unknown>[]).map((r) => ({ ...r, issuer: 'evil' })) }), /generation/],
    // JSON.parse keeps the last of two members with one name: the written registries first, then others.
    [
      'a second registries member after the written one',
      (s) =>
        `${JSON.stringify(s).slice(0, -1)},"registries":${JSON.stringify((s.registries as Record<string, unknown>[]).map((r) => ({ ...r, issuer: 'evil' })))}}`,
      /generation/,
    ],
    [
      'a bad grant action',
      (s) => ({
        ...s,
        registries: (s.registries as Record<string, unknown>[]).map((r) => ({
          ...r,
          grants: [{ source: 'x', subjects: [], repositories: ['a'], actions: ['write'], catalog: false }],
        })),
      }),
      /actions/,
    ],
  ];
  it.each(broken)('parseSnapshot refuses %s with a clear error', (_sentence, edit, message) => {
    const s = JSON.parse(serializeSnapshot(compileSnapshot(objects()).registries[1]!.snapshot)) as Record<string, unknown>;
    const edited = edit(s);
    expect(() => parseSnapshot(typeof edited === 'string' ? edited : JSON.stringify(edited))).toThrow(message);
  });
  it.each([30, 31 * 86_400])('parseSnapshot refuses a token lifetime of %i s, outside what the compiler writes, with a consistent generation', (ttl) => {
    const policy = compileSnapshot(objects()).registries[1]!.snapshot.registries[0]!;
    const forged = serializeSnapshot(snapshotOf([{ ...policy, tokenTTLSeconds: ttl }]));
    expect(() => parseSnapshot(forged)).toThrow(/tokenTTLSeconds must be an integer from 60 to 86400/);
    expect(parseSnapshot(serializeSnapshot(snapshotOf([{ ...policy, tokenTTLSeconds: 86_400 }]))).registries[0]?.tokenTTLSeconds).toBe(86_400);
  });
  it('parseCredentials reads what compile writes and refuses bad shapes without quoting hashes', () => {
    const creds = compileSnapshot(objects()).registries[1]!.credentials;
    expect(parseCredentials(JSON.stringify(creds))).toEqual(creds);
    expect(() => parseCredentials(JSON.stringify({ ...creds, format: 'x' }))).toThrow(/format/);
    const error = thrownBy(() => parseCredentials(`{"format":"portcullis.dev/credentials/v1","registries":{"r":{"u":${JSON.stringify(HASH)}},}`));
    expect(error.message).toMatch(/not valid JSON/);
    expect(leakedParts(error.message, HASH)).toEqual([]);
  });
  it('credentialRevision is short, stable, and not the hash', () => {
    expect(credentialRevision(HASH)).toBe(credentialRevision(HASH));
    expect(credentialRevision(HASH)).not.toBe(credentialRevision(`${HASH}x`));
    expect(credentialRevision(HASH)).toMatch(/^[0-9a-f]{16}$/);
  });
});
