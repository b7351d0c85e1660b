// The signing-key set: what `portcullis keys init` and the operator write (in a Secret the token server
// mounts or watches) and what the token server signs with. One JSON file, so a kubelet `..data` swap or a
// Secret update replaces it atomically.

import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import type { SigningAlgorithm } from '../policy/types.js';

export const SIGNING_FORMAT = 'portcullis.dev/signing/v1' as const;

export interface SigningKey {
  /** Key id: the RFC 7638 JWK thumbprint of the public key. Also the JWT `kid` and the JWKS entry's `kid`. */
  kid: string;
  algorithm: SigningAlgorithm;
  /** PKCS#8 PEM. */
  privateKey: string;
  /** PEM certificates, leaf first, then the issuing CA: becomes the JWT `x5c` header. */
  certificateChain: string[];
  /** RFC 3339. A key is used for signing only from this time on; it is published in JWKS before. */
  notBefore: string;
  /** RFC 3339: the leaf certificate's expiry. The key is not used after it. */
  notAfter: string;
  /** Registry id (`namespace/name`) this key signs for; absent: any registry served. */
  registry?: string;
}

/**
 * HMAC keys for refresh tokens. Refresh tokens are self-contained (any replica verifies them) and must
 * outlive signing-key rotations, so they are MACed with these long-lived shared keys instead.
 */
export interface RefreshKey {
  kid: string;
  /** base64 of 32 random bytes. */
  secret: string;
  /** RFC 3339. The newest key signs; every listed key verifies. */
  createdAt: string;
}

export interface SigningKeySet {
  format: typeof SIGNING_FORMAT;
  keys: SigningKey[];
  refreshKeys: RefreshKey[];
}

// ---- parsing: a set that parses but holds a key node:crypto cannot load, or a chain whose leaf does not
// hold that key, is refused as a whole so the reader keeps its last good set.

function fail(message: string): never {
  throw new Error(`invalid signing key set: ${message}`);
}

export function parseSigningKeySet(text: string): SigningKeySet {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The parser's message can quote the text, which holds private keys.
    fail('not valid JSON');
  }
  if (typeof value !== 'object' || value === null) fail('not a JSON object');
  const set = value as Partial<SigningKeySet>;
  if (set.format !== SIGNING_FORMAT) fail(`format must be ${JSON.stringify(SIGNING_FORMAT)}`);
  if (!Array.isArray(set.keys)) fail('keys must be a list');
  if (!Array.isArray(set.refreshKeys)) fail('refreshKeys must be a list');
  for (const [i, key] of set.keys.entries()) {
    const where = `keys[${i}]`;
    if (typeof key !== 'object' || key === null) fail(`${where} must be an object`);
    if (typeof key.kid !== 'string' || key.kid === '') fail(`${where}.kid must be a non-empty string`);
    if (key.algorithm !== 'ES256' && key.algorithm !== 'RS256') fail(`${where}.algorithm must be ES256 or RS256`);
    if (!Array.isArray(key.certificateChain) || key.certificateChain.length === 0) fail(`${where}.certificateChain must not be empty`);
    if (Number.isNaN(Date.parse(key.notBefore)) || Number.isNaN(Date.parse(key.notAfter))) fail(`${where} needs RFC 3339 notBefore/notAfter`);
    if (key.registry !== undefined && typeof key.registry !== 'string') fail(`${where}.registry must be a string`);
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(key.certificateChain[0] as string);
      for (const pem of key.certificateChain.slice(1)) new X509Certificate(pem);
    } catch {
      fail(`${where}.certificateChain holds something that is not a PEM certificate`);
    }
    let publicJwk: unknown;
    try {
      publicJwk = createPublicKey(createPrivateKey(key.privateKey)).export({ format: 'jwk' });
    } catch {
      fail(`${where}.privateKey is not a PEM private key`);
    }
    if (JSON.stringify(leaf.publicKey.export({ format: 'jwk' })) !== JSON.stringify(publicJwk)) {
      fail(`${where}: the leaf certificate does not hold the private key's public key`);
    }
  }
  for (const [i, key] of set.refreshKeys.entries()) {
    const where = `refreshKeys[${i}]`;
    if (typeof key !== 'object' || key === null) fail(`${where} must be an object`);
    if (typeof key.kid !== 'string' || key.kid === '') fail(`${where}.kid must be a non-empty string`);
    if (typeof key.secret !== 'string' || Buffer.from(key.secret, 'base64').length < 32) fail(`${where}.secret must be base64 of at least 32 bytes`);
    if (Number.isNaN(Date.parse(key.createdAt))) fail(`${where}.createdAt must be RFC 3339`);
  }
  return set as SigningKeySet;
}
