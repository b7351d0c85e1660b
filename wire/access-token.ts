// Claims -> compact JWS with the `x5c` chain of the active key. Keys are imported and headers encoded
// once per key-set load; a token costs one JSON.stringify and one node:crypto signature. Shared by the
// token server and the activity server (registry tokens for `portcullis images|tags|delete`), so a token
// from either verifies at the registry the same way.
//
// Distribution (2.8 and 3.x) verifies the `x5c` chain against its rootcertbundle and then the signature
// with the leaf's key, so `x5c` is standard (not URL-safe) base64 DER, leaf first (the root left out:
// x5cOf); `aud` is a string, because 2.8 cannot parse an array there.

import { X509Certificate, createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { SigningKey, SigningKeySet } from './signing-key-set.js';
import { activeKey, type KeyValidity } from '../policy/active-key.js';
import type { SigningAlgorithm } from '../policy/types.js';

export interface AccessEntry {
  type: string;
  class?: string;
  name: string;
  actions: string[];
}

export interface AccessClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: AccessEntry[];
}

export interface PreparedKey extends KeyValidity {
  readonly key: SigningKey;
  readonly privateKey: KeyObject;
  /** base64url of the JOSE header, ready to be joined with a payload. */
  readonly encodedHeader: string;
  /** The signing input's first bytes (the encoded header and its dot), so a token's header is never encoded again. */
  readonly signingPrefix: Buffer;
  readonly notBefore: number;
  readonly notAfter: number;
}

export function base64url(input: string | Buffer): string {
  return Buffer.from(input).toString('base64url');
}

/**
 * The `x5c` of a key's tokens: its chain without the self-signed root at the end. Distribution takes
 * x5c[0] as the leaf and the rest as intermediates, and trusts only roots from its rootcertbundle, so a
 * root in the header never decides anything (RFC 7515 lets the chain stop before it). Left in, it was 40%
 * of every token, which a client sends again on every registry request.
 */
export function x5cOf(chain: readonly string[]): string[] {
  const certificates = chain.map((pem) => new X509Certificate(pem));
  let end = certificates.length;
  while (end > 1 && isSelfSigned(certificates[end - 1] as X509Certificate)) end--;
  return certificates.slice(0, end).map((certificate) => certificate.raw.toString('base64'));
}

function isSelfSigned(certificate: X509Certificate): boolean {
  return certificate.checkIssued(certificate) && certificate.verify(certificate.publicKey);
}

function prepare(key: SigningKey): PreparedKey {
  const x5c = x5cOf(key.certificateChain);
  const header = { alg: key.algorithm, typ: 'JWT', kid: key.kid, x5c };
  const encodedHeader = base64url(JSON.stringify(header));
  return {
    key,
    kid: key.kid,
    registry: key.registry,
    algorithm: key.algorithm,
    privateKey: createPrivateKey(key.privateKey),
    encodedHeader,
    signingPrefix: Buffer.from(`${encodedHeader}.`, 'latin1'),
    notBefore: Date.parse(key.notBefore),
    notAfter: Date.parse(key.notAfter),
  };
}

export class AccessTokenSigner {
  private readonly prepared: PreparedKey[];

  /** Throws if a key cannot be imported; the key source has already validated the set. */
  constructor(readonly set: SigningKeySet) {
    this.prepared = set.keys.map(prepare);
  }

  /** The key to sign for `registryId` at `now` (policy/active-key.ts), preferring the registry's algorithm. */
  keyFor(registryId: string, algorithm: SigningAlgorithm, now: Date): PreparedKey | undefined {
    return activeKey(this.prepared, now.getTime(), { registryId, algorithm });
  }

  sign(key: PreparedKey, claims: AccessClaims): string {
    const payload = base64url(JSON.stringify(claims));
    // The signing input in bytes without encoding the header (most of it: the x5c chain) again: base64url
    // is ASCII, so latin1 writes each character as its byte.
    const prefix = key.signingPrefix;
    const data = Buffer.allocUnsafe(prefix.length + payload.length);
    prefix.copy(data, 0);
    data.write(payload, prefix.length, 'latin1');
    const signature =
      key.key.algorithm === 'ES256' ? sign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }) : sign('sha256', data, key.privateKey);
    return `${key.encodedHeader}.${payload}.${signature.toString('base64url')}`;
  }
}

export function newTokenId(): string {
  return randomUUID();
}
