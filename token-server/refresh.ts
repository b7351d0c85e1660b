// Refresh tokens: self-contained HS256 JWTs MACed with the shared refresh keys, so any replica can check
// them and they survive signing-key rotation. A token names the user, the service, the issuer and the
// session revision at issue time (the credential and the RegistryUser's uid:generation; see
// policy/revision.ts); a password change, a deleted, recreated, disabled or edited user, or a token for
// another service or issuer all refuse it. Nothing is stored server-side.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { RefreshKey } from '../wire/signing-key-set.js';
import { base64url, newTokenId } from '../wire/access-token.js';

/** Distinguishes refresh tokens from access tokens: an access token is never accepted here, nor the reverse. */
export const REFRESH_TOKEN_USE = 'portcullis-refresh';

export interface RefreshClaims {
  iss: string;
  sub: string;
  aud: string;
  crev: string;
  token_use: typeof REFRESH_TOKEN_USE;
  iat: number;
  exp: number;
  jti: string;
}

export type RefreshCheck = { ok: true; claims: RefreshClaims } | { ok: false; reason: string };

interface MacKey {
  kid: string;
  secret: Buffer;
  createdAt: number;
}

/** Refresh tokens are short strings; anything much longer is not one of ours. */
const MAX_TOKEN_LENGTH = 2048;

export class RefreshTokens {
  private readonly keys: ReadonlyMap<string, MacKey>;
  private readonly newest: MacKey | undefined;

  constructor(refreshKeys: readonly RefreshKey[]) {
    const keys = new Map<string, MacKey>();
    let newest: MacKey | undefined;
    for (const k of refreshKeys) {
      const key = { kid: k.kid, secret: Buffer.from(k.secret, 'base64'), createdAt: Date.parse(k.createdAt) };
      keys.set(k.kid, key);
      if (newest === undefined || key.createdAt > newest.createdAt) newest = key;
    }
    this.keys = keys;
    this.newest = newest;
  }

  get canIssue(): boolean {
    return this.newest !== undefined;
  }

  issue(fields: { issuer: string; service: string; username: string; sessionRevision: string; now: Date; ttlSeconds: number }): string {
    const key = this.newest;
    if (key === undefined) throw new Error('no refresh key loaded');
    const iat = Math.floor(fields.now.getTime() / 1000);
    const claims: RefreshClaims = {
      iss: fields.issuer,
      sub: fields.username,
      aud: fields.service,
      crev: fields.sessionRevision,
      token_use: REFRESH_TOKEN_USE,
      iat,
      exp: iat + fields.ttlSeconds,
      jti: newTokenId(),
    };
    const input = `${base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: key.kid }))}.${base64url(JSON.stringify(claims))}`;
    return `${input}.${createHmac('sha256', key.secret).update(input).digest('base64url')}`;
  }

  /** Checks MAC, type and expiry. Whether the user and service still fit is the caller's check. */
  verify(token: string, now: Date): RefreshCheck {
    if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'refresh token too long' };
    const parts = token.split('.');
    if (parts.length !== 3) return { ok: false, reason: 'refresh token is not a JWT' };
    const [encodedHeader, encodedClaims, encodedMac] = parts as [string, string, string];
    const header = decodeJson(encodedHeader);
    if (header === undefined || header.alg !== 'HS256' || typeof header.kid !== 'string') {
      return { ok: false, reason: 'refresh token header is not ours' };
    }
    const key = this.keys.get(header.kid);
    if (key === undefined) return { ok: false, reason: 'refresh token MAC key is unknown (retired?)' };
    const expected = createHmac('sha256', key.secret).update(`${encodedHeader}.${encodedClaims}`).digest();
    const actual = Buffer.from(encodedMac, 'base64url');
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
      return { ok: false, reason: 'refresh token MAC does not verify' };
    }
    const claims = decodeJson(encodedClaims);
    if (
      claims === undefined ||
      claims.token_use !== REFRESH_TOKEN_USE ||
      typeof claims.sub !== 'string' ||
      typeof claims.aud !== 'string' ||
      typeof claims.crev !== 'string' ||
      typeof claims.exp !== 'number' ||
      typeof claims.iss !== 'string'
    ) {
      return { ok: false, reason: 'token is not a refresh token' };
    }
    if (claims.exp * 1000 <= now.getTime()) return { ok: false, reason: 'refresh token expired' };
    return { ok: true, claims: claims as unknown as RefreshClaims };
  }
}

function decodeJson(encoded: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
