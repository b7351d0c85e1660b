import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validatePattern } from '../policy/match.js';
import { findCelRule, goDurationMs, isTransitionRule, patternRuleRegExp } from './celRules.js';
import { CRD_KINDS, crdSchema, loadCrd, validateResource, withCrdDefaults, type StructuralSchema } from './schema.js';
import type { RegistryResource, RegistryUserResource, RepositoryGrantResource } from './types.js';

const registry = (): RegistryResource => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'Registry',
  metadata: { name: 'main', namespace: 'registry' },
  spec: {
    service: 'registry.example.com',
    realm: 'https://registry.example.com/token',
    tokenTTL: '5m',
    signing: { algorithm: 'ES256', rotateEvery: '24h' },
    delegation: [{ namespaces: { from: 'Selector', selector: { matchLabels: { team: 'a' } } }, repositories: ['${namespace}/**'] }],
  },
});

const user = (): RegistryUserResource => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'RegistryUser',
  metadata: { name: 'alice', namespace: 'registry' },
  spec: { registryRef: { name: 'main' }, username: 'alice', passwordSecretRef: { name: 'alice-password' }, groups: ['team-a'] },
});

const grant = (): RepositoryGrantResource => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'RepositoryGrant',
  metadata: { name: 'team-a-write', namespace: 'registry' },
  spec: {
    registryRef: { name: 'main' },
    subjects: [{ kind: 'Group', name: 'team-a' }, { kind: 'Anonymous' }],
    repositories: ['team-a/**', '${user}/*'],
    actions: ['pull', 'push'],
  },
});

