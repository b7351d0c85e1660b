import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseRetentionAge, RETENTION_AGE_PATTERN } from './age.js';

describe('parseRetentionAge', () => {
  it.each<[string, number]>([
    ['7d', 7 * 86_400_000],
    ['0d', 0],
    ['168h', 168 * 3_600_000],
    ['90m', 90 * 60_000],
    ['1h30m', 90 * 60_000],
  ])('%s', (input, ms) => {
    expect(parseRetentionAge(input)).toBe(ms);
    expect(new RegExp(RETENTION_AGE_PATTERN).test(input)).toBe(true);
  });

  it.each(['', '7', 'd', '1w', '7days', '-7d', '1d12h', ' 7d'])('refuses %j, as the CRD pattern does', (input) => {
    expect(() => parseRetentionAge(input)).toThrow(/invalid age/);
    expect(new RegExp(RETENTION_AGE_PATTERN).test(input)).toBe(false);
  });

  it('the CRD validates ages with the same pattern', () => {
    const crd = readFileSync(new URL('../../crds/retentionpolicies.yaml', import.meta.url), 'utf8');
    const patterns = [...crd.matchAll(/pattern: '(\^\(\[0-9\]\{1,6\}d[^']*)'/g)].map((m) => m[1]);
    expect(patterns.length).toBeGreaterThanOrEqual(2);
    for (const p of patterns) expect(p).toBe(RETENTION_AGE_PATTERN);
  });
});
