// X.509 v3 certificates for the token-signing chain: a self-signed CA and leaf certificates for signing
// keys, built and signed by @peculiar/x509 (EC and RSA, on WebCrypto). Distribution verifies a token's
// `x5c` chain with Go's crypto/x509 against its `rootcertbundle`, so the CA carries basicConstraints
// CA:true and keyUsage keyCertSign (both critical), every certificate carries subject and authority key
// identifiers so chain building is unambiguous, and a leaf's issuer Name is the CA's subject Name byte
// for byte (Go matches chains on those bytes).
//
// Why this library: node-forge's certificate builder signs only with RSA keys, and ES256 needs EC keys;
// hand-written ASN.1 in the component that mints the registry's trust anchors is the riskiest code to own.

// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import { createHash, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// node:crypto's WebCrypto, typed by @types/node rather than the DOM lib this project does not load.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;

export interface CertificateRequest {
  subjectCommonName: string;
  subjectPublicKey: KeyObject;
  /** The issuing certificate (DER); absent for a self-signed CA. */
  issuerCertificate?: Uint8Array;
  issuerPrivateKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  isCA: boolean;
}

/** What WebCrypto calls the algorithm a key signs with: ECDSA P-256 or RSASSA-PKCS1-v1_5, both SHA-256. */
function webAlgorithmOf(key: KeyObject): (webcrypto.EcKeyImportParams & webcrypto.EcdsaParams) | webcrypto.RsaHashedImportParams {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    case 'rsa':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    default:
      throw new Error(`unsupported key type ${String(key.asymmetricKeyType)}`);
  }
}

async function webKeys(publicKey: KeyObject, privateKey?: KeyObject): Promise<{ publicKey: CryptoKey; privateKey?: CryptoKey }> {
  const algorithm = webAlgorithmOf(publicKey);
  const subtle = webcrypto.subtle;
  const pub = await subtle.importKey('spki', publicKey.export({ type: 'spki', format: 'der' }), algorithm, true, ['verify']);
  if (privateKey === undefined) return { publicKey: pub };
  const priv = await subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), webAlgorithmOf(privateKey), false, ['sign']);
  return { publicKey: pub, privateKey: priv };
}

/** 126 random bits: 16 bytes, the top bit clear (positive) and the next set (no leading zero byte), in hex as the library takes it. */
function serialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x40;
  return Buffer.from(bytes).toString('hex');
}

/** RFC 7093 method 1 style: a digest of the SubjectPublicKeyInfo, truncated to 160 bits. */
function keyIdentifier(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest()
    .subarray(0, 20)
    .toString('hex');
}

export function distinguishedName(commonName: string): string {
  // Values are escaped so a name can never inject another attribute.
  return `O=portcullis, CN=${commonName.replace(/([,+"\\<>;=])/g, '\\$1')}`;
}

/** Builds and signs a certificate; returns its DER. */
export async function buildCertificate(req: CertificateRequest): Promise<Uint8Array> {
  const subjectKey = (await webKeys(req.subjectPublicKey)).publicKey;
  const signingKey = (await webKeys(createPublicKey(req.issuerPrivateKey), req.issuerPrivateKey)).privateKey as CryptoKey;
  const issuer = req.issuerCertificate === undefined ? undefined : new x509.X509Certificate(req.issuerCertificate);
  const issuerPublicKey =
    issuer === undefined ? req.subjectPublicKey : createPublicKey({ key: Buffer.from(issuer.publicKey.rawData), format: 'der', type: 'spki' });
  const name = distinguishedName(req.subjectCommonName);
  const usage = req.isCA ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature;
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: name,
    // The issuing certificate's own subject Name object: its bytes, not a re-encoding of its text.
    issuer: issuer === undefined ? name : issuer.subjectName,
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    signingAlgorithm: webAlgorithmOf(req.issuerPrivateKey),
    publicKey: subjectKey,
    signingKey,
    extensions: [
      // pathLen 0: the CA signs leaves only, so its key (or a leaf mistaken for a CA) can never vouch for a CA below it.
      new x509.BasicConstraintsExtension(req.isCA, req.isCA ? 0 : undefined, true),
      new x509.KeyUsagesExtension(usage, true),
      new x509.SubjectKeyIdentifierExtension(keyIdentifier(req.subjectPublicKey)),
      new x509.AuthorityKeyIdentifierExtension(keyIdentifier(issuerPublicKey)),
    ],
  });
  return new Uint8Array(certificate.rawData);
}

export function derToPem(der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
