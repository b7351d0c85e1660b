// Builds X.509 v3 certificates for the token-signing chain: a self-signed CA and leaf certificates for
// signing keys. Distribution verifies a token's `x5c` chain with Go's crypto/x509 against its
// `rootcertbundle`, so the CA carries basicConstraints CA:true and keyUsage keyCertSign (both critical),
// and every certificate carries subject/authority key identifiers so chain building is unambiguous.
//
// Why not node-forge: its certificate builder and signer only handle RSA keys, and ES256 needs EC keys.
// Certificates are a handful of DER structures (./der.ts) signed with node:crypto, which handles both.

import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import {
  bitString,
  children,
  readElement,
  boolean,
  explicit,
  implicitPrimitive,
  namedBits,
  nullValue,
  objectIdentifier,
  octetString,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from './der.js';

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
} as const;

/** keyUsage bit numbers (RFC 5280 4.2.1.3). */
const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

export interface CertificateRequest {
  subjectCommonName: string;
  subjectPublicKey: KeyObject;
  /** The issuer's subject Name, DER, byte for byte: Go matches chains on these exact bytes. */
  issuerName: Buffer;
  issuerPublicKey: KeyObject;
  issuerPrivateKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  isCA: boolean;
}

export function buildCertificate(req: CertificateRequest): Buffer {
  const signatureAlgorithm = signatureAlgorithmFor(req.issuerPrivateKey);
  const subjectSpki = req.subjectPublicKey.export({ type: 'spki', format: 'der' });
  const issuerSpki = req.issuerPublicKey.export({ type: 'spki', format: 'der' });

  const usage = req.isCA ? [KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign] : [KEY_USAGE.digitalSignature];
  const extensions = [
    extension(OID.basicConstraints, true, req.isCA ? sequence(boolean(true)) : sequence()),
    extension(OID.keyUsage, true, namedBits(usage)),
    extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(subjectSpki))),
    extension(OID.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, keyIdentifier(issuerSpki)))),
  ];

  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(serialNumber()),
    signatureAlgorithm,
    req.issuerName,
    sequence(time(req.notBefore), time(req.notAfter)),
    distinguishedName(req.subjectCommonName),
    subjectSpki,
    explicit(3, sequence(...extensions)),
  );
  // ECDSA signatures default to DER (r, s) here, which is what X.509 wants (JWS wants the raw form).
  const signature = sign('sha256', tbs, req.issuerPrivateKey);
  return sequence(tbs, signatureAlgorithm, bitString(signature));
}

export function derToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** The DER of a certificate's subject Name (TBSCertificate field 6, after the optional version). */
export function subjectNameOf(certificateDer: Buffer): Buffer {
  const certificate = readElement(certificateDer, 0);
  const [tbs] = children(certificate);
  if (tbs === undefined) throw new Error('not a certificate');
  const fields = children(tbs);
  const skip = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[skip + 4];
  if (subject === undefined || subject.tag !== 0x30) throw new Error('not a certificate');
  return Buffer.from(subject.raw);
}

export function distinguishedName(commonName: string): Buffer {
  return sequence(
    set(sequence(objectIdentifier(OID.organization), utf8String('portcullis'))),
    set(sequence(objectIdentifier(OID.commonName), utf8String(commonName))),
  );
}

function signatureAlgorithmFor(key: KeyObject): Buffer {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return sequence(objectIdentifier(OID.ecdsaWithSHA256));
    case 'rsa':
      return sequence(objectIdentifier(OID.sha256WithRSAEncryption), nullValue());
    default:
      throw new Error(`unsupported issuer key type ${String(key.asymmetricKeyType)}`);
  }
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? sequence(objectIdentifier(oid), boolean(true), octetString(value))
    : sequence(objectIdentifier(oid), octetString(value));
}

/** RFC 7093 method 1 style: a digest of the SubjectPublicKeyInfo, truncated to 160 bits. */
function keyIdentifier(spki: Buffer): Buffer {
  return createHash('sha256').update(spki).digest().subarray(0, 20);
}

/** 127 random bits, positive, never starting with a zero byte. */
function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x40;
  return bytes;
}
