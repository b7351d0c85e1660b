// A differential fuzz test of /token: random namespaces, delegations (with consented identities), users
// and grants are compiled by the real compileSnapshot and served by the real app; random requests
// (including wrong passwords, repeated and malformed parameters) go through inject(). An independent,
// deliberately naive model of the documented rules (docs/security-model.md) says what each request may
// get: regular expressions for patterns, enumeration of a finite universe for "within a prefix", plain
// loops for everything else. The token must never carry more than the model allows (and, where the
// model is sure, exactly that), and the server never answers 5xx.
import bcrypt from 'bcrypt';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delegation, NamespaceInfo, RegistryResource, RegistryUserResource, RepositoryGrantResource } from '../crds/types.js';
import { compileSnapshot } from '../policy/snapshot.js';
import type { SigningKeySet } from '../wire/signing-key-set.js';
import { build } from './app.js';
import { buildPolicyState } from './sources/policy-state.js';
import type { PolicyState } from './sources/types.js';
import { captureLogger, makeKeys, MemorySource } from '../test/support/token-server-fixtures.js';

const SERVICE = 'fuzz.example.com';
const HOME = 'registry';
const NAMESPACES: NamespaceInfo[] = [
  { name: HOME, labels: {} },
  { name: 'team-a', labels: { team: 'a' } },
  { name: 'team-b', labels: { team: 'b' } },
  { name: 'other', labels: {} },
];
const USERNAMES = ['alice', 'bob', 'ci-bot', 'team-a-bot', 'team-a.bot', 'library', 'x'];
const GROUPS = ['devs', 'team-a-devs', 'team-a.devs', 'team-b', 'admins'];
const SEGMENTS = ['team-a', 'team-b', 'library', 'shared', 'x', 'alice', 'ci-bot'];
const GRANT_PATTERNS = ['team-a/**', 'team-b/**', 'library/*', 'shared/*', '${user}/*', '*/x', '**', 'team-a/x', 'x', '${user}/**', 'team-a/${user}'];
const PREFIXES = ['${namespace}/**', 'shared/*', '${namespace}/${user}', 'library/*'];
const ACTIONS = ['pull', 'push', 'delete', '*'] as const;

interface UserSpec {
  ns: string;
  name: string;
  username: string;
  groups: string[];
  disabled: boolean;
  password: string;
  age: number;
}
interface GrantSpec {
  ns: string;
  name: string;
  subjects: { kind: 'User' | 'Group' | 'Anonymous' | 'Authenticated'; name?: string }[];
  repositories: string[];
  actions: string[];
  catalog: boolean;
}
interface World {
  delegation: Delegation[];
  users: UserSpec[];
  grants: GrantSpec[];
}
interface Request {
  username?: string;
  password?: string;
  scopes: string[];
  malformed?: 'repeated-service' | 'bad-scope';
}

// ---- generators ------------------------------------------------------------------------------------

const subset = <T>(items: readonly T[], min = 0) => fc.subarray([...items], { minLength: min });
const delegationEntry: fc.Arbitrary<Delegation> = fc
  .record({
    from: fc.constantFrom('All', 'Same', 'team=a', 'team=b'),
    repositories: subset(PREFIXES, 1),
    // "${namespace}-*" is refused (one namespace's pattern would match another's names): '.' instead.
    usernames: fc.constantFrom<string[][]>([], ['${namespace}.*'], ['*'], ['ci-*']),
    groups: fc.constantFrom<string[][]>([], ['devs'], ['${namespace}-devs'], ['${namespace}.*']),
    authenticated: fc.boolean(),
    catalog: fc.boolean(),
  })
  .map((e) => ({
    namespaces: e.from === 'All' || e.from === 'Same' ? { from: e.from } : { from: 'Selector' as const, selector: { matchLabels: { team: e.from.slice(5) } } },
    repositories: e.repositories,
    identities: { usernames: e.usernames, groups: e.groups, authenticated: e.authenticated },
    catalog: e.catalog,
  }));
const userSpec = (i: number): fc.Arbitrary<UserSpec> =>
  fc
    .record({
      ns: fc.constantFrom(HOME, 'team-a', 'team-a', 'team-b', 'other'),
      username: fc.constantFrom(...USERNAMES.slice(0, 4)),
      groups: subset(GROUPS),
      disabled: fc.constantFrom(false, false, false, true),
      age: fc.integer({ min: 0, max: 5 }),
    })
    .map((u) => ({ ...u, name: `u${i}`, password: `pw-${i}` }));
