// Parses `Authorization: Basic ...`. Anything else in the header is the client's mistake (a 400 from
// the catalogue), never an exception that could become a 500.

import { TokenServerError } from './errors.js';

export interface BasicCredentials {
  username: string;
  password: string;
}

/** Usernames longer than this are refused before any check. */
export const MAX_USERNAME_LENGTH = 1024;
/**
 * Passwords longer than this are refused before any check (bcrypt reads 72 bytes anyway). The password
 * may be a token: a ServiceAccount token bound to a pod and signed RS256 (most clusters' keys) runs past
 * 1 KB with long pod, account and node names, an OIDC token with groups past 2 KB; 4 KB of password
 * still fits the 8 KB header limit in Base64.
 */
export const MAX_PASSWORD_LENGTH = 4096;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Returns undefined when there is no Authorization header at all (an anonymous request). */
export function parseBasicAuthorization(header: string | undefined): BasicCredentials | undefined {
  if (header === undefined) return undefined;
  const space = header.indexOf(' ');
  if (space < 0 || header.slice(0, space).toLowerCase() !== 'basic') {
    throw new TokenServerError('MALFORMED_AUTHORIZATION');
  }
  const encoded = header.slice(space + 1).trim();
  if (encoded.length === 0 || encoded.length > ((MAX_USERNAME_LENGTH + 1 + MAX_PASSWORD_LENGTH) * 4) / 3 + 4 || !BASE64.test(encoded)) {
    throw new TokenServerError('MALFORMED_AUTHORIZATION');
  }
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw new TokenServerError('MALFORMED_AUTHORIZATION');
  const credentials = { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  if (credentialsProblem(credentials) !== undefined) throw new TokenServerError('MALFORMED_AUTHORIZATION');
  return credentials;
}

/**
 * Why a username and password may not be checked, whichever way they came (Basic or the password grant's
 * form). Control characters in a name are refused: `\0` separates the parts of the budgets' and caches'
 * keys, so a name holding one could be counted as another account (a ServiceAccount's key, for one).
 */
export function credentialsProblem({ username, password }: BasicCredentials): string | undefined {
  if (username.length > MAX_USERNAME_LENGTH) return `the username is at most ${MAX_USERNAME_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `the password is at most ${MAX_PASSWORD_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\x00-\x1f\x7f]/.test(username)) return 'the username contains a control character';
  return undefined;
}
