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
  ])('%s against %s -> %s', (glob, tag, expected) => {
    expect(compileTagGlob(glob)(tag)).toBe(expected);
  });
});
