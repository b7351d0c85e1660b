import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePattern, matchRepository, patternWithin, substituteNamespace, validatePattern, withinBySubsets } from './match.js';

const match = (pattern: string, name: string, user?: string): boolean =>
  matchRepository(compilePattern(pattern), name, user === undefined ? {} : { user }).matched;

describe('validatePattern', () => {
  const good: [string, string][] = [
    ['an exact name', 'team/app'],
    ['one-segment wildcard', 'team/*'],
    ['any depth', 'team/**'],
    ['everything', '**'],
    ['the user variable', 'users/${user}/*'],
    ['a domain first segment', 'localhost:5000/app'],
    ['** in the middle', 'team/**/cache'],
  ];
  it.each(good)('accepts %s: %s', (_sentence, p) => {
    expect(validatePattern(p)).toBeUndefined();
  });
  const bad: [string, string][] = [
    ['an empty pattern', ''],
    ['an empty segment', 'team//app'],
    ['a trailing slash', 'team/'],
    ['a partial wildcard', 'team-*'],
    ['a partial variable', 'u-${user}'],
    ['upper case', 'Team/App'],
    ['an unknown variable', '${group}/app'],
    ['${namespace} outside delegation prefixes', '${namespace}/**'],
  ];
  it.each(bad)('refuses %s: %j', (_sentence, p) => {
    expect(validatePattern(p)).toEqual(expect.any(String));
  });
  it('accepts ${namespace} in delegation prefixes', () => {
    expect(validatePattern('${namespace}/**', { allowNamespace: true })).toBeUndefined();
  });
});

describe('matchRepository', () => {
  const cases: [string, string, string, string | undefined, boolean][] = [
    ['an exact name matches itself', 'team/app', 'team/app', undefined, true],
    ['an exact name does not match a child', 'team/app', 'team/app/x', undefined, false],
    ['* matches one segment', 'team/*', 'team/app', undefined, true],
    ['* does not match two segments', 'team/*', 'team/a/b', undefined, false],
    ['* does not match zero segments', 'team/*', 'team', undefined, false],
    ['** matches one segment', 'team/**', 'team/a', undefined, true],
    ['** matches many segments', 'team/**', 'team/a/b/c', undefined, true],
    ['team/** does not match team itself', 'team/**', 'team', undefined, false],
    ['** alone matches anything', '**', 'a/b/c', undefined, true],
    ['** in the middle', 'team/**/cache', 'team/a/b/cache', undefined, true],
    ['** in the middle needs at least one segment', 'team/**/cache', 'team/cache', undefined, false],
    ['${user} matches the requesting user', 'users/${user}/*', 'users/alice/app', 'alice', true],
    ['${user} does not match another user', 'users/${user}/*', 'users/bob/app', 'alice', false],
    ['${user} never matches anonymous requests', '${user}/**', 'alice/app', undefined, false],
    ['a user name with a slash cannot span segments', '${user}', 'a/b', 'a/b', false],
    ['names with a domain', 'localhost:5000/**', 'localhost:5000/a/b', undefined, true],
    ['a prefix is not a match', 'team', 'teams', undefined, false],
  ];
  it.each(cases)('%s (%s vs %s)', (_sentence, pattern, name, user, matched) => {
    expect(match(pattern, name, user)).toBe(matched);
  });
  it('explains a mismatch', () => {
    const r = matchRepository(compilePattern('team/*'), 'other/app', {});
    expect(r.matched).toBe(false);
    expect(r.why).toContain('team');
    expect(matchRepository(compilePattern('${user}/*'), 'alice/app', {}).why).toContain('${user}');
  });
  it('explains a match', () => {
    expect(matchRepository(compilePattern('team/*'), 'team/app', {}).why).toContain('matches');
  });
});

// A naive reference: the pattern as a regular expression.
function naive(pattern: string, name: string, user?: string): boolean {
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const parts = pattern.split('/').map((seg) => {
    if (seg === '*') return '[^/]+';
    if (seg === '**') return '[^/]+(?:/[^/]+)*';
    if (seg === '${user}') return user === undefined ? '(?!)' : esc(user);
    return esc(seg);
  });
  return new RegExp(`^${parts.join('/')}$`).test(name);
}

const literal = fc.constantFrom('a', 'b', 'c', 'alice');
const segment = fc.oneof(literal, fc.constant('*'), fc.constant('**'), fc.constant('${user}'));
const pattern = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));
const name = fc.array(fc.constantFrom('a', 'b', 'c', 'alice', 'zz'), { minLength: 1, maxLength: 6 }).map((s) => s.join('/'));
const user = fc.option(fc.constantFrom('alice', 'a', 'zz'), { nil: undefined });

