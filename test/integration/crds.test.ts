// The CRDs on a real API server: they install and become Established, the examples are accepted, invalid
// manifests are refused with readable messages (and the offline validator used by `compile` refuses the
// same ones at the same field), transition rules hold, defaults apply, and `kubectl explain` teaches the API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { validateResource } from '../../crds/schema.js';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';

const grant = (spec: Record<string, unknown>, name = 'g') => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'RepositoryGrant',
  metadata: { name, namespace: 'registry' },
  spec: { registryRef: { name: 'main' }, subjects: [{ kind: 'Authenticated' }], repositories: ['team/**'], actions: ['pull'], ...spec },
});
const registry = (spec: Record<string, unknown>, name = 'r') => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'Registry',
  metadata: { name, namespace: 'registry' },
  spec: { service: `${name}.example.com`, ...spec },
});
const user = (spec: Record<string, unknown>, name = 'u') => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'RegistryUser',
  metadata: { name, namespace: 'registry' },
  spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: 's' }, ...spec },
});

const retention = (spec: Record<string, unknown>, name = 'keep') => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'RetentionPolicy',
  metadata: { name, namespace: 'registry' },
  spec: { registryRef: { name: 'main' }, repositories: ['team/**'], rules: { keepNewestSemver: { count: 10 } }, ...spec },
});

const PATTERN = "must be a repository pattern: '/'-separated segments";