const grantSpec = (i: number): fc.Arbitrary<GrantSpec> =>
  fc
    .record({
      ns: fc.constantFrom(HOME, HOME, 'team-a', 'team-b', 'other'),
      subjects: fc.uniqueArray(
        fc.oneof(
          fc.constantFrom(...USERNAMES).map((name) => ({ kind: 'User' as const, name })),
          fc.constantFrom(...GROUPS).map((name) => ({ kind: 'Group' as const, name })),
          fc.constant<GrantSpec['subjects'][number]>({ kind: 'Anonymous' }),
          fc.constant<GrantSpec['subjects'][number]>({ kind: 'Authenticated' }),
          fc.constant<GrantSpec['subjects'][number]>({ kind: 'Authenticated' }),
        ),
        { minLength: 1, maxLength: 3, selector: (s: GrantSpec['subjects'][number]) => `${s.kind}/${s.name ?? ''}` },
      ),
      repositories: subset(GRANT_PATTERNS, 1).map((r) => r.slice(0, 2)),
      actions: subset(ACTIONS, 1),
      catalog: fc.boolean(),
    })
    .map((g) => ({ ...g, name: `g${i}` }));
const world: fc.Arbitrary<World> = fc.record({
  delegation: fc.array(delegationEntry, { minLength: 1, maxLength: 2 }),
  users: fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => userSpec(i)))),
  grants: fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => grantSpec(i)))),
});
const repoName = fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 3 }).map((s) => s.join('/'));
const scopeText = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(repoName, subset(['pull', 'push', 'delete', '*'], 1)).map(([name, actions]) => `repository:${name}:${actions.join(',')}`) },
  { weight: 1, arbitrary: fc.constant('registry:catalog:*') },
);
/** Scopes, often under the requester's own name (where `${user}` patterns apply). */
const scopesFor = (username: string | undefined) =>
  fc.uniqueArray(
    fc.oneof(
      { weight: 5, arbitrary: scopeText },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.array(fc.constantFrom(...SEGMENTS), { maxLength: 2 }), subset(['pull', 'push', 'delete'], 1))
          .map(([rest, actions]) => `repository:${[username ?? 'alice', ...rest].join('/')}:${actions.join(',')}`),
      },
    ),
    { minLength: 1, maxLength: 3, selector: (s) => s.split(':').slice(0, 2).join(':') },
  );
const request = (w: World): fc.Arbitrary<Request> =>
  fc
    .record({
      who: fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: 4, arbitrary: fc.nat({ max: w.users.length - 1 }) }),
      wrong: fc.constantFrom(false, false, false, false, true),
      scopes: fc.constant(undefined),
      malformed: fc.option(fc.constantFrom('repeated-service' as const, 'bad-scope' as const), { freq: 8 }),
    })
    .chain((r) => {
      const u = r.who === undefined ? undefined : w.users[r.who];
      return scopesFor(u?.username).map((scopes) => ({ ...r, scopes, u }));
    })
    .map((r) => {
      const u = r.u;
      const out: Request = { scopes: r.scopes };
      if (u !== undefined) {
        out.username = u.username;
        out.password = r.wrong ? 'wrong' : u.password;
      }
      if (r.malformed !== null) out.malformed = r.malformed;
      return out;
    });

// ---- the model ---------------------------------------------------------------------------------------

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
function patternRegex(pattern: string, user: string | undefined): RegExp | undefined {
  const parts: string[] = [];
  for (const seg of pattern.split('/')) {
    if (seg === '*') parts.push('[^/]+');
    else if (seg === '**') parts.push('[^/]+(?:/[^/]+)*');
    else if (seg === '${user}') {
      if (user === undefined) return undefined;
      parts.push(escape(user));
    } else parts.push(escape(seg));
  }
  return new RegExp(`^${parts.join('/')}$`);
}
const matches = (pattern: string, name: string, user: string | undefined) => patternRegex(pattern, user)?.test(name) ?? false;

const UNIVERSE_SEGMENTS = [...new Set([...SEGMENTS, ...USERNAMES, 'team-b-devs', 'zz-other'])];
const UNIVERSE: string[] = (() => {
  const names: string[] = [];
  let level = [''];
  for (let depth = 1; depth <= 4; depth++) {
    level = level.flatMap((p) => UNIVERSE_SEGMENTS.map((s) => (p === '' ? s : `${p}/${s}`)));
    names.push(...level);
  }
  return names;
})();
/** `inner` is within the union of `outers` if no name, for any user, matches it and no outer. */
function within(inner: string, outers: string[]): boolean {
  for (const user of [...USERNAMES, 'zz-user']) {
    const i = patternRegex(inner, user);
    const os = outers.map((o) => patternRegex(o, user)).filter((r): r is RegExp => r !== undefined);
    for (const name of UNIVERSE) if (i?.test(name) && !os.some((o) => o.test(name))) return false;
  }
  return true;
}
const glob = (pattern: string, ns: string, value: string) =>
  new RegExp(`^${pattern.split('${namespace}').join(ns).split('*').map(escape).join('.*')}$`).test(value);

