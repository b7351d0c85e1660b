import { describe, expect, it } from 'vitest';
import { activeKey, type KeyValidity } from './active-key.js';

const key = (kid: string, from: number, until: number, extra: Partial<KeyValidity> = {}): KeyValidity => ({ kid, notBefore: from, notAfter: until, ...extra });

describe('activeKey', () => {
  const cases: [string, KeyValidity[], number, { registryId?: string; algorithm?: string }, string | undefined][] = [
    ['the newest key valid now signs', [key('old', 0, 100), key('new', 50, 100)], 60, {}, 'new'],
    ['a key not yet valid does not sign (it is only published)', [key('old', 0, 100), key('next', 70, 200)], 60, {}, 'old'],
    ['an expired key does not sign', [key('gone', 0, 60)], 60, {}, undefined],
    ['at the same start, the lower kid signs, whatever the order', [key('b', 10, 100), key('a', 10, 100)], 60, {}, 'a'],
    ["another registry's key does not sign", [key('theirs', 50, 100, { registry: 'x/other' }), key('any', 0, 100)], 60, { registryId: 'x/main' }, 'any'],
    ['a key for this registry signs', [key('mine', 50, 100, { registry: 'x/main' }), key('any', 0, 100)], 60, { registryId: 'x/main' }, 'mine'],
    [
      "the registry's algorithm is preferred over a newer key of another",
      [key('rsa', 50, 100, { algorithm: 'RS256' }), key('ec', 0, 100, { algorithm: 'ES256' })],
      60,
      { algorithm: 'ES256' },
      'ec',
    ],
    ['without a key of the preferred algorithm, the newest signs', [key('rsa', 50, 100, { algorithm: 'RS256' })], 60, { algorithm: 'ES256' }, 'rsa'],
  ];
  it.each(cases)('%s', (_sentence, keys, now, scope, expected) => {
    expect(activeKey(keys, now, scope)?.kid).toBe(expected);
  });
});
