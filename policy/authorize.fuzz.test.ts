// A differential fuzz test of policy evaluation. Random policies (users with and without a delegated
// namespace's tenancy, grants over every subject kind, patterns rich in literal second segments, which
// authorize passes over without matching) and random requests are decided three ways:
//   - by a naive evaluation in this file that walks every grant, subject and pattern (no index at all);
//   - by authorize over buildPolicyIndex;
//   - by the decision cache, over a sequence of requests that repeats itself and moves to new snapshots.
// The granted actions and contributing grants must agree everywhere, and the cache must answer exactly
// what authorize answers (reasons included), never a decision of an earlier snapshot.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { authorize, buildPolicyIndex, type PolicyIndex, type Requester } from './authorize.js';
import { DecisionCache } from './decision-cache.js';
import { compilePattern, matchesParts } from './match.js';
import type { ResourceScope } from './scope.js';
import type { Action, GrantEntry, RegistryPolicy, Subject, UserEntry } from './types.js';

const NAMES = ['alice', 'bob', 'team-a', 'x'];
const GROUPS = ['devs', 'ops'];
const SEGMENTS = ['team-a', 'app', 'x', 'alice', 'bob', 'lib', 'localhost:5000'];
const PATTERNS = [
  'team-a/app',
  'team-a/app/*',
  'team-a/app/**',
  'team-a/x',
  'team-a/*',
  'team-a/**',
  'team-a/${user}',
  'team-a/${user}/app',
  'team-a',
  'x/app/x',
  '${user}/app',
  '${user}/*',
  '*/app',
  '**',
  'localhost:5000/app',
  'localhost:5000/team-a/*',
  'lib/*/app',
];
const PREFIXES = ['team-a/**', 'team-a/app', 'team-a/${user}', 'x/*'];
const ACTIONS: Action[] = ['pull', 'push', 'delete', '*'];

const subject: fc.Arbitrary<Subject> = fc.oneof(
  fc.constantFrom(...NAMES).map((name) => ({ kind: 'User' as const, name })),
  fc.constantFrom(...GROUPS).map((name) => ({ kind: 'Group' as const, name })),
  fc.constant<Subject>({ kind: 'Anonymous' }),
  fc.constant<Subject>({ kind: 'Authenticated' }),
  fc.constantFrom<Subject>({ kind: 'ServiceAccount', namespace: 'ci', name: 'builder' }, { kind: 'ServiceAccount', namespace: 'ci' }),
);
const grantEntry = (i: number): fc.Arbitrary<GrantEntry> =>
  fc.record({
    source: fc.constant(`registry/g${i}`),
    subjects: fc.uniqueArray(subject, { minLength: 1, maxLength: 3, selector: (s) => `${s.kind}/${s.namespace ?? ''}/${s.name ?? ''}` }),
    repositories: fc.uniqueArray(fc.constantFrom(...PATTERNS), { minLength: 0, maxLength: 3 }),
    actions: fc.uniqueArray(fc.constantFrom(...ACTIONS), { minLength: 1, maxLength: 3 }),
    catalog: fc.boolean(),
  });
const userEntry: fc.Arbitrary<UserEntry> = fc
  .record({
    username: fc.constantFrom(...NAMES),
    groups: fc.subarray(GROUPS),
    disabled: fc.constantFrom(false, false, true),
    tenancy: fc.option(
      fc.record({
        namespace: fc.constant('team-a'),
        prefixes: fc.subarray(PREFIXES, { minLength: 1 }),
        trustedUsername: fc.boolean(),
        trustedGroups: fc.subarray(GROUPS),
        trustedAuthenticated: fc.boolean(),
      }),
      { nil: undefined },
    ),
  })
  .map(({ tenancy, ...u }) => ({ ...u, credentialRevision: 'rev', source: `registry/${u.username}`, ...(tenancy === undefined ? {} : { tenancy }) }));