function entriesFor(w: World, ns: string): Delegation[] {
  const labels = NAMESPACES.find((n) => n.name === ns)?.labels ?? {};
  return w.delegation.filter(
    (e) =>
      e.namespaces.from === 'All' ||
      (e.namespaces.from === 'Selector' && Object.entries(e.namespaces.selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v)),
  );
}
const prefixesOf = (w: World, ns: string) => entriesFor(w, ns).flatMap((e) => e.repositories.map((p) => p.split('${namespace}').join(ns)));
const admitted = (w: World, ns: string) => ns === HOME || entriesFor(w, ns).length > 0;
const nameConsented = (w: World, u: UserSpec) =>
  u.ns !== HOME && entriesFor(w, u.ns).some((e) => (e.identities?.usernames ?? []).some((p) => glob(p, u.ns, u.username)));

function validGrants(w: World): GrantSpec[] {
  return w.grants.filter((g) => {
    if (!admitted(w, g.ns)) return false;
    if (g.ns === HOME) return true;
    const prefixes = prefixesOf(w, g.ns);
    if (!g.repositories.every((r) => within(r, prefixes))) return false;
    return !g.catalog || entriesFor(w, g.ns).some((e) => e.catalog === true);
  });
}

function winners(w: World): Map<string, UserSpec> {
  const rank = (u: UserSpec) => (u.ns === HOME ? 0 : nameConsented(w, u) ? 1 : 2);
  const candidates = w.users
    .filter((u) => admitted(w, u.ns))
    .sort((a, b) => rank(a) - rank(b) || a.age - b.age || `${a.ns}/${a.name}`.localeCompare(`${b.ns}/${b.name}`));
  const out = new Map<string, UserSpec>();
  for (const u of candidates) if (!out.has(u.username)) out.set(u.username, u);
  return out;
}

type Expected = { status: 200; access: Map<string, string[]> } | { status: 400 | 401 };

function expected(w: World, r: Request): Expected {
  if (r.malformed !== undefined) return { status: 400 };
  let user: UserSpec | undefined;
  if (r.username !== undefined) {
    user = winners(w).get(r.username);
    if (user === undefined || user.disabled || user.password !== r.password) return { status: 401 };
  }
  const grants = validGrants(w);
  const delegated = user !== undefined && user.ns !== HOME;
  const consentedName = user !== undefined && nameConsented(w, user);
  const entries = user === undefined ? [] : entriesFor(w, user.ns);
  const trusted = (s: GrantSpec['subjects'][number]): boolean => {
    if (!delegated || user === undefined) return true;
    if (s.kind === 'User') return consentedName;
    if (s.kind === 'Group') return entries.some((e) => (e.identities?.groups ?? []).some((p) => glob(p, user.ns, s.name!)));
    return consentedName || entries.some((e) => e.identities?.authenticated === true);
  };
  const applies = (s: GrantSpec['subjects'][number]): boolean => {
    if (user === undefined) return s.kind === 'Anonymous';
    if (s.kind === 'User') return s.name === user.username;
    if (s.kind === 'Group') return user.groups.includes(s.name!);
    return s.kind === 'Authenticated';
  };
  const access = new Map<string, string[]>();
  for (const scope of r.scopes) {
    const [type, name, actionText] = scope.split(':') as [string, string, string];
    const asked = actionText.split(',');
    if (type === 'registry') {
      const ok = grants.some((g) => g.catalog && g.subjects.some((s) => applies(s) && trusted(s)));
      if (ok && asked.includes('*')) access.set(scope, ['*']);
      continue;
    }
    const allowed = new Set<string>();
    for (const g of grants) {
      for (const s of g.subjects) {
        if (!applies(s)) continue;
        for (const p of g.repositories) {
          if (!matches(p, name, user?.username)) continue;
          const confined = delegated && (!trusted(s) || (p.includes('${user}') && !consentedName));
          if (confined && !prefixesOf(w, user!.ns).some((q) => matches(q, name, user!.username))) continue;
          for (const a of g.actions.includes('*') ? ['pull', 'push', 'delete', '*'] : g.actions) allowed.add(a);
        }
      }
    }
    const granted = asked.filter((a) => allowed.has(a));
    if (granted.length > 0) access.set(scope, granted);
  }
  return { status: 200, access };
}

