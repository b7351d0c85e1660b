import { describe, expect, it } from 'vitest';
import type { EventQuery } from '../event.js';
import { checkQuery, DEFAULT_LIMIT, eventQuerySql, MAX_LIMIT, matchesNothing, withinMatches } from './query.js';
import { pendingSchemaSteps } from './schema-version.js';

const REGISTRY = 'tenants/main';

describe('checkQuery', () => {
  it('fills in the default limit and clamps a large one', () => {
    expect(checkQuery({ registry: REGISTRY }).limit).toBe(DEFAULT_LIMIT);
    expect(checkQuery({ registry: REGISTRY, limit: 1_000_000 }).limit).toBe(MAX_LIMIT);
  });
  const refused: [string, unknown, RegExp][] = [
    ['no registry', { registry: '' }, /registry is required/],
    ['a zero limit', { registry: REGISTRY, limit: 0 }, /limit must be a positive integer/],
    ['a fractional limit', { registry: REGISTRY, limit: 1.5 }, /limit must be a positive integer/],
    ['an unknown action', { registry: REGISTRY, action: 'mount' }, /action "mount" is not one of push, pull, delete/],
    ['an invalid date', { registry: REGISTRY, until: new Date('no') }, /until must be a valid Date/],
    ['a number for an actor', { registry: REGISTRY, actor: 7 }, /actor must be a string/],
    ['within that is not a list', { registry: REGISTRY, within: 'team-a/**' }, /within must be a list/],
    ['a partial wildcard in within', { registry: REGISTRY, within: ['team-*'] }, /within: pattern "team-\*"/],
  ];
  it.each(refused)('refuses %s', (_sentence, q, message) => {
    expect(() => checkQuery(q as EventQuery)).toThrow(message);
  });
});

describe('within, decided by policy/match.ts', () => {
  it('matches whole segments only', () => {
    const q = checkQuery({ registry: REGISTRY, within: ['team-a/**'] });
    expect(['team-a/x', 'team-a/x/y', 'team-a', 'team-ab/x'].filter((r) => withinMatches(q, r))).toEqual(['team-a/x', 'team-a/x/y']);
  });
  it('an empty list, or patterns nobody filled in, match nothing without asking the database', () => {
    expect(matchesNothing(checkQuery({ registry: REGISTRY, within: [] }))).toBe(true);
    expect(matchesNothing(checkQuery({ registry: REGISTRY, within: ['users/${user}/**'] }))).toBe(true);
    expect(matchesNothing(checkQuery({ registry: REGISTRY, within: ['**'] }))).toBe(false);
  });
});

describe('eventQuerySql', () => {
  it('binds every filter in order, time as a half-open window, the range of each prefix, then the page size', () => {
    const since = new Date('2026-11-27T10:00:00Z');
    const until = new Date('2026-11-27T11:00:00Z');
    const { sql, params } = eventQuerySql(
      checkQuery({ registry: REGISTRY, actor: 'alice', action: 'push', since, until, within: ['team-a/**', 'shared/base'] }),
      50,
    );
    expect(sql).toContain(
      'WHERE registry = ? AND actor = ? AND action = ? AND ts >= ? AND ts < ? AND ((repository >= ? AND repository < ?) OR repository = ?) ORDER BY ts DESC, seq DESC LIMIT ?',
    );
    expect(params).toEqual([REGISTRY, 'alice', 'push', since, until, 'team-a/', 'team-a0', 'shared/base', 50]);
  });
  it('a later page starts strictly after the last row of the one before (ts, then seq)', () => {
    const last = new Date('2026-11-27T10:30:00Z');
    const { sql, params } = eventQuerySql(checkQuery({ registry: REGISTRY }), 10, { ts: last, seq: 42 });
    expect(sql).toContain('AND (ts < ? OR (ts = ? AND seq < ?))');
    expect(params).toEqual([REGISTRY, last, last, 42, 10]);
  });
  it('a pattern starting with a wildcard adds no repository condition', () => {
    expect(eventQuerySql(checkQuery({ registry: REGISTRY, within: ['*/app'] }), 10).sql).not.toMatch(/repository [=<>]/);
  });
});

describe('pendingSchemaSteps', () => {
  const steps = [['v1'], ['v2']];
  it('runs the steps past the recorded version', () => {
    expect(pendingSchemaSteps(0, steps)).toEqual([['v1'], ['v2']]);
    expect(pendingSchemaSteps(1, steps)).toEqual([['v2']]);
    expect(pendingSchemaSteps(2, steps)).toEqual([]);
  });
  it('refuses a database a newer release wrote', () => {
    expect(() => pendingSchemaSteps(3, steps)).toThrow(/schema version 3, newer than the 2 this Portcullis knows/);
  });
});