// [sentence, manifest, the field both validators name, what the API server says about it]
const INVALID: [string, Record<string, unknown>, string, RegExp][] = [
  [
    'an unknown action',
    grant({ actions: ['pull', 'pulll'] }),
    'spec.actions[1]',
    /Unsupported value: "pulll": supported values: "pull", "push", "delete", "\*"/,
  ],
  ['a duplicate action', grant({ actions: ['pull', 'pull'] }), 'spec.actions[1]', /Duplicate value: "pull"/],
  ['no actions', grant({ actions: [] }), 'spec.actions', /should have at least 1 items/],
  ['no subjects', grant({ subjects: [] }), 'spec.subjects', /should have at least 1 items/],
  ['a User subject without name', grant({ subjects: [{ kind: 'User' }] }), 'spec.subjects[0].name', /User and Group subjects need a name/],
  [
    'an Anonymous subject with a name',
    grant({ subjects: [{ kind: 'Anonymous', name: 'x' }] }),
    'spec.subjects[0].name',
    /Anonymous and Authenticated subjects take no name/,
  ],
  ['an unknown subject kind', grant({ subjects: [{ kind: 'Robot', name: 'x' }] }), 'spec.subjects[0].kind', /Unsupported value: "Robot"/],
  ['an uppercase repository segment', grant({ repositories: ['team/App'] }), 'spec.repositories[0]', new RegExp(PATTERN)],
  ['a partial wildcard', grant({ repositories: ['team-*'] }), 'spec.repositories[0]', new RegExp(PATTERN)],
  ['${namespace} in a grant', grant({ repositories: ['${namespace}/**'] }), 'spec.repositories[0]', /only for Registry delegation prefixes/],
  ['a misspelt field', grant({ catalogue: true }), 'spec.catalogue', /unknown field "spec\.catalogue"/],
  ['a tokenTTL under 60s', registry({ tokenTTL: '30s' }), 'spec.tokenTTL', /must be a duration between 60s and 24h/],
  ['a tokenTTL that is no duration', registry({ tokenTTL: 'five minutes' }), 'spec.tokenTTL', /must be a duration between 60s and 24h/],
  [
    'an unknown algorithm',
    registry({ signing: { algorithm: 'HS256' } }),
    'spec.signing.algorithm',
    /Unsupported value: "HS256": supported values: "ES256", "RS256"/,
  ],
  ['a realm without scheme', registry({ realm: 'registry.example.com/token' }), 'spec.realm', /must be an absolute http:\/\/ or https:\/\/ URL/],
  [
    'from Selector without selector',
    registry({ delegation: [{ namespaces: { from: 'Selector' }, repositories: ['${namespace}/**'] }] }),
    'spec.delegation[0].namespaces',
    /selector is required with from: Selector and not allowed otherwise/,
  ],
  [
    'an unknown variable in a delegation prefix',
    registry({ delegation: [{ namespaces: { from: 'All' }, repositories: ['${ns}/**'] }] }),
    'spec.delegation[0].repositories[0]',
    new RegExp(PATTERN),
  ],
  [
    'an In expression without values',
    registry({ delegation: [{ namespaces: { from: 'Selector', selector: { matchExpressions: [{ key: 'team', operator: 'In' }] } }, repositories: ['x/**'] }] }),
    'spec.delegation[0].namespaces.selector.matchExpressions[0]',
    /In and NotIn need values; Exists and DoesNotExist take none/,
  ],
  [
    'a username pattern namespace team would share with team-a',
    registry({ delegation: [{ namespaces: { from: 'All' }, repositories: ['${namespace}/**'], identities: { usernames: ['${namespace}-*'] } }] }),
    'spec.delegation[0].identities.usernames[0]',
    /"\$\{namespace\}-\*" would let namespace team match team-a's names/,
  ],
  [
    'a group pattern namespace team would share with team-a',
    registry({ delegation: [{ namespaces: { from: 'All' }, repositories: ['${namespace}/**'], identities: { groups: ['*-${namespace}'] } }] }),
    'spec.delegation[0].identities.groups[0]',
    /put a character namespace names cannot contain next to \$\{namespace\}/,
  ],
  ['a username with a colon', user({ username: 'al:ice' }), 'spec.username', /Invalid value: "al:ice": must not contain colons or whitespace/],
  ['a registryRef that is no object name', user({ registryRef: { name: 'Main' } }), 'spec.registryRef.name', /must be a lowercase DNS-1123 name/],
  ['a group with a space', user({ groups: ['team a'] }), 'spec.groups[0]', /must not contain whitespace/],
  ['a user without passwordSecretRef', user({ passwordSecretRef: undefined }), 'spec.passwordSecretRef', /Required value/],
  ['a retention policy without rules', retention({ rules: {} }), 'spec.rules', /at least one rule is required/],
  [
    'keeping zero versions',
    retention({ rules: { keepNewestSemver: { count: 0 } } }),
    'spec.rules.keepNewestSemver.count',
    /should be greater than or equal to 1/,
  ],
  ['an age in weeks', retention({ rules: { keepPushedWithin: '2w' } }), 'spec.rules.keepPushedWithin', /should match/],
  ['an untagged age that is no age', retention({ rules: { pruneUntaggedOlderThan: 'forever' } }), 'spec.rules.pruneUntaggedOlderThan', /should match/],
  ['a six-field schedule', retention({ schedule: '0 0 3 * * *' }), 'spec.schedule', /should match/],
  ['a cap of zero', retention({ maxDeletionsPerRun: 0 }), 'spec.maxDeletionsPerRun', /should be greater than or equal to 1/],
  ['a cap over 10000', retention({ maxDeletionsPerRun: 10001 }), 'spec.maxDeletionsPerRun', /should be less than or equal to 10000/],
  ['a retention pattern with ${user}', retention({ repositories: ['${user}/**'] }), 'spec.repositories[0]', /\$\{user\} has no meaning for retention/],
  ['a retention pattern climbing with ..', retention({ repositories: ['team/../other'] }), 'spec.repositories[0]', new RegExp(PATTERN)],
  [
    'a preReleaseCount with pre-releases counted together',
    retention({ rules: { keepNewestSemver: { count: 3, preReleases: 'Together', preReleaseCount: 1 } } }),
    'spec.rules.keepNewestSemver',
    /preReleaseCount applies only when preReleases is Separate/,
  ],
];