const registryPolicy: fc.Arbitrary<RegistryPolicy> = fc
  .tuple(
    fc.uniqueArray(userEntry, { maxLength: 4, selector: (u) => u.username }),
    fc.integer({ min: 0, max: 8 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => grantEntry(i)))),
  )
  .map(([users, grants]) => ({ id: 'registry/main', service: 'r.test', issuer: 'p', tokenTTLSeconds: 300, signingAlgorithm: 'ES256' as const, users, grants }));

const requester: fc.Arbitrary<Requester> = fc.oneof(
  fc.constant<Requester>({ kind: 'anonymous' }),
  fc.record({ kind: fc.constant('user' as const), username: fc.constantFrom(...NAMES), groups: fc.subarray(GROUPS) }),
  fc.record({
    kind: fc.constant('identity' as const),
    source: fc.constantFrom('ldap' as const, 'oidc' as const),
    username: fc.constantFrom(...NAMES),
    groups: fc.subarray(GROUPS),
    authenticated: fc.boolean(),
  }),
  fc.constant<Requester>({
    kind: 'identity',
    source: 'serviceaccount',
    username: 'system:serviceaccount:ci:builder',
    groups: [],
    authenticated: true,
    serviceAccount: { namespace: 'ci', name: 'builder' },
  }),
);
const scope: fc.Arbitrary<ResourceScope> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      type: fc.constant('repository'),
      name: fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 4 }).map((s) => s.join('/')),
      actions: fc.uniqueArray(fc.constantFrom('pull', 'push', 'delete', '*'), { minLength: 1, maxLength: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant<ResourceScope>({ type: 'registry', name: 'catalog', actions: ['*'] }) },
);

interface Subjected {
  subject: Subject;
  /** Whether a match through this subject counts beyond a tenancy's prefixes. */
  trusted: boolean;
}

/** The subjects a requester is, with their trust: docs/security-model.md, read plainly. */
function subjectsOf(policy: RegistryPolicy, who: Requester): Subjected[] {
  if (who.kind === 'anonymous') return [{ subject: { kind: 'Anonymous' }, trusted: true }];
  if (who.kind === 'identity') {
    const sa = who.serviceAccount;
    return [
      { subject: { kind: 'User', name: who.username }, trusted: true },
      ...(who.authenticated ? [{ subject: { kind: 'Authenticated' as const }, trusted: true }] : []),
      ...(sa === undefined
        ? []
        : [
            { subject: { kind: 'ServiceAccount' as const, namespace: sa.namespace, name: sa.name }, trusted: true },
            { subject: { kind: 'ServiceAccount' as const, namespace: sa.namespace }, trusted: true },
          ]),
      ...who.groups.map((name) => ({ subject: { kind: 'Group' as const, name }, trusted: true })),
    ];
  }
  const t = policy.users.find((u) => u.username === who.username)?.tenancy;
  return [
    { subject: { kind: 'User', name: who.username }, trusted: t === undefined || t.trustedUsername },
    { subject: { kind: 'Authenticated' }, trusted: t === undefined || t.trustedAuthenticated || t.trustedUsername },
    ...who.groups.map((name) => ({ subject: { kind: 'Group' as const, name }, trusted: t === undefined || t.trustedGroups.includes(name) })),
  ];
}

const sameSubject = (a: Subject, b: Subject): boolean => a.kind === b.kind && a.name === b.name && a.namespace === b.namespace;

