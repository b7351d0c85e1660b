// (policy, requester, requested scopes) -> granted actions per scope.
//
// Grants only ever add access, and access is the union over every grant whose subjects include the
// requester and whose pattern matches. Evaluation is indexed so a request never walks every grant:
// grants are bucketed by subject (user name, group, anonymous, authenticated), and within a subject by
// the pattern's first segment — a literal first segment goes in a map keyed by it, `${user}/…` in a
// bucket consulted only when the name starts with the requester's own name, and `*`/`**`-first
// patterns in a small bucket always consulted. A request touches only the buckets of its own subjects.
// Within a bucket, a pattern whose second segment is literal is passed over by one string comparison
// when the name's second part differs (a literal consumes exactly one part), so a team's hundreds of
// `team/app-N/*` grants cost a name hundreds of comparisons, not hundreds of matches.
//
// Tenancy: a user from a delegated namespace is confined to that namespace's prefixes. A match counts
// outside them only when it came through an identity the Registry consented to (its username, a group,
// Authenticated), and a `${user}` pattern only when the username itself is consented — otherwise a
// tenant naming its robot `library` would own `library/*` through a `${user}/*` grant.

import { compilePattern, matchesParts, type CompiledPattern } from './match.js';
import type { ResourceScope } from './scope.js';
import type { Action, GrantEntry, RegistryPolicy, UserEntry } from './types.js';

interface TenancyIndex {
  namespace: string;
  prefixes: CompiledPattern[];
  trustedUsername: boolean;
  trustedGroups: ReadonlySet<string>;
  trustedAuthenticated: boolean;
}

/** Where an identity that is not a RegistryUser was verified. */
export type IdentitySource = 'ldap' | 'oidc' | 'serviceaccount';

/**
 * Who asks. A `user` is a RegistryUser of the snapshot; an `identity` comes from an identity source (its
 * names already carry the source's prefix). Identities are registry-wide: a source is configured on the
 * Registry by its owner, so no tenancy confines them; they match `Authenticated` only where the source says so.
 */
export type Requester =
  | { kind: 'anonymous' }
  | { kind: 'user'; username: string; groups: readonly string[] }
  | {
      kind: 'identity';
      source: IdentitySource;
      username: string;
      groups: readonly string[];
      authenticated: boolean;
      serviceAccount?: { namespace: string; name: string };
    };

interface IndexedPattern {
  pattern: CompiledPattern;
  grant: GrantEntry;
  /** The repository actions this grant allows, `*` expanded. */
  allows: ReadonlySet<string>;
  /** The pattern's second segment when it and the first are literal: a name whose second part differs cannot match. */
  literalSecond: string | undefined;
}

interface SubjectBucket {
  byFirstSegment: Map<string, IndexedPattern[]>;
  userFirst: IndexedPattern[];
  wildcardFirst: IndexedPattern[];
  /** Sources of catalog grants for this subject. */
  catalog: string[];
}

export interface PolicyIndex {
  readonly registry: RegistryPolicy;
  readonly users: ReadonlyMap<string, UserEntry>;
  /** @internal username -> the confinement of a user from a delegated namespace. */
  readonly tenancy: ReadonlyMap<string, TenancyIndex>;
  /** @internal subject key -> bucket. */
  readonly subjects: ReadonlyMap<string, SubjectBucket>;
}

export interface ScopeDecision {
  scope: ResourceScope;
  granted: string[];
  /** Sources (`namespace/name`) of the grants that contributed a granted action; sorted. */
  grants: string[];
  /** A sentence: why these actions were granted, or why nothing was. */
  reason: string;
}

/** What a grant action allows on a repository: `*` stands for every repository action and itself. */
const REPOSITORY_ACTIONS: readonly Action[] = ['pull', 'push', 'delete', '*'];

function subjectKey(kind: string, name?: string, namespace?: string): string {
  switch (kind) {
    case 'User':
      return `user:${name ?? ''}`;
    case 'Group':
      return `group:${name ?? ''}`;
    case 'Anonymous':
      return 'anonymous';
    case 'ServiceAccount':
      return `serviceaccount:${namespace ?? ''}/${name ?? '*'}`;
    default:
      return 'authenticated';
  }
}

function emptyBucket(): SubjectBucket {
  return { byFirstSegment: new Map(), userFirst: [], wildcardFirst: [], catalog: [] };
}

