import { describe, expect, it } from 'vitest';
import { compileTagGlob } from './tag-glob.js';

describe('compileTagGlob', () => {
  it.each([
    ['v*', 'v1.2.3', true],
    ['v*', 'latest', false],
    ['latest', 'latest', true],
    ['latest', 'latest2', false],
    ['1.?.0', '1.2.0', true],
    ['1.?.0', '1.22.0', false],
    // `.` is literal: 1x2 must not match a glob 1.2.
    ['1.2', '1x2', false],
    ['*-rc.*', '2.0.0-rc.1', true],
    ['*', '', true],
    ['', '', true],
    ['', 'a', false],
    ['?', '', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'aXbYcZ', false],
    ['*a*b', 'xxaxxbxb', true],
    ['**', 'anything', true],
    ['v?*', 'v', false],
  ])('%s against %s -> %s', (glob, tag, expected) => {
    expect(compileTagGlob(glob)(tag)).toBe(expected);
  });

  it('agrees with the anchored RegExp it replaced on every glob and tag over a small alphabet', () => {
    const reference = (glob: string, tag: string): boolean =>
      new RegExp(`^${[...glob].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c)).join('')}$`, 's').test(tag);
    const words = (alphabet: string, max: number): string[] => {
      let all = [''];
      let last = [''];
      for (let n = 1; n <= max; n++) {
        last = last.flatMap((w) => [...alphabet].map((c) => w + c));
        all = all.concat(last);
      }
      return all;
    };
    const tags = words('ab', 5);
    for (const glob of words('ab*?', 4)) {
      const matches = compileTagGlob(glob);
      for (const tag of tags) expect(matches(tag), `${glob} against ${tag}`).toBe(reference(glob, tag));
    }
  });

  it('a pattern that made the RegExp backtrack exponentially answers at once (a tenant tag against the owner glob)', () => {
    // The RegExp took 68 s on this (review); the walk is bounded by pattern length times tag length.
    expect(compileTagGlob('*a*a*a*a*a*a*b')('a'.repeat(128))).toBe(false);
    expect(compileTagGlob('*a*a*a*a*a*a*b')(`${'a'.repeat(127)}b`)).toBe(true);
  });
});
