// (policy, requester, requested scopes) -> granted actions per scope.
//
// Grants only ever add access, and access is the union over every grant whose subjects include the
// requester and whose pattern matches. Evaluation is indexed so a request never walks every grant:
// grants are bucketed by subject (user name, group, anonymous, authenticated), and within a subject by
// the pattern's first segment — a literal first segment goes in a map keyed by it, `${user}/…` in a
// bucket consulted only when the name starts with the requester's own name, and `*`/`**`-first
// patterns in a small bucket always consulted. A request touches only the buckets of its own subjects.

import { compilePattern, matchesParts, type CompiledPattern } from './match.js';
import type { ResourceScope } from './scope.js';
import type { Action, GrantEntry, RegistryPolicy, UserEntry } from './types.js';

export type Requester = { kind: 'anonymous' } | { kind: 'user'; username: string; groups: readonly string[] };

interface IndexedPattern {
  pattern: CompiledPattern;
  grant: GrantEntry;
  /** The repository actions this grant allows, `*` expanded. */
  allows: ReadonlySet<string>;
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

function subjectKey(kind: string, name?: string): string {
  switch (kind) {
    case 'User':
      return `user:${name ?? ''}`;
    case 'Group':
      return `group:${name ?? ''}`;
    case 'Anonymous':
      return 'anonymous';
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
  for (const user of registry.users) users.set(user.username, user);
  const subjects = new Map<string, SubjectBucket>();
  for (const grant of registry.grants) {
    const allows = new Set<string>(grant.actions.includes('*') ? REPOSITORY_ACTIONS : grant.actions);
    const patterns = grant.repositories.map((p) => compilePattern(p));
    const keys = new Set(grant.subjects.map((s) => subjectKey(s.kind, s.name)));
    for (const key of keys) {
      let bucket = subjects.get(key);
      if (bucket === undefined) {
        bucket = emptyBucket();
        subjects.set(key, bucket);
      }
      if (grant.catalog) bucket.catalog.push(grant.source);
      for (const pattern of patterns) {
        const entry: IndexedPattern = { pattern, grant, allows };
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
  return { registry, users, subjects };
}

function requesterSubjectKeys(requester: Requester): string[] {
  if (requester.kind === 'anonymous') return ['anonymous'];
  return [`user:${requester.username}`, 'authenticated', ...requester.groups.map((g) => `group:${g}`)];
}

function describe(requester: Requester): string {
  return requester.kind === 'anonymous' ? 'anonymous requests' : `user ${JSON.stringify(requester.username)}`;
}

function nothing(scope: ResourceScope, reason: string): ScopeDecision {
  return { scope, granted: [], grants: [], reason };
}

function authorizeRepository(index: PolicyIndex, requester: Requester, buckets: SubjectBucket[], scope: ResourceScope): ScopeDecision {
  const name = scope.name;
  const slash = name.indexOf('/');
  const first = slash < 0 ? name : name.slice(0, slash);
  const parts = name.split('/');
  const user = requester.kind === 'user' ? requester.username : undefined;
  const allowed = new Set<string>();
  const contributors = new Set<string>();
  let matchedAny = false;
  const consider = (list: readonly IndexedPattern[] | undefined): void => {
    if (list === undefined) return;
    for (const entry of list) {
      if (!matchesParts(entry.pattern, parts, user)) continue;
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
  for (const bucket of buckets) {
    consider(bucket.byFirstSegment.get(first));
    if (user !== undefined && first === user) consider(bucket.userFirst);
    consider(bucket.wildcardFirst);
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
  const buckets: SubjectBucket[] = [];
  for (const key of new Set(requesterSubjectKeys(requester))) {
    const bucket = index.subjects.get(key);
    if (bucket !== undefined) buckets.push(bucket);
  }
  return scopes.map((scope): ScopeDecision => {
    if (scope.type === 'repository') return authorizeRepository(index, requester, buckets, scope);
    if (scope.type === 'registry' && scope.name === 'catalog') {
      const sources = [...new Set(buckets.flatMap((b) => b.catalog))].sort();
      if (sources.length === 0) return nothing(scope, `no grant gives ${describe(requester)} the catalog`);
      if (!scope.actions.includes('*')) return nothing(scope, 'the catalog is granted only as action "*"');
      return { scope, granted: ['*'], grants: sources, reason: `catalog granted to ${describe(requester)} by ${sources.join(', ')}` };
    }
    return nothing(scope, `resource type ${JSON.stringify(scope.type)} ${JSON.stringify(scope.name)} is never granted`);
  });
}
