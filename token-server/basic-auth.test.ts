// What `Authorization: Basic` may carry: a password long enough for the tokens clients send as one.
import { describe, expect, it } from 'vitest';
import { MAX_PASSWORD_LENGTH, MAX_USERNAME_LENGTH, parseBasicAuthorization } from './basic-auth.js';
import { TokenServerError } from './errors.js';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('parseBasicAuthorization', () => {
  it('takes a password of a token length: an RS256 ServiceAccount token bound to a pod runs past 1 KB', () => {
    // Before: refused as malformed past 1,024 characters, so such a pod could never log in.
    const token = `eyJhbGciOiJSUzI1NiJ9.${'x'.repeat(1400)}.${'s'.repeat(342)}`;
    expect(parseBasicAuthorization(basic('pod', token))).toEqual({ username: 'pod', password: token });
    expect(parseBasicAuthorization(basic('a'.repeat(MAX_USERNAME_LENGTH), 'p'.repeat(MAX_PASSWORD_LENGTH)))?.password).toHaveLength(MAX_PASSWORD_LENGTH);
  });

  it.each([
    ['a password past the limit', 'pod', 'p'.repeat(MAX_PASSWORD_LENGTH + 1)],
    ['a username past the limit', 'u'.repeat(MAX_USERNAME_LENGTH + 1), 'x'],
  ])('refuses %s before any check', (_what, user, password) => {
    expect(() => parseBasicAuthorization(basic(user, password))).toThrow(TokenServerError);
  });
});
