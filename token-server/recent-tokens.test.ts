import { describe, expect, it } from 'vitest';
import { RecentTokens, claimsKey } from './recent-tokens.js';

const base = { kid: 'k', iss: 'i', sub: 'alice', aud: 'svc', iat: 100, exp: 400, access: [{ type: 'repository', name: 'a', actions: ['pull'] }] };

describe('recent tokens', () => {
  it('returns a token only for the same claims in the same second', () => {
    const recent = new RecentTokens();
    recent.set(claimsKey(base), 100, 'T');
    expect(recent.get(claimsKey(base), 100)).toBe('T');
    expect(recent.get(claimsKey(base), 101)).toBeUndefined();
    expect(recent.get(claimsKey({ ...base, sub: 'bob' }), 100)).toBeUndefined();
    expect(recent.get(claimsKey({ ...base, kid: 'k2' }), 100)).toBeUndefined();
    expect(recent.get(claimsKey({ ...base, access: [{ type: 'repository', name: 'a', actions: ['pull', 'push'] }] }), 100)).toBeUndefined();
  });

  it('forgets the previous second and stays bounded', () => {
    const recent = new RecentTokens(2);
    recent.set('a', 1, 'A');
    recent.set('b', 1, 'B');
    recent.set('c', 1, 'C');
    expect(recent.get('c', 1)).toBeUndefined();
    recent.set('d', 2, 'D');
    expect(recent.get('a', 1)).toBeUndefined();
    expect(recent.get('d', 2)).toBe('D');
  });
});