describe('matching properties', () => {
  it('agrees with a naive regular-expression matcher', () => {
    fc.assert(
      fc.property(pattern, name, user, (p, n, u) => {
        expect(match(p, n, u)).toBe(naive(p, n, u));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('patternWithin', () => {
  const cases: [string, string, string, boolean][] = [
    ['a pattern lies within itself', 'team/**', 'team/**', true],
    ['an exact name within its prefix', 'team/app', 'team/**', true],
    ['one segment within any depth', 'team/*', 'team/**', true],
    ['any depth is not within one segment', 'team/**', 'team/*', false],
    ['the prefix root itself is not within team/**', 'team', 'team/**', false],
    ['another team is not within', 'other/**', 'team/**', false],
    ['everything is not within a prefix', '**', 'team/**', false],
    ['a prefix is within everything', 'team/**', '**', true],
    ['${user} acts like * against a literal', 'team/${user}', 'team/alice', false],
    ['${user} acts like * against *', 'team/${user}/*', 'team/*/*', true],
    ['* is not within ${user}', 'team/*', 'team/${user}', false],
    ['${user} within ${user}', '${user}/**', '${user}/**', true],
    ['a deeper ** is within a shallower one', 'team/a/**', 'team/**', true],
    ['two stars within ** and *', 'team/*/*', 'team/**/*', true],
    ['team/**/x within team/**', 'team/**/x', 'team/**', true],
    ['team/** not within team/**/x', 'team/**', 'team/**/x', false],
  ];
  it.each(cases)('%s: %s in %s', (_sentence, inner, outer, within) => {
    expect(patternWithin(inner, outer)).toBe(within);
  });

  it('agrees with brute force over a finite universe of names and users', () => {
    const alphabet = ['a', 'b', 'alice', 'zz'];
    const names: string[] = [];
    const grow = (prefix: string[], depth: number): void => {
      if (prefix.length > 0) names.push(prefix.join('/'));
      if (depth === 0) return;
      for (const s of alphabet) grow([...prefix, s], depth - 1);
    };
    grow([], 5);
    const users = ['alice', 'a', 'yy'];
    const small = fc
      .array(fc.oneof(fc.constantFrom('a', 'b', 'alice'), fc.constant('*'), fc.constant('**'), fc.constant('${user}')), { minLength: 1, maxLength: 3 })
      .map((s) => s.join('/'));
    fc.assert(
      fc.property(small, small, (inner, outer) => {
        const brute = users.every((u) => names.every((n) => !match(inner, n, u) || match(outer, n, u)));
        expect(patternWithin(inner, outer)).toBe(brute);
      }),
      { numRuns: 300 },
    );
  });

  it('every pair of up to four segments is decided within the work budget, and the prefix shapes read segment by segment agree', () => {
    const symbols = ['a', 'b', '*', '**', '${user}'];
    const patterns: string[] = [];
    const grow = (prefix: string[]): void => {
      if (prefix.length > 0) patterns.push(prefix.join('/'));
      if (prefix.length === 4) return;
      for (const s of symbols) grow([...prefix, s]);
    };
    grow([]);
    const outers = ['a/**', 'a/*', 'a/b', 'a/b/**', '**', '*', 'a', '*/**', '**/b', 'a/**/b', '${user}/**', 'a/*/**'];
    for (const outer of outers) {
      const b = compilePattern(outer).segments;
      for (const inner of patterns) {
        const a = compilePattern(inner).segments;
        // Without a budget: the exact answer. patternWithin (the shapes read segment by segment, or the
        // subsets within the budget) must give the same.
        expect(patternWithin(inner, outer), `${inner} in ${outer}`).toBe(withinBySubsets(a, b, Infinity));
      }
    }
  });

  it('a pattern crafted to make the subset construction work hard is decided at once against a delegation prefix, refused against others', () => {
    const segments = ['team-a'];
    while (segments.join('/').length < 250) segments.push(segments.length % 2 === 1 ? '**' : '*');
    const crafted = segments.join('/');
    expect(validatePattern(crafted)).toBeUndefined();
    // team-a/** (what ${namespace}/** becomes) is read segment by segment: within.
    expect(patternWithin(crafted, 'team-a/**')).toBe(true);
    // A prefix of another shape goes to the subset construction, which gives up past its budget: refused,
    // never minutes of an operator's event loop (before: 10-20 ms a pattern, 64 a grant, at every change).
    expect(withinBySubsets(compilePattern(crafted).segments, compilePattern('team-a/*/**').segments)).toBe(false);
    expect(withinBySubsets(compilePattern(crafted).segments, compilePattern('team-a/*/**').segments, Infinity)).toBe(true);
  });
});

describe('substituteNamespace', () => {
  it('replaces whole ${namespace} segments only', () => {
    expect(substituteNamespace('${namespace}/**', 'team-a')).toBe('team-a/**');
    expect(substituteNamespace('shared/${namespace}/*', 'b')).toBe('shared/b/*');
  });
});
