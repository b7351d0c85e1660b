import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { register, rotationRequestFor } from './keys-rotate.js';

describe('keys rotate', () => {
  it.each([
    ['no flag rotates the signing key', { ca: false, emergency: false }, 'keys'],
    ['--ca rotates the CA with overlap', { ca: true, emergency: false }, 'ca'],
    ['--emergency rotates the CA at once, with or without --ca', { ca: true, emergency: true }, 'ca-emergency'],
  ])('%s', (_name, flags, expected) => {
    expect(rotationRequestFor(flags)).toBe(expected);
  });

  it('registers `rotate` with its spelled options under the keys group', () => {
    const keys = new Command('keys');
    register(keys);
    const rotate = keys.commands.find((c) => c.name() === 'rotate');
    expect(rotate?.options.map((o) => o.long).sort()).toEqual(['--ca', '--emergency', '--namespace']);
    expect(rotate?.options.find((o) => o.long === '--namespace')?.short).toBe('-n');
  });
});
