// What SQL can check of a tenant's `within` patterns before policy/match.ts decides exactly: the literal
// segments a pattern starts with. `team-a/**` becomes "repository in [team-a/, team-a0)", `team-a/app`
// becomes "repository = team-a/app", so a tenant's query walks the (registry, repository, ts) index
// instead of the whole registry. The pre-filter may let through more than the patterns match (never
// less); the store applies matchRepository to every row it returns.
//
// Why a half-open range and not `LIKE 'team-a/%'`: SQLite's LIKE ignores ASCII case and can use an
// index only under NOCASE collation or the deprecated case_sensitive_like pragma, which the
// better-sqlite3 build leaves out (SQLITE_OMIT_DEPRECATED); PostgreSQL's LIKE needs a "C" collation or
// text_pattern_ops to use one. A range over a binary-ordered column is what both planners turn a prefix
// LIKE into anyway, is exact, and leaves nothing to escape: `%` and `_` in a name are plain characters.

import type { CompiledPattern } from '../../policy/match.js';

/** One condition on the repository column: an exact name, or every name starting with `from`. */
export type RepositoryCondition = { equals: string } | { from: string; before: string };

/**
 * The repository conditions one of which every match of `patterns` satisfies, or undefined when some
 * pattern starts with a wildcard (nothing to pre-filter on: the whole registry is a candidate). An empty
 * list means no repository can match (every pattern needs a `${user}` or `${namespace}` nobody filled in).
 */
export function repositoryPrefilter(patterns: readonly CompiledPattern[]): RepositoryCondition[] | undefined {
  const conditions: RepositoryCondition[] = [];
  for (const pattern of patterns) {
    const segments = pattern.segments;
    // matchRepository runs without a user here, and an unsubstituted ${namespace} matches nothing.
    if (segments.some((s) => s.kind === 'user' || s.kind === 'namespace')) continue;
    const literals: string[] = [];
    for (const segment of segments) {
      if (segment.kind !== 'literal') break;
      literals.push(segment.value);
    }
    if (literals.length === 0) return undefined;
    if (literals.length === segments.length) {
      conditions.push({ equals: literals.join('/') });
      continue;
    }
    // Wildcards stand for whole segments, so a match continues past the literals with a `/`; the
    // names starting with `prefix/` are exactly those from `prefix/` up to, not including, `prefix0`
    // ('0' is the character after '/', in code point and so in UTF-8 byte order).
    const prefix = `${literals.join('/')}/`;
    conditions.push({ from: prefix, before: `${prefix.slice(0, -1)}0` });
  }
  return conditions;
}