/** Every grant, every subject, every pattern: what `scope` gets and from which grants. */
function naive(policy: RegistryPolicy, who: Requester, s: ResourceScope): { granted: string[]; grants: string[] } {
  if (who.kind === 'user') {
    const entry = policy.users.find((u) => u.username === who.username);
    if (entry === undefined || entry.disabled) return { granted: [], grants: [] };
  }
  const tenancy = who.kind === 'user' ? policy.users.find((u) => u.username === who.username)?.tenancy : undefined;
  const user = who.kind === 'anonymous' ? undefined : who.username;
  const mine = subjectsOf(policy, who);
  const allowed = new Set<string>();
  const grants = new Set<string>();
  for (const g of policy.grants) {
    const through = mine.filter((m) => g.subjects.some((s) => sameSubject(s, m.subject)));
    if (through.length === 0) continue;
    if (s.type === 'registry') {
      if (s.name === 'catalog' && s.actions.includes('*') && g.catalog && through.some((m) => m.trusted)) {
        allowed.add('*');
        grants.add(g.source);
      }
      continue;
    }
    if (s.type !== 'repository') continue;
    const parts = s.name.split('/');
    const gives = g.actions.includes('*') ? ['pull', 'push', 'delete', '*'] : g.actions;
    for (const p of g.repositories) {
      const pattern = compilePattern(p);
      if (!matchesParts(pattern, parts, user)) continue;
      const usesUser = p.includes('${user}');
      const counts = through.some(
        (m) =>
          tenancy === undefined ||
          (m.trusted && !(usesUser && !tenancy.trustedUsername)) ||
          tenancy.prefixes.some((prefix) => matchesParts(compilePattern(prefix), parts, user)),
      );
      if (!counts) continue;
      const contributed = s.actions.filter((a) => gives.includes(a as Action));
      for (const a of contributed) allowed.add(a);
      if (contributed.length > 0) grants.add(g.source);
    }
  }
  return { granted: s.actions.filter((a) => allowed.has(a)), grants: [...grants].sort() };
}

describe('authorize against a naive walk of every grant', () => {
  it('grants exactly what the naive walk grants, from the same grants', () => {
    fc.assert(
      fc.property(
        registryPolicy,
        fc.array(fc.tuple(requester, fc.array(scope, { minLength: 1, maxLength: 3 })), { minLength: 1, maxLength: 8 }),
        (policy, requests) => {
          const index = buildPolicyIndex(policy);
          for (const [who, scopes] of requests) {
            const got = authorize(index, who, scopes).map((d) => ({ granted: d.granted, grants: d.grants }));
            expect(got, JSON.stringify({ policy, who, scopes })).toEqual(scopes.map((s) => naive(policy, who, s)));
          }
        },
      ),
      { numRuns: 1000 },
    );
  }, 120_000);
});

describe('the decision cache against authorize', () => {
  it('answers exactly what authorize answers over repeated requests and changing snapshots', () => {
    fc.assert(
      fc.property(
        fc.array(registryPolicy, { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(fc.nat(), requester, fc.array(scope, { minLength: 1, maxLength: 3 })), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 8 }),
        (policies, requests, maxEntries) => {
          // Snapshots follow one another; a request is answered under the snapshot current at its turn. The
          // cache sits on one index object whose content is replaced, as an index patched in place would
          // be: only the generation tells the cache that its decisions are of an earlier snapshot.
          const generations = policies.map((p, i) => ({ index: buildPolicyIndex(p), generation: `g${i}` }));
          const live: { -readonly [K in keyof PolicyIndex]: PolicyIndex[K] } = { ...generations[0]!.index };
          const cache = new DecisionCache(live, maxEntries);
          requests.forEach(([pick, who, scopes], turn) => {
            const { index, generation } = generations[Math.min(generations.length - 1, Math.floor((turn * generations.length) / requests.length))]!;
            Object.assign(live, index);
            expect(cache.authorize(generation, who, scopes)).toEqual(authorize(index, who, scopes));
            // An earlier request asked again: a hit must still be authorize's answer under this snapshot.
            const [, whoAgain, scopesAgain] = requests[pick % requests.length]!;
            expect(cache.authorize(generation, whoAgain, scopesAgain)).toEqual(authorize(index, whoAgain, scopesAgain));
          });
        },
      ),
      { numRuns: 400 },
    );
  }, 120_000);
});
