import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePattern, matchRepository } from '../../policy/match.js';
import { repositoryPrefilter, type RepositoryCondition } from './repository-prefilter.js';

const prefilter = (...patterns: string[]): RepositoryCondition[] | undefined => repositoryPrefilter(patterns.map((p) => compilePattern(p)));

/** What the SQL condition lets through, evaluated as SQL would (binary string order). */
const admits = (conditions: RepositoryCondition[], name: string): boolean =>
  conditions.some((c) => ('equals' in c ? name === c.equals : name >= c.from && name < c.before));

describe('repositoryPrefilter', () => {
  const cases: [string, string[], RepositoryCondition[] | undefined][] = [
    ['a tenant prefix is the range of names under it', ['team-a/**'], [{ from: 'team-a/', before: 'team-a0' }]],
    ['a literal pattern is one exact name', ['team-a/app'], [{ equals: 'team-a/app' }]],
    ['literals up to the first wildcard make the prefix', ['team-a/svc/*/cache'], [{ from: 'team-a/svc/', before: 'team-a/svc0' }]],
    ['a one-segment wildcard after a literal', ['team-a/*'], [{ from: 'team-a/', before: 'team-a0' }]],
    ['several patterns are alternatives', ['team-a/**', 'shared/base'], [{ from: 'team-a/', before: 'team-a0' }, { equals: 'shared/base' }]],
    ['a pattern starting with a wildcard leaves nothing to pre-filter', ['team-a/**', '*/app'], undefined],
    ['everything', ['**'], undefined],
    ['${user} never matches without a user: the pattern adds nothing', ['users/${user}/**'], []],
    ['an unsubstituted ${namespace} matches nothing', ['${namespace}/**', 'team-b/x'], [{ equals: 'team-b/x' }]],
    ['LIKE metacharacters are plain characters', ['a_b/**'], [{ from: 'a_b/', before: 'a_b0' }]],
    ['a domain first segment', ['localhost:5000/**'], [{ from: 'localhost:5000/', before: 'localhost:50000' }]],
  ];
  it.each(cases)('%s', (_sentence, patterns, expected) => {
    expect(prefilter(...patterns)).toEqual(expected);
  });

  it('a tenant range holds its own names and not its neighbours', () => {
    const conditions = prefilter('team-a/**') as RepositoryCondition[];
    expect(['team-a/x', 'team-a/x/y', 'team-a/%x', 'team-a/_'].filter((n) => admits(conditions, n))).toHaveLength(4);
    expect(['team-ab/x', 'team-b/x', 'team-a', 'team-a0/x', 'team-A/x', 'team-a.x/y'].filter((n) => admits(conditions, n))).toEqual([]);
  });

  // The pre-filter may admit more than the patterns match, never less: a name a pattern matches always
  // passes the SQL condition.
  const segment = fc.constantFrom('a', 'b', 'a_b', 'a-b', 'team-a', 'team-ab', 'x', 'a.b', '0');
  const patternSegment = fc.oneof(segment, fc.constant('*'), fc.constant('**'));
  it('never drops a name the patterns match', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(patternSegment, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 3 }),
        fc.array(segment, { minLength: 1, maxLength: 5 }),
        (patterns, parts) => {
          const compiled = patterns.map((p) => compilePattern(p.join('/')));
          const name = parts.join('/');
          const conditions = repositoryPrefilter(compiled);
          const matched = compiled.some((p) => matchRepository(p, name, {}).matched);
          if (matched && conditions !== undefined) expect(admits(conditions, name)).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