describe('CRDs on a real API server', () => {
  let cp: ControlPlane;

  beforeAll(async () => {
    cp = await startControlPlane();
    const applied = await kubectl(cp, ['apply', '-k', 'crds']);
    expect(applied.code, applied.stderr).toBe(0);
    const established = await kubectl(cp, [
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/registries.portcullis.dev',
      'crd/registryusers.portcullis.dev',
      'crd/repositorygrants.portcullis.dev',
      'crd/retentionpolicies.portcullis.dev',
    ]);
    expect(established.code, established.stderr).toBe(0);
    // Discovery and the OpenAPI document lag Established by a moment.
    for (let i = 0; i < 60; i++) {
      if ((await kubectl(cp, ['explain', 'registry.spec.service'])).code === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const namespaces = await kubectl(cp, ['apply', '-f', 'examples/00-namespaces.yaml']);
    expect(namespaces.code, namespaces.stderr).toBe(0);
  });

  afterAll(async () => {
    await cp?.stop();
  });

  it('accepts the examples', async () => {
    const r = await kubectl(cp, ['apply', '-f', 'examples']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('registry.portcullis.dev/main created');
    expect(r.stdout).toContain('repositorygrant.portcullis.dev/deployer-pull created');
  });

  it('accepts identity patterns whose names each belong to one namespace', async () => {
    const identities = { usernames: ['${namespace}.*', 'ci@${namespace}.*', '*@${namespace}', 'ci-*'], groups: ['${namespace}-devs', '${namespace}_*'] };
    const spec = { delegation: [{ namespaces: { from: 'All' }, repositories: ['${namespace}/**'], identities }] };
    const r = await kubectl(cp, ['apply', '-f', '-', '-o', 'json'], stringify(registry(spec, 'identities')));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).spec.delegation[0].identities).toEqual(identities);
  });

  it('applies the defaults the offline compiler assumes', async () => {
    const r = await kubectl(cp, ['apply', '-f', '-', '-o', 'json'], stringify(registry({}, 'defaults')));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).spec).toEqual({
      service: 'defaults.example.com',
      issuer: 'portcullis',
      tokenTTL: '5m',
      signing: { algorithm: 'ES256', rotateEvery: '24h' },
    });
    const u = await kubectl(cp, ['apply', '-f', '-', '-o', 'json'], stringify(user({}, 'defaulted')));
    expect(u.code, u.stderr).toBe(0);
    expect(JSON.parse(u.stdout).spec).toMatchObject({ passwordSecretRef: { name: 's', key: 'password' }, disabled: false });
  });

  it('accepts a retention policy and defaults it to a dry run with a cap of 100', async () => {
    const policy = retention({
      repositories: ['team/**', '${namespace}/app'],
      rules: { keepNewestSemver: { count: 5 }, keepTags: ['latest', 'v*'], keepPushedWithin: '7d', pruneUntaggedOlderThan: '168h' },
      schedule: '30 3 * * *',
    });
    expect(validateResource(policy)).toEqual([]);
    const r = await kubectl(cp, ['apply', '-f', '-', '-o', 'json'], stringify(policy));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).spec).toMatchObject({
      dryRun: true,
      maxDeletionsPerRun: 100,
      suspend: false,
      rules: { keepNewestSemver: { count: 5, preReleases: 'Separate' } },
    });
    const daily = await kubectl(cp, ['apply', '-f', '-'], stringify(retention({ schedule: '@daily', rules: { pruneUntaggedOlderThan: '90m' } }, 'daily')));
    expect(daily.code, daily.stderr).toBe(0);
    const table = await kubectl(cp, ['get', 'retentionpolicies', '-n', 'registry']);
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+REGISTRY\s+SCHEDULE\s+DRYRUN\s+READY\s+LASTRESULT\s+CANDIDATES\s+AGE$/);
  });

  it.each(INVALID)('refuses %s, as compile does', async (_sentence, manifest, field, apiMessage) => {
    const r = await kubectl(cp, ['apply', '-f', '-'], stringify(manifest));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(apiMessage);
    expect(r.stderr).toContain(field);
    const offline = validateResource(manifest);
    expect(
      offline.some((m) => m.startsWith(`${field}: `)),
      offline.join('\n'),
    ).toBe(true);
  });

  it('has at least 12 refusals in the table', () => {
    expect(INVALID.length).toBeGreaterThanOrEqual(12);
  });

  type Edit = (o: { spec: Record<string, unknown> }) => void;
  it.each<[string, { spec: Record<string, unknown> }, Edit, RegExp]>([
    ['registryRef of a grant', grant({}, 'moving'), (o) => void (o.spec.registryRef = { name: 'other' }), /registryRef is immutable/],
    ['service of a Registry', registry({}, 'fixed'), (o) => void (o.spec.service = 'elsewhere.example.com'), /service is immutable/],
    ['username of a user', user({ username: 'carol' }, 'carol'), (o) => void (o.spec.username = 'caroline'), /username is immutable/],
    ['username added to a user', user({}, 'dave'), (o) => void (o.spec.username = 'david'), /username cannot be added or removed after creation/],
  ])('keeps the %s immutable', async (_name, manifest, edit, message) => {
    const created = await kubectl(cp, ['apply', '-f', '-'], stringify(manifest));
    expect(created.code, created.stderr).toBe(0);
    const changed = structuredClone(manifest);
    edit(changed);
    const r = await kubectl(cp, ['apply', '-f', '-'], stringify(changed));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  it('teaches the API through kubectl explain', async () => {
    const spec = await kubectl(cp, ['explain', 'registry.spec']);
    expect(spec.code, spec.stderr).toBe(0);
    expect(spec.stdout).toContain('The service name clients ask tokens for');
    expect(spec.stdout).toMatch(/tokenTTL\s+<string>/);
    const subjects = await kubectl(cp, ['explain', 'repositorygrants.spec.subjects.kind']);
    expect(subjects.stdout).toContain('User, Group, Anonymous, Authenticated or ServiceAccount');
    const secretRef = await kubectl(cp, ['explain', 'pruser.spec.passwordSecretRef']);
    expect(secretRef.stdout).toContain('htpasswd');
  });

  it('lists everything under the portcullis category and short names, with printer columns', async () => {
    const all = await kubectl(cp, ['get', 'portcullis', '-A', '-o', 'name']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toContain('registry.portcullis.dev/main');
    expect(all.stdout).toContain('registryuser.portcullis.dev/alice');
    expect(all.stdout).toContain('repositorygrant.portcullis.dev/team-a-write');
    const table = await kubectl(cp, ['get', 'preg', '-n', 'registry', 'main']);
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+SERVICE\s+READY\s+REASON\s+USERS\s+GRANTS\s+AGE$/);
    const grants = await kubectl(cp, ['get', 'pgrant', '-n', 'registry']);
    expect(grants.stdout.split('\n')[0]).toMatch(/^NAME\s+REGISTRY\s+ACTIONS\s+READY\s+REASON\s+AGE$/);
  });

  it('accepts a status written through the status subresource', async () => {
    const status = {
      status: {
        observedGeneration: 1,
        users: 4,
        grants: 6,
        conditions: [{ type: 'Ready', status: 'True', reason: 'Compiled', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z' }],
        signing: { activeKeyID: 'abc' },
      },
    };
    const r = await kubectl(cp, ['patch', 'registry', 'main', '-n', 'registry', '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
    expect(r.code, r.stderr).toBe(0);
    const table = await kubectl(cp, ['get', 'preg', '-n', 'registry', 'main', '--no-headers']);
    expect(table.stdout).toMatch(/^main\s+registry\.example\.com\s+True\s+Compiled\s+4\s+6\s+/);
  });
});