/** Indexes a registry's policy for `authorize`. Build once per snapshot; reuse for every request. */
export function buildPolicyIndex(registry: RegistryPolicy): PolicyIndex {
  const users = new Map<string, UserEntry>();
  const tenancy = new Map<string, TenancyIndex>();
  for (const user of registry.users) {
    users.set(user.username, user);
    const t = user.tenancy;
    if (t === undefined) continue;
    tenancy.set(user.username, {
      namespace: t.namespace,
      prefixes: t.prefixes.map((p) => compilePattern(p)),
      trustedUsername: t.trustedUsername,
      trustedGroups: new Set(t.trustedGroups),
      trustedAuthenticated: t.trustedAuthenticated,
    });
  }
  const subjects = new Map<string, SubjectBucket>();
  for (const grant of registry.grants) {
    const allows = new Set<string>(grant.actions.includes('*') ? REPOSITORY_ACTIONS : grant.actions);
    const patterns = grant.repositories.map((p) => compilePattern(p));
    const keys = new Set(grant.subjects.map((s) => subjectKey(s.kind, s.name, s.namespace)));
    for (const key of keys) {
      let bucket = subjects.get(key);
      if (bucket === undefined) {
        bucket = emptyBucket();
        subjects.set(key, bucket);
      }
      if (grant.catalog) bucket.catalog.push(grant.source);
      for (const pattern of patterns) {
        const second = pattern.segments[1];
        const literalSecond = pattern.literalPrefix !== undefined && second?.kind === 'literal' ? second.value : undefined;
        const entry: IndexedPattern = { pattern, grant, allows, literalSecond };
        const first = pattern.segments[0];
        if (pattern.literalPrefix !== undefined) {
          const list = bucket.byFirstSegment.get(pattern.literalPrefix);
          if (list === undefined) bucket.byFirstSegment.set(pattern.literalPrefix, [entry]);
          else list.push(entry);
        } else if (first?.kind === 'user') {
          bucket.userFirst.push(entry);
        } else if (first?.kind !== 'namespace') {
          bucket.wildcardFirst.push(entry);
        }
      }
    }
  }
  return { registry, users, tenancy, subjects };
}

/** A subject bucket the requester belongs to, and whether matches through it count beyond the tenancy prefixes. */
interface RequesterBucket {
  bucket: SubjectBucket;
  trusted: boolean;
}

function requesterSubjects(requester: Requester, tenancy: TenancyIndex | undefined): { key: string; trusted: boolean }[] {
  if (requester.kind === 'anonymous') return [{ key: 'anonymous', trusted: true }];
  if (requester.kind === 'identity') {
    const sa = requester.serviceAccount;
    return [
      { key: `user:${requester.username}`, trusted: true },
      ...(requester.authenticated ? [{ key: 'authenticated', trusted: true }] : []),
      ...(sa === undefined
        ? []
        : [
            { key: `serviceaccount:${sa.namespace}/${sa.name}`, trusted: true },
            { key: `serviceaccount:${sa.namespace}/*`, trusted: true },
          ]),
      ...requester.groups.map((g) => ({ key: `group:${g}`, trusted: true })),
    ];
  }
  return [
    { key: `user:${requester.username}`, trusted: tenancy === undefined || tenancy.trustedUsername },
    // A consented username is a registry-wide user, and so authenticated registry-wide too.
    { key: 'authenticated', trusted: tenancy === undefined || tenancy.trustedAuthenticated || tenancy.trustedUsername },
    ...requester.groups.map((g) => ({ key: `group:${g}`, trusted: tenancy === undefined || tenancy.trustedGroups.has(g) })),
  ];
}

function usesUser(pattern: CompiledPattern): boolean {
  return pattern.segments.some((s) => s.kind === 'user');
}

function describe(requester: Requester): string {
  if (requester.kind === 'anonymous') return 'anonymous requests';
  if (requester.kind === 'identity') return `${requester.source} identity ${JSON.stringify(requester.username)}`;
  return `user ${JSON.stringify(requester.username)}`;
}

function nothing(scope: ResourceScope, reason: string): ScopeDecision {
  return { scope, granted: [], grants: [], reason };
}

