import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  const good: [string, string, number][] = [
    ['seconds alone', '300s', 300],
    ['minutes alone', '5m', 300],
    ['hours and minutes', '1h30m', 5400],
    ['a day in hours', '24h', 86400],
    ['a month in hours', '720h', 2592000],
    ['every unit', '1h1m1s', 3661],
    ['a fraction of an hour', '1.5h', 5400],
    ['milliseconds round to the nearest second', '1500ms', 2],
    ['a bare zero', '0', 0],
  ];
  it.each(good)('%s: %s is %d seconds', (_sentence, text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  const bad: [string, string][] = [
    ['an empty string', ''],
    ['a number without unit', '300'],
    ['an unknown unit', '5d'],
    ['a negative duration', '-5m'],
    ['spaces', '5 m'],
    ['a trailing garbage', '5mx'],
    ['a leading garbage', 'x5m'],
    ['a unit without number', 'h'],
  ];
  it.each(bad)('rejects %s (%j) with a message naming the input', (_sentence, text) => {
    expect(() => parseDuration(text)).toThrow(/invalid duration/);
  });
});

describe('formatDuration', () => {
  const cases: [string, number, string][] = [
    ['zero', 0, '0s'],
    ['five minutes', 300, '5m'],
    ['an hour and a half', 5400, '1h30m'],
    ['a day', 86400, '24h'],
    ['odd seconds', 3661, '1h1m1s'],
  ];
  it.each(cases)('%s: %d seconds prints as %s', (_sentence, seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
  it('refuses negative seconds', () => {
    expect(() => formatDuration(-1)).toThrow();
  });
  it('round-trips through parseDuration for any whole number of seconds', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10_000_000 }), (n) => parseDuration(formatDuration(n)) === n));
  });
});