// ---- the system ----------------------------------------------------------------------------------------

const hashes = new Map<string, string>();
function compileWorld(w: World): PolicyState {
  const registry: RegistryResource = {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'Registry',
    metadata: { name: 'main', namespace: HOME },
    spec: { service: SERVICE, delegation: w.delegation },
  };
  const at = (age: number) => new Date(Date.UTC(2026, 0, 1 + age)).toISOString();
  const users: RegistryUserResource[] = w.users.map((u) => ({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RegistryUser',
    metadata: { name: u.name, namespace: u.ns, creationTimestamp: at(u.age), uid: `uid-${u.ns}-${u.name}`, generation: 1 },
    spec: {
      registryRef: { name: 'main', namespace: HOME },
      username: u.username,
      passwordSecretRef: { name: `${u.name}-pw` },
      groups: u.groups,
      disabled: u.disabled,
    },
  }));
  const grants: RepositoryGrantResource[] = w.grants.map((g) => ({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RepositoryGrant',
    metadata: { name: g.name, namespace: g.ns },
    spec: {
      registryRef: { name: 'main', namespace: HOME },
      subjects: g.subjects,
      repositories: g.repositories,
      actions: g.actions as ('pull' | 'push' | 'delete' | '*')[],
      catalog: g.catalog,
    },
  }));
  const credentials = new Map(w.users.map((u) => [`${u.ns}/${u.name}`, { hash: hashes.get(u.password) as string }]));
  const compiled = compileSnapshot({ registries: [registry], users, grants, namespaces: NAMESPACES, credentials });
  const part = compiled.registries[0]!;
  return buildPolicyState(part.snapshot, part.credentials, new Date());
}

let keys: { set: SigningKeySet; cleanup: () => Promise<void> };
beforeAll(async () => {
  keys = await makeKeys(new Date(Date.now() - 3600_000));
  for (let i = 0; i < 6; i++) hashes.set(`pw-${i}`, await bcrypt.hash(`pw-${i}`, 4));
});
afterAll(async () => keys?.cleanup());

describe('/token against a naive model of the rules', () => {
  it('never grants more than the model allows (and grants exactly that), never answers 5xx', async () => {
    const policy = new MemorySource<PolicyState>(undefined);
    const app = await build({
      policy,
      keys: new MemorySource({ set: keys.set, loadedAt: new Date() }),
      logger: captureLogger().logger,
      limits: { failuresPerAccountAndAddress: 1e9, failuresPerAddress: 1e9 },
    });
    await fc.assert(
      fc.asyncProperty(
        world.chain((w) => fc.tuple(fc.constant(w), fc.array(request(w), { minLength: 4, maxLength: 12 }))),
        async ([w, requests]) => {
          policy.set(compileWorld(w));
          for (const r of requests) {
            const query = new URLSearchParams({ service: SERVICE });
            if (r.malformed === 'repeated-service') query.append('service', SERVICE);
            for (const s of r.scopes) query.append('scope', s);
            if (r.malformed === 'bad-scope') query.append('scope', 'repository:Bad Name:pull');
            const headers = r.username === undefined ? {} : { authorization: `Basic ${Buffer.from(`${r.username}:${r.password}`).toString('base64')}` };
            const response = await app.inject({ method: 'GET', url: `/token?${query.toString()}`, headers });
            expect(response.statusCode).toBeLessThan(500);
            const want = expected(w, r);
            expect(response.statusCode, JSON.stringify({ w, r, body: response.body })).toBe(want.status);
            if (want.status !== 200) continue;
            const claims = JSON.parse(Buffer.from(response.json<{ token: string }>().token.split('.')[1]!, 'base64url').toString()) as {
              access: { type: string; name: string; actions: string[] }[];
            };
            const got = new Map(claims.access.map((a) => [`${a.type}:${a.name}`, a.actions]));
            const allowed = new Map([...want.access].map(([scope, actions]) => [scope.split(':').slice(0, 2).join(':'), actions]));
            for (const [scope, actions] of got) {
              const may = allowed.get(scope) ?? [];
              expect(
                actions.filter((a) => !may.includes(a)),
                `more than the model allows for ${scope}: ${JSON.stringify({ w, r })}`,
              ).toEqual([]);
            }
            expect(Object.fromEntries(got), JSON.stringify({ w, r })).toEqual(Object.fromEntries(allowed));
          }
        },
      ),
      { numRuns: 300 },
    );
    await app.close();
  }, 120_000);
});
