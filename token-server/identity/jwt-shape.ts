// Whether a password is a JWT, and what it claims before anything is verified. Only routing reads these
// unverified values (which issuer to ask, whether a TokenReview is worth its cost); no decision rests on them.

import { decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';

export interface UnverifiedJwt {
  alg: string;
  claims: JWTPayload;
}

/** Compact JWS: three base64url parts. Anything bigger than this is not a token a client would send. */
const JWT = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/;
const MAX_JWT_LENGTH = 16 * 1024;

/** Whether `password` has the shape of a compact JWS (cheap: no decoding). */
export function hasJwtShape(password: string): boolean {
  return password.length <= MAX_JWT_LENGTH && JWT.test(password);
}

export function peekJwt(password: string): UnverifiedJwt | undefined {
  if (!hasJwtShape(password)) return undefined;
  try {
    const header = decodeProtectedHeader(password);
    const claims = decodeJwt(password);
    return { alg: typeof header.alg === 'string' ? header.alg : '', claims };
  } catch {
    return undefined;
  }
}
