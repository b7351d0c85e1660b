// The signing-key set: what `portcullis keys init` and the operator write (in a Secret the token server
// mounts or watches) and what the token server signs with. One JSON file, so a kubelet `..data` swap or a
// Secret update replaces it atomically.

import type { SigningAlgorithm } from './types.js';

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

/** File names inside a keys directory (`keys init --dir`, or the mounted Secret/ConfigMap). */
export const KEY_FILES = {
  /** SigningKeySet JSON: read by the token server. */
  signing: 'signing.json',
  /** PEM of the CA certificate(s) the registry trusts: Distribution's `rootcertbundle`. */
  bundle: 'bundle.pem',
  /** The CA certificate and key (PEM). Only the operator, or a standalone user, needs these. */
  caCert: 'ca.crt',
  caKey: 'ca.key',
} as const;

/** Picks the key to sign with at `now`: the newest valid key for the registry (or any registry). */
export function activeSigningKey(set: SigningKeySet, registryId: string, now: Date): SigningKey | undefined {
  const t = now.getTime();
  let best: SigningKey | undefined;
  for (const key of set.keys) {
    if (key.registry !== undefined && key.registry !== registryId) continue;
    const from = Date.parse(key.notBefore);
    const until = Date.parse(key.notAfter);
    if (!(from <= t && t < until)) continue;
    if (best === undefined || from > Date.parse(best.notBefore)) best = key;
  }
  return best;
}
