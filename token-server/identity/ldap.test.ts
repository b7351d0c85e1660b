import { describe, expect, it } from 'vitest';
import { escapeFilterValue } from './ldap.js';
import { peekJwt } from './jwt-shape.js';

describe('escapeFilterValue', () => {
  it.each([
    ['dana', 'dana'],
    ['*', '\\2a'],
    ['dana)(uid=*', 'dana\\29\\28uid=\\2a'],
    ['back\\slash', 'back\\5cslash'],
    ['nul\u0000byte', 'nul\\00byte'],
    ['josé', 'jos\\c3\\a9'],
  ])('%j becomes %j: a login name cannot change the filter', (raw, escaped) => {
    expect(escapeFilterValue(raw)).toBe(escaped);
  });
});

describe('peekJwt', () => {
  const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url');
  it('reads the header and claims of a compact JWS without verifying', () => {
    expect(peekJwt(`${b64({ alg: 'RS256' })}.${b64({ iss: 'https://i', sub: 's' })}.sig`)).toEqual({ alg: 'RS256', claims: { iss: 'https://i', sub: 's' } });
  });
  it.each([
    ['a password', 'correct horse battery staple'],
    ['two parts', `${b64({ alg: 'none' })}.${b64({})}`],
    ['a header that is not JSON', `bm90IGpzb24.${b64({})}.sig`],
    ['an oversized token', `${b64({ alg: 'RS256' })}.${'a'.repeat(20_000)}.sig`],
  ])('is undefined for %s', (_name, password) => {
    expect(peekJwt(password)).toBeUndefined();
  });
});
