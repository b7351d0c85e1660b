// The certificate authority that anchors token verification: Distribution's `rootcertbundle` holds its
// certificate, and every signing key's leaf certificate is issued by it, so signing keys can rotate
// without touching the registry's configuration.

import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import type { SigningAlgorithm } from '../policy/types.js';
import { generateKeyPairFor } from './algorithms.js';
import { buildCertificate, derToPem } from './certificates.js';

export interface CertificateAuthority {
  /** PEM of the self-signed CA certificate. */
  certPem: string;
  /** PKCS#8 PEM of the CA private key. */
  keyPem: string;
}

export interface CreateCAOptions {
  commonName: string;
  algorithm: SigningAlgorithm;
  lifetimeSeconds: number;
  now: Date;
}

/** Certificates start slightly in the past so a registry whose clock lags a little still accepts them. */
export const CLOCK_SKEW_SECONDS = 300;

export async function createCA(options: CreateCAOptions): Promise<CertificateAuthority> {
  if (!(options.lifetimeSeconds > 0)) throw new RangeError('CA lifetime must be positive');
  const { publicKey, privateKey } = await generateKeyPairFor(options.algorithm, 'ca');
  const der = await buildCertificate({
    subjectCommonName: options.commonName,
    subjectPublicKey: publicKey,
    issuerPrivateKey: privateKey,
    notBefore: new Date(options.now.getTime() - CLOCK_SKEW_SECONDS * 1000),
    notAfter: new Date(options.now.getTime() + options.lifetimeSeconds * 1000),
    isCA: true,
  });
  return {
    certPem: derToPem(der),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

export interface LoadedCA {
  certificate: X509Certificate;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Parses a CA's PEM pair; throws if the key does not belong to the certificate. */
export function loadCA(ca: CertificateAuthority): LoadedCA {
  const privateKey = createPrivateKey(ca.keyPem);
  const certificate = new X509Certificate(ca.certPem);
  if (!certificate.checkPrivateKey(privateKey)) throw new Error('CA key does not match the CA certificate');
  if (!certificate.ca) throw new Error('CA certificate lacks basicConstraints CA:true');
  return { certificate, privateKey, publicKey: createPublicKey(privateKey) };
}
