// x5cOf: what a token's x5c header carries. The self-signed root at the end of a chain is left out (the
// registry trusts roots only from its bundle); everything a registry needs to reach that root stays.
import { X509Certificate, createPublicKey, verify } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairFor } from '../pki/algorithms.js';
import { createCA, loadCA } from '../pki/ca.js';
import { buildCertificate, derToPem } from '../pki/certificates.js';
import { issueSigningKey } from '../pki/issue.js';
import { AccessTokenSigner, base64url, x5cOf, type AccessClaims } from './access-token.js';
import { SIGNING_FORMAT } from './signing-key-set.js';

const now = new Date('2031-03-04T05:06:07Z');
const later = new Date(now.getTime() + 24 * 3600_000);
const base64 = (pem: string): string => new X509Certificate(pem).raw.toString('base64');

let root: { certPem: string; keyPem: string };
let leafPem: string;

beforeAll(async () => {
  root = await createCA({ commonName: 'root', algorithm: 'ES256', lifetimeSeconds: 3600 * 48, now });
  const key = await issueSigningKey({ ca: root, algorithm: 'ES256', lifetimeSeconds: 3600, notBefore: now });
  leafPem = key.certificateChain[0] as string;
});

/** A certificate for a fresh key, issued by `issuer` (a CA when `isCA`). */
async function issued(commonName: string, issuer: { certPem: string; keyPem: string }, isCA: boolean): Promise<{ certPem: string; keyPem: string }> {
  const ca = loadCA(issuer);
  const { publicKey, privateKey } = await generateKeyPairFor('ES256', isCA ? 'ca' : 'signing');
  const der = await buildCertificate({
    subjectCommonName: commonName,
    subjectPublicKey: publicKey,
    issuerCertificate: ca.certificate.raw,
    issuerPrivateKey: ca.privateKey,
    notBefore: now,
    notAfter: later,
    isCA,
  });
  return { certPem: derToPem(der), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

describe('x5cOf', () => {
  it('leaves out the self-signed root after the leaf', () => {
    expect(x5cOf([leafPem, root.certPem])).toEqual([base64(leafPem)]);
  });

  it('keeps an intermediate CA, which the registry cannot find in its bundle', async () => {
    const intermediate = await issued('intermediate', root, true);
    const leaf = await issued('leaf', intermediate, false);
    expect(x5cOf([leaf.certPem, intermediate.certPem, root.certPem])).toEqual([base64(leaf.certPem), base64(intermediate.certPem)]);
    expect(x5cOf([leaf.certPem, intermediate.certPem])).toEqual([base64(leaf.certPem), base64(intermediate.certPem)]);
  });

  it('keeps a certificate that only names itself as issuer but is signed by another key', async () => {
    // Subject and issuer both "root": comparing names alone would call it self-signed.
    const lookalike = await issued('root', root, true);
    expect(new X509Certificate(lookalike.certPem).subject).toBe(new X509Certificate(lookalike.certPem).issuer);
    const leaf = await issued('leaf', lookalike, false);
    expect(x5cOf([leaf.certPem, lookalike.certPem])).toEqual([base64(leaf.certPem), base64(lookalike.certPem)]);
  });

  it('never leaves the leaf out, even a self-signed one', () => {
    expect(x5cOf([root.certPem])).toEqual([base64(root.certPem)]);
  });
});

describe('AccessTokenSigner.sign', () => {
  const claims = (jti: string): AccessClaims => ({
    iss: 'issuer',
    sub: 'élodie',
    aud: 'registry.example',
    exp: 1_900_000_300,
    nbf: 1_900_000_000,
    iat: 1_900_000_000,
    jti,
    access: [{ type: 'repository', class: 'plugin', name: 'team/日本', actions: ['pull', 'push'] }],
  });

  it.each(['ES256', 'RS256'] as const)('%s: header, claims JSON as given, and a signature over exactly the two', async (algorithm) => {
    const key = await issueSigningKey({ ca: root, algorithm, lifetimeSeconds: 3600, notBefore: now });
    const signer = new AccessTokenSigner({ format: SIGNING_FORMAT, keys: [key], refreshKeys: [] });
    const prepared = signer.keyFor(key.registry ?? 'any', algorithm, new Date(now.getTime() + 60_000));
    expect(prepared).toBeDefined();
    const first = signer.sign(prepared!, claims('one'));
    const second = signer.sign(prepared!, claims('two'));
    for (const [token, jti] of [
      [first, 'one'],
      [second, 'two'],
    ] as const) {
      const [header, payload, signature] = token.split('.') as [string, string, string];
      expect(header).toBe(prepared!.encodedHeader);
      expect(payload).toBe(base64url(JSON.stringify(claims(jti))));
      const publicKey = createPublicKey(key.certificateChain[0] as string);
      const options = algorithm === 'ES256' ? { key: publicKey, dsaEncoding: 'ieee-p1363' as const } : publicKey;
      expect(verify('sha256', Buffer.from(`${header}.${payload}`), options, Buffer.from(signature, 'base64url'))).toBe(true);
    }
  });
});