/** A deep copy of `base` changed by `edit` (which may use any shape: these are invalid on purpose). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test fixtures break the types on purpose
function edited<T>(base: T, edit: (o: any) => void): unknown {
  const copy = structuredClone(base);
  edit(copy);
  return copy;
}

const PATTERN_MESSAGE =
  "must be a repository pattern: '/'-separated segments, each '*', '**', '${user}' or a lowercase path component " +
  "(the first may be a host[:port]) such as team-a or my_app.v2 ('${namespace}' is only for Registry delegation prefixes)";
const TTL_MESSAGE = 'must be a duration between 60s and 24h, such as 5m or 1h30m';

describe('validateResource', () => {
  it.each([
    ['a Registry with delegation', registry()],
    ['a Registry with only a service', { ...registry(), spec: { service: 'localhost:5000' } }],
    ['a RegistryUser', user()],
    ['a RegistryUser without username, groups or key', { ...user(), spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: 's' } } }],
    ['a RepositoryGrant', grant()],
    ['a grant with * among other actions (normalised by compile)', edited(grant(), (g) => (g.spec.actions = ['pull', '*']))],
    ['a grant on a host-prefixed pattern', edited(grant(), (g) => (g.spec.repositories = ['localhost:5000/team/**']))],
    ['a Registry with tokenTTL 1h30m', edited(registry(), (r) => (r.spec.tokenTTL = '1h30m'))],
    ['an object without namespace', edited(user(), (u) => delete u.metadata.namespace)],
    ['an object with a status (ignored)', edited(user(), (u) => (u.status = { anything: 1 }))],
  ])('accepts %s', (_name, obj) => {
    expect(validateResource(obj)).toEqual([]);
  });

  it.each<[string, unknown, string[]]>([
    ['an unknown action', edited(grant(), (g) => (g.spec.actions = ['pull', 'pulll'])), ['spec.actions[1]: must be one of pull, push, delete, *']],
    ['a duplicate action', edited(grant(), (g) => (g.spec.actions = ['pull', 'pull'])), ['spec.actions[1]: duplicate entry "pull"']],
    ['no actions', edited(grant(), (g) => (g.spec.actions = [])), ['spec.actions: must not be empty']],
    ['no subjects', edited(grant(), (g) => (g.spec.subjects = [])), ['spec.subjects: must not be empty']],
    ['no repositories', edited(grant(), (g) => delete g.spec.repositories), ['spec.repositories: is required']],
    [
      'a User subject without name',
      edited(grant(), (g) => (g.spec.subjects = [{ kind: 'User' }])),
      ['spec.subjects[0].name: User and Group subjects need a name'],
    ],
    [
      'an Anonymous subject with a name',
      edited(
        grant(),
        (g) =>
          (g.spec.subjects = [
            { kind: 'Group', name: 'a' },
            { kind: 'Anonymous', name: 'x' },
          ]),
      ),
      ['spec.subjects[1].name: Anonymous and Authenticated subjects take no name'],
    ],
    [
      'an unknown subject kind',
      edited(grant(), (g) => (g.spec.subjects = [{ kind: 'Robot', name: 'x' }])),
      ['spec.subjects[0].kind: must be one of User, Group, Anonymous, Authenticated, ServiceAccount'],
    ],
    [
      'a namespace on a User subject',
      edited(grant(), (g) => (g.spec.subjects = [{ kind: 'User', name: 'x', namespace: 'team-a' }])),
      ['spec.subjects[0].namespace: only ServiceAccount subjects take a namespace'],
    ],
    [
      'LDAP bindDN without its password Secret',
      edited(registry(), (r) => (r.spec.authentication = { ldap: { url: 'ldaps://ldap.example.com', bindDN: 'cn=x', userSearch: { baseDN: 'dc=example' } } })),
      ['spec.authentication.ldap: bindDN and bindPasswordSecretRef go together (neither means an anonymous search)'],
    ],
    [
      'an LDAP URL with a path',
      edited(registry(), (r) => (r.spec.authentication = { ldap: { url: 'ldaps://ldap.example.com/dc=x', userSearch: { baseDN: 'dc=example' } } })),
      ['spec.authentication.ldap.url: must match the regular expression ^ldaps?://[^/\\s]+/?$'],
    ],
    [
      'a user filter without {username}',
      edited(registry(), (r) => (r.spec.authentication = { ldap: { url: 'ldaps://l', userSearch: { baseDN: 'dc=example', filter: '(uid=alice)' } } })),
      ['spec.authentication.ldap.userSearch.filter: must contain {username}'],
    ],
    [
      'an HMAC algorithm for an OIDC issuer',
      edited(
        registry(),
        (r) => (r.spec.authentication = { oidc: [{ issuer: 'https://issuer.example', audiences: ['a'], username: { prefix: 'x:' }, algorithms: ['HS256'] }] }),
      ),
      ['spec.authentication.oidc[0].algorithms[0]: must be one of EdDSA, ES256, ES384, ES512, PS256, PS384, PS512, RS256, RS384, RS512'],
    ],
    [
      'an OIDC issuer without a username prefix',
      edited(registry(), (r) => (r.spec.authentication = { oidc: [{ issuer: 'https://issuer.example', audiences: ['a'], username: { claim: 'sub' } }] })),
      ['spec.authentication.oidc[0].username.prefix: is required'],
    ],
    [
      'a ServiceAccount cache longer than a minute',
      edited(registry(), (r) => (r.spec.authentication = { serviceAccounts: { cacheTTL: '5m' } })),
      ['spec.authentication.serviceAccounts.cacheTTL: must be a duration between 0s and 60s'],
    ],
    ['an uppercase repository segment', edited(grant(), (g) => (g.spec.repositories = ['team-a/App'])), [`spec.repositories[0]: ${PATTERN_MESSAGE}`]],
    ['a partial wildcard', edited(grant(), (g) => (g.spec.repositories = ['ok/**', 'team-*'])), [`spec.repositories[1]: ${PATTERN_MESSAGE}`]],
    ['${namespace} in a grant', edited(grant(), (g) => (g.spec.repositories = ['${namespace}/**'])), [`spec.repositories[0]: ${PATTERN_MESSAGE}`]],
    ['an empty segment', edited(grant(), (g) => (g.spec.repositories = ['team-a//x'])), [`spec.repositories[0]: ${PATTERN_MESSAGE}`]],
    ['a misspelt field', edited(grant(), (g) => (g.spec.catalogue = true)), ['spec.catalogue: unknown field']],
    ['catalog as a string', edited(grant(), (g) => (g.spec.catalog = 'yes')), ['spec.catalog: must be a boolean']],
    ['a grant without registryRef name', edited(grant(), (g) => (g.spec.registryRef = {})), ['spec.registryRef.name: is required']],
    ['a tokenTTL under 60s', edited(registry(), (r) => (r.spec.tokenTTL = '30s')), [`spec.tokenTTL: ${TTL_MESSAGE}`]],
    ['a tokenTTL over 24h', edited(registry(), (r) => (r.spec.tokenTTL = '25h')), [`spec.tokenTTL: ${TTL_MESSAGE}`]],
    ['a tokenTTL that is no duration', edited(registry(), (r) => (r.spec.tokenTTL = 'five minutes')), [`spec.tokenTTL: ${TTL_MESSAGE}`]],
    [
      'a rotateEvery under 1m',
      edited(registry(), (r) => (r.spec.signing.rotateEvery = '30s')),
      ['spec.signing.rotateEvery: must be a duration between 1m and 8760h, such as 24h'],
    ],
    ['an unknown algorithm', edited(registry(), (r) => (r.spec.signing.algorithm = 'HS256')), ['spec.signing.algorithm: must be one of ES256, RS256']],
    ['a Registry without service', edited(registry(), (r) => delete r.spec.service), ['spec.service: is required']],
    [
      'a realm without scheme',
      edited(registry(), (r) => (r.spec.realm = 'registry.example.com/token')),
      ['spec.realm: must be an absolute http:// or https:// URL'],
    ],
    [
      'from Selector without selector',
      edited(registry(), (r) => (r.spec.delegation = [{ namespaces: { from: 'Selector' }, repositories: ['${namespace}/**'] }])),
      ['spec.delegation[0].namespaces: selector is required with from: Selector and not allowed otherwise'],
    ],
    [
      'a selector with from All',
      edited(registry(), (r) => (r.spec.delegation[0].namespaces.from = 'All')),
      ['spec.delegation[0].namespaces: selector is required with from: Selector and not allowed otherwise'],
    ],
    [
      'an In expression without values',
      edited(registry(), (r) => (r.spec.delegation[0].namespaces.selector = { matchExpressions: [{ key: 'team', operator: 'In' }] })),
      ['spec.delegation[0].namespaces.selector.matchExpressions[0]: In and NotIn need values; Exists and DoesNotExist take none'],
    ],
    [
      'an unknown variable in a delegation prefix',
      edited(registry(), (r) => (r.spec.delegation[0].repositories = ['${ns}/**'])),
      [
        "spec.delegation[0].repositories[0]: must be a repository pattern: '/'-separated segments, each '*', '**', '${user}', '${namespace}' " +
          'or a lowercase path component (the first may be a host[:port]) such as team-a or my_app.v2',
      ],
    ],
    [
      'a username pattern namespace team would share with team-a',
      edited(registry(), (r) => (r.spec.delegation[0].identities = { usernames: ['${namespace}-*'], groups: ['${namespace}.*'] })),
      [
        "spec.delegation[0].identities.usernames[0]: with '*', put a character namespace names cannot contain next to ${namespace}, such as '.', " +
          "'_' or '@' (\"${namespace}.*\"): namespace names contain '-', so \"${namespace}-*\" would let namespace team match team-a's names",
      ],
    ],
    ['a username with a colon', edited(user(), (u) => (u.spec.username = 'al:ice')), ['spec.username: must not contain colons or whitespace']],
    ['a group with a space', edited(user(), (u) => (u.spec.groups = ['team a'])), ['spec.groups[0]: must not contain whitespace']],
    [
      'a registryRef that is no object name',
      edited(user(), (u) => (u.spec.registryRef = { name: 'Main', namespace: 'a.b' })),
      [
        "spec.registryRef.name: must be a lowercase DNS-1123 name: a-z, 0-9, '-' and '.', starting and ending with a letter or digit",
        "spec.registryRef.namespace: must be a lowercase DNS-1123 label: a-z, 0-9 and '-', starting and ending with a letter or digit",
      ],
    ],
    ['a user without passwordSecretRef', edited(user(), (u) => delete u.spec.passwordSecretRef), ['spec.passwordSecretRef: is required']],
    ['groups that are not a list', edited(user(), (u) => (u.spec.groups = 'team-a')), ['spec.groups: must be a list']],
    ['disabled as a string', edited(user(), (u) => (u.spec.disabled = 'yes')), ['spec.disabled: must be a boolean']],
    [
      'an uppercase object name',
      edited(user(), (u) => (u.metadata.name = 'Alice')),
      ["metadata.name: must be a lowercase DNS-1123 name: a-z, 0-9, '-' and '.', starting and ending with a letter or digit (at most 253 characters)"],
    ],
    ['no metadata.name', edited(user(), (u) => delete u.metadata.name), ['metadata.name: is required']],
    [
      'the wrong apiVersion',
      edited(user(), (u) => (u.apiVersion = 'portcullis.dev/v1')),
      ['apiVersion: must be portcullis.dev/v1alpha1 for kind RegistryUser'],
    ],
    ['no spec', edited(user(), (u) => delete u.spec), ['spec: is required']],
    ['too many actions', edited(grant(), (g) => (g.spec.actions = ['pull', 'push', 'delete', '*', 'pull'])), ['spec.actions: must have at most 4 items']],
  ])('refuses %s', (_name, obj, expected) => {
    expect(validateResource(obj)).toEqual(expected);
  });

  it('refuses objects that are not Portcullis kinds', () => {
    expect(validateResource({ apiVersion: 'v1', kind: 'ConfigMap' })).toEqual([
      'kind: must be one of Registry, RegistryUser, RepositoryGrant, RegistryWebhook, RetentionPolicy',
    ]);
    expect(validateResource('registry')).toEqual(['must be an object with apiVersion, kind, metadata and spec']);
  });

  it('applies the CRD defaults the API server applies', () => {
    const r = withCrdDefaults({ ...registry(), spec: { service: 'x' } });
    expect(r.spec).toEqual({ service: 'x', issuer: 'portcullis', tokenTTL: '5m', signing: { algorithm: 'ES256', rotateEvery: '24h' } });
    const u = withCrdDefaults(user());
    expect(u.spec.passwordSecretRef.key).toBe('password');
    expect(u.spec.disabled).toBe(false);
    expect(withCrdDefaults(grant()).spec.catalog).toBe(false);
  });
});

function* schemaNodes(schema: StructuralSchema, path: string): Generator<[string, StructuralSchema]> {
  yield [path, schema];
  for (const [key, child] of Object.entries(schema.properties ?? {})) yield* schemaNodes(child, `${path}.${key}`);
  if (schema.items !== undefined) yield* schemaNodes(schema.items, `${path}[]`);
  if (typeof schema.additionalProperties === 'object') yield* schemaNodes(schema.additionalProperties, `${path}{}`);
}

describe('the CRD YAML', () => {
  it.each(CRD_KINDS)('%s: every CEL rule has an offline implementation', (kind) => {
    const missing: string[] = [];
    for (const [path, node] of schemaNodes(crdSchema(kind), '')) {
      for (const { rule } of node['x-kubernetes-validations'] ?? []) {
        if (!isTransitionRule(rule) && findCelRule(rule) === undefined) missing.push(`${path}: ${rule}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("the identity patterns' CEL rule and the compiler's check agree", () => {
    const rules = [...schemaNodes(crdSchema('Registry'), '')].flatMap(([, n]) => n['x-kubernetes-validations'] ?? []).map((v) => v.rule);
    const rule = rules.find((r) => r.includes('[$][{]namespace[}]'));
    expect(rule).toBeDefined();
    // The rule's two regexes, run as JavaScript regexes (RE2 and JavaScript agree on these classes).
    const [first, last] = [...(rule as string).matchAll(/self\.matches\('([^']*)'\)/g)].map((m) => new RegExp(m[1] as string));
    const cel = (p: string) => !p.includes('*') || !p.includes('${namespace}') || first!.test(p) || last!.test(p);
    const atoms = ['${namespace}', '*', '-', '.', 'a', '$', '}'];
    const patterns: string[] = [''];
    for (let depth = 0; depth < 4; depth++) for (const p of [...patterns]) for (const a of atoms) patterns.push(p + a);
    const check = findCelRule(rule as string)!;
    for (const p of patterns) expect(check(p), p).toBe(cel(p));
    expect(check('${namespace}-*')).toBe(false);
    expect(check('${namespace}.*')).toBe(true);
  });

  it.each(CRD_KINDS)('%s: every field and every object in a list has a description', (kind) => {
    const undescribed: string[] = [];
    for (const [path, node] of schemaNodes(crdSchema(kind), '')) {
      const isListObject = path.endsWith('[]') && node.type === 'object';
      const isField = !path.endsWith('[]') && !path.endsWith('{}') && path !== '.metadata';
      if ((isField || isListObject) && !node.description) undescribed.push(path);
    }
    expect(undescribed).toEqual([]);
  });

  it.each(CRD_KINDS)('%s: served and stored as v1alpha1 in the portcullis category', (kind) => {
    const crd = loadCrd(kind);
    expect(crd.spec.group).toBe('portcullis.dev');
    expect(crd.spec.versions.map((v) => [v.name, v.served, v.storage])).toEqual([['v1alpha1', true, true]]);
    expect(crd.spec.names.categories).toEqual(['portcullis']);
  });

  // The CEL regex (what the API server checks) and policy/match.ts (what compile checks, and what
  // matches) must agree on every pattern, or a manifest would pass one and fail the other.
  const segment = fc.oneof(
    fc.constantFrom(
      '*',
      '**',
      '${user}',
      '${namespace}',
      'team-a',
      'a.b',
      'a__b',
      'a--b',
      'A',
      'a_',
      '-a',
      'x*',
      '',
      'localhost:5000',
      '[::1]:5000',
      'Host.Example',
      'a b',
    ),
    fc.stringMatching(/^[a-z0-9._:-]{1,8}$/),
  );
  const pattern = fc.array(segment, { minLength: 1, maxLength: 4 }).map((segments) => segments.join('/'));
  it.each([
    ['RepositoryGrant', '.spec.repositories[]', false],
    ['Registry', '.spec.delegation[].repositories[]', true],
  ] as const)('%s %s: the CEL pattern regex agrees with validatePattern', (kind, where, allowNamespace) => {
    const node = [...schemaNodes(crdSchema(kind), '')].find(([path]) => path === where)?.[1];
    const rule = node?.['x-kubernetes-validations']?.[0]?.rule ?? '';
    const regex = patternRuleRegExp(rule);
    expect(regex).toBeDefined();
    fc.assert(
      fc.property(pattern, (p) => {
        expect(regex?.test(p), p).toBe(validatePattern(p, { allowNamespace }) === undefined);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('goDurationMs', () => {
  it.each([
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['500ms', 500],
    ['0', 0],
    ['5', undefined],
    ['-5m', undefined],
    ['', undefined],
  ])('%s is %s ms', (s, ms) => {
    expect(goDurationMs(s)).toBe(ms);
  });
});
