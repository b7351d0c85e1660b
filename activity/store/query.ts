// An EventQuery checked, then written as one SQL statement both databases run (`?` placeholders, times
// as Date parameters; each store adapts the two). Every filter is in SQL; `within` is in SQL as a
// pre-filter on the patterns' literal leading segments (repository-prefilter.ts) and decided exactly by
// policy/match.ts on the rows that come back, a page at a time, newest first: ts, then seq, both
// descending, which is also the order of the indexes the stores create.
//
// Time bounds are half-open, since <= timestamp < until, so consecutive windows never share an event.

import { compilePattern, matchRepository, type CompiledPattern } from '../../policy/match.js';
import { EVENT_ACTIONS, type EventAction, type EventQuery } from '../event.js';
import { repositoryPrefilter, type RepositoryCondition } from './repository-prefilter.js';
import { EVENTS_TABLE, SELECT_COLUMNS } from './rows.js';

export const DEFAULT_LIMIT = 500;
export const MAX_LIMIT = 5000;

export type SqlParam = string | number | null | Date;

export interface CheckedQuery {
  registry: string;
  actor?: string;
  repository?: string;
  action?: EventAction;
  digest?: string;
  tag?: string;
  since?: Date;
  until?: Date;
  limit: number;
  /** The `within` patterns compiled, and what SQL can check of them (undefined: nothing). */
  within?: { patterns: CompiledPattern[]; prefilter: RepositoryCondition[] | undefined };
}

/** Where the next page starts: just after (older than) the last row of the previous one. */
export interface PageStart {
  ts: Date;
  seq: number;
}

function optionalText(q: EventQuery, field: 'actor' | 'repository' | 'digest' | 'tag'): string | undefined {
  const value: unknown = q[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new Error(`query: ${field} must be a string`);
  return value;
}

function optionalTime(q: EventQuery, field: 'since' | 'until'): Date | undefined {
  const value: unknown = q[field];
  if (value === undefined) return undefined;
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new Error(`query: ${field} must be a valid Date`);
  return value;
}

/** Checks a query and fills in its defaults; throws a message naming the bad field. */
export function checkQuery(q: EventQuery): CheckedQuery {
  if (typeof q !== 'object' || q === null) throw new Error('query must be an object');
  if (typeof q.registry !== 'string' || q.registry === '') throw new Error('query: registry is required');
  const limit = q.limit ?? DEFAULT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`query: limit must be a positive integer (at most ${MAX_LIMIT})`);
  if (q.action !== undefined && !EVENT_ACTIONS.includes(q.action)) {
    throw new Error(`query: action ${JSON.stringify(q.action)} is not one of ${EVENT_ACTIONS.join(', ')}`);
  }
  const checked: CheckedQuery = { registry: q.registry, limit: Math.min(limit, MAX_LIMIT) };
  const actor = optionalText(q, 'actor');
  const repository = optionalText(q, 'repository');
  const digest = optionalText(q, 'digest');
  const tag = optionalText(q, 'tag');
  const since = optionalTime(q, 'since');
  const until = optionalTime(q, 'until');
  if (actor !== undefined) checked.actor = actor;
  if (repository !== undefined) checked.repository = repository;
  if (q.action !== undefined) checked.action = q.action;
  if (digest !== undefined) checked.digest = digest;
  if (tag !== undefined) checked.tag = tag;
  if (since !== undefined) checked.since = since;
  if (until !== undefined) checked.until = until;
  if (q.within !== undefined) checked.within = checkWithin(q.within, 'query');
  return checked;
}

/** `within` patterns compiled, and what SQL can check of them; `what` names the caller in errors. */
export function checkWithin(within: unknown, what: string): NonNullable<CheckedQuery['within']> {
  if (!Array.isArray(within)) throw new Error(`${what}: within must be a list of repository patterns`);
  const patterns = within.map((p: unknown) => {
    if (typeof p !== 'string') throw new Error(`${what}: within must be a list of repository patterns`);
    try {
      return compilePattern(p);
    } catch (error) {
      throw new Error(`${what}: within: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  });
  return { patterns, prefilter: repositoryPrefilter(patterns) };
}

/** The SQL condition of a `within` pre-filter, its values appended to `params`; undefined when there is nothing to check. */
export function prefilterCondition(prefilter: readonly RepositoryCondition[] | undefined, params: SqlParam[]): string | undefined {
  if (prefilter === undefined || prefilter.length === 0) return undefined;
  const alternatives = prefilter.map((c) => {
    if ('equals' in c) {
      params.push(c.equals);
      return 'repository = ?';
    }
    params.push(c.from, c.before);
    return '(repository >= ? AND repository < ?)';
  });
  return alternatives.length === 1 ? alternatives[0] : `(${alternatives.join(' OR ')})`;
}

/** True when no row can match: `within` was given and none of its patterns can match a name. */
export function matchesNothing(q: CheckedQuery): boolean {
  return q.within !== undefined && q.within.prefilter !== undefined && q.within.prefilter.length === 0;
}

/** The exact `within` decision for one stored repository name (true when the query has no `within`). */
export function withinMatches(q: CheckedQuery, repository: string): boolean {
  if (q.within === undefined) return true;
  return q.within.patterns.some((p) => matchRepository(p, repository, {}).matched);
}

/** One page of the query, newest first, starting after `start` when given. */
export function eventQuerySql(q: CheckedQuery, pageSize: number, start?: PageStart): { sql: string; params: SqlParam[] } {
  const where: string[] = ['registry = ?'];
  const params: SqlParam[] = [q.registry];
  const equal = (column: string, value: string | undefined): void => {
    if (value === undefined) return;
    where.push(`${column} = ?`);
    params.push(value);
  };
  equal('actor', q.actor);
  equal('repository', q.repository);
  equal('action', q.action);
  equal('digest', q.digest);
  equal('tag', q.tag);
  if (q.since !== undefined) {
    where.push('ts >= ?');
    params.push(q.since);
  }
  if (q.until !== undefined) {
    where.push('ts < ?');
    params.push(q.until);
  }
  const within = prefilterCondition(q.within?.prefilter, params);
  if (within !== undefined) where.push(within);
  if (start !== undefined) {
    where.push('(ts < ? OR (ts = ? AND seq < ?))');
    params.push(start.ts, start.ts, start.seq);
  }
  params.push(pageSize);
  // Two steps: the page's seqs from an index alone (the indexes carry repository, so a tenant's
  // filter is checked without reading rows it rejects), then only those rows.
  const order = 'ORDER BY ts DESC, seq DESC';
  const page = `SELECT seq FROM ${EVENTS_TABLE} WHERE ${where.join(' AND ')} ${order} LIMIT ?`;
  return { sql: `SELECT ${SELECT_COLUMNS} FROM ${EVENTS_TABLE} WHERE seq IN (${page}) ${order}`, params };
}