function authorizeRepository(
  requester: Requester,
  buckets: readonly RequesterBucket[],
  tenancy: TenancyIndex | undefined,
  scope: ResourceScope,
): ScopeDecision {
  const name = scope.name;
  const parts = name.split('/');
  const first = parts[0] as string;
  const second = parts[1];
  const user = requester.kind === 'anonymous' ? undefined : requester.username;
  const allowed = new Set<string>();
  const contributors = new Set<string>();
  let matchedAny = false;
  let confinedAway = false;
  let inside: boolean | undefined;
  const withinTenancy = (): boolean => (inside ??= tenancy !== undefined && tenancy.prefixes.some((p) => matchesParts(p, parts, user)));
  const consider = (list: readonly IndexedPattern[] | undefined, trusted: boolean): void => {
    if (list === undefined) return;
    for (const entry of list) {
      if (entry.literalSecond !== undefined && entry.literalSecond !== second) continue;
      if (!matchesParts(entry.pattern, parts, user)) continue;
      const confined = tenancy !== undefined && (!trusted || (usesUser(entry.pattern) && !tenancy.trustedUsername));
      if (confined && !withinTenancy()) {
        confinedAway = true;
        continue;
      }
      matchedAny = true;
      let contributed = false;
      for (const action of scope.actions) {
        if (entry.allows.has(action)) {
          allowed.add(action);
          contributed = true;
        }
      }
      if (contributed) contributors.add(entry.grant.source);
    }
  };
  for (const { bucket, trusted } of buckets) {
    consider(bucket.byFirstSegment.get(first), trusted);
    if (user !== undefined && first === user) consider(bucket.userFirst, trusted);
    consider(bucket.wildcardFirst, trusted);
  }
  const granted = scope.actions.filter((a) => allowed.has(a));
  const grants = [...contributors].sort();
  const who = describe(requester);
  if (granted.length > 0) {
    const denied = scope.actions.filter((a) => !allowed.has(a));
    const rest = denied.length > 0 ? `; not ${denied.join(', ')}` : '';
    return { scope, granted, grants, reason: `${granted.join(', ')} on ${JSON.stringify(name)} granted to ${who} by ${grants.join(', ')}${rest}` };
  }
  if (matchedAny) {
    return nothing(scope, `grants for ${who} match ${JSON.stringify(name)} but none allows ${scope.actions.join(', ')}`);
  }
  if (confinedAway && tenancy !== undefined) {
    return nothing(
      scope,
      `${who} is from delegated namespace ${tenancy.namespace} and reaches only ${tenancy.prefixes.map((p) => p.source).join(', ')}; ` +
        `${JSON.stringify(name)} is outside, and no identity the Registry's delegation consents to matches it`,
    );
  }
  return nothing(scope, `no grant for ${who} matches repository ${JSON.stringify(name)}`);
}

/**
 * Decides every requested scope. Scopes with nothing granted are returned with `granted: []`
 * (the token server leaves them out of the token). Order follows `scopes`.
 */
export function authorize(index: PolicyIndex, requester: Requester, scopes: readonly ResourceScope[]): ScopeDecision[] {
  if (requester.kind === 'user') {
    const entry = index.users.get(requester.username);
    if (entry === undefined) {
      return scopes.map((s) => nothing(s, `user ${JSON.stringify(requester.username)} is not known to registry ${index.registry.id}`));
    }
    if (entry.disabled) {
      return scopes.map((s) => nothing(s, `user ${JSON.stringify(requester.username)} is disabled`));
    }
  }
  const tenancy = requester.kind === 'user' ? index.tenancy.get(requester.username) : undefined;
  const buckets: RequesterBucket[] = [];
  const seen = new Set<string>();
  for (const { key, trusted } of requesterSubjects(requester, tenancy)) {
    const bucket = index.subjects.get(key);
    if (bucket === undefined || seen.has(key)) continue;
    seen.add(key);
    buckets.push({ bucket, trusted });
  }
  return scopes.map((scope): ScopeDecision => {
    if (scope.type === 'repository') return authorizeRepository(requester, buckets, tenancy, scope);
    if (scope.type === 'registry' && scope.name === 'catalog') {
      // The catalog lists every repository: never through an identity confined to a namespace's prefixes.
      const sources = [...new Set(buckets.filter((b) => b.trusted).flatMap((b) => b.bucket.catalog))].sort();
      if (sources.length === 0) return nothing(scope, `no grant gives ${describe(requester)} the catalog`);
      if (!scope.actions.includes('*')) return nothing(scope, 'the catalog is granted only as action "*"');
      return { scope, granted: ['*'], grants: sources, reason: `catalog granted to ${describe(requester)} by ${sources.join(', ')}` };
    }
    return nothing(scope, `resource type ${JSON.stringify(scope.type)} ${JSON.stringify(scope.name)} is never granted`);
  });
}
