// Issues token-signing keys under the CA, and the HMAC keys refresh tokens are MACed with.

import { createPublicKey, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { RefreshKey, SigningKey } from '../wire/signing-key-set.js';
import type { SigningAlgorithm } from '../policy/types.js';
import { generateKeyPairFor } from './algorithms.js';
import { CLOCK_SKEW_SECONDS, loadCA, type CertificateAuthority } from './ca.js';
import { buildCertificate, derToPem } from './certificates.js';

export interface IssueSigningKeyOptions {
  ca: CertificateAuthority;
  algorithm: SigningAlgorithm;
  lifetimeSeconds: number;
  /** When the key starts signing. It may be in the future: the key is published in JWKS before. */
  notBefore: Date;
  /** Registry id the key signs for; absent: any registry served. */
  registry?: string;
}

export async function issueSigningKey(options: IssueSigningKeyOptions): Promise<SigningKey> {
  if (!(options.lifetimeSeconds > 0)) throw new RangeError('signing key lifetime must be positive');
  const ca = loadCA(options.ca);
  const { publicKey, privateKey } = await generateKeyPairFor(options.algorithm, 'signing');
  const kid = await keyId(publicKey.export({ format: 'jwk' }));

  // A leaf must not outlive its issuer: Go's verifier rejects a chain with any expired member.
  const caNotAfter = Date.parse(ca.certificate.validTo);
  const notAfter = new Date(Math.min(options.notBefore.getTime() + options.lifetimeSeconds * 1000, caNotAfter));
  if (notAfter.getTime() <= options.notBefore.getTime()) throw new RangeError('the CA expires before the key would start');

  const der = await buildCertificate({
    subjectCommonName: `portcullis token signing ${kid.slice(0, 16)}`,
    subjectPublicKey: publicKey,
    issuerCertificate: ca.certificate.raw,
    issuerPrivateKey: ca.privateKey,
    notBefore: new Date(options.notBefore.getTime() - CLOCK_SKEW_SECONDS * 1000),
    notAfter,
    isCA: false,
  });

  const key: SigningKey = {
    kid,
    algorithm: options.algorithm,
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certificateChain: [derToPem(der), normalisePem(options.ca.certPem)],
    notBefore: options.notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
  };
  if (options.registry !== undefined) key.registry = options.registry;
  return key;
}

/** RFC 7638 thumbprint of a public key given as JWK or PEM. */
export async function keyId(publicKey: JWK | string): Promise<string> {
  const jwk = typeof publicKey === 'string' ? (createPublicKey(publicKey).export({ format: 'jwk' }) as JWK) : publicKey;
  return calculateJwkThumbprint(jwk, 'sha256');
}

export function newRefreshKey(now: Date): RefreshKey {
  return {
    kid: randomBytes(12).toString('base64url'),
    secret: randomBytes(32).toString('base64'),
    createdAt: now.toISOString(),
  };
}

function normalisePem(pem: string): string {
  const trimmed = pem.trim();
  return `${trimmed}\n`;
}
