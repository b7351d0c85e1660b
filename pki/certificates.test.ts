import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCA } from './ca.js';
import { issueSigningKey } from './issue.js';
import type { SigningAlgorithm } from '../policy/types.js';

const now = new Date('2030-01-01T00:00:00Z');

describe.each<SigningAlgorithm>(['ES256', 'RS256'])('a %s chain', (algorithm) => {
  it('has a self-signed CA with CA:true that issued a leaf holding the signing key', async () => {
    const ca = await createCA({ commonName: 'test CA', algorithm, lifetimeSeconds: 86400 * 30, now });
    const key = await issueSigningKey({ ca, algorithm, lifetimeSeconds: 86400, notBefore: now, registry: 'ns/main' });

    const caCert = new X509Certificate(ca.certPem);
    expect(caCert.ca).toBe(true);
    expect(caCert.verify(caCert.publicKey)).toBe(true);
    expect(caCert.subject).toBe('O=portcullis\nCN=test CA');

    const [leafPem, chainCaPem] = key.certificateChain;
    const leaf = new X509Certificate(leafPem as string);
    expect(chainCaPem?.trim()).toBe(ca.certPem.trim());
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(caCert)).toBe(true);
    expect(leaf.verify(caCert.publicKey)).toBe(true);
    expect(leaf.issuer).toBe(caCert.subject);
    expect(leaf.publicKey.export({ format: 'jwk' })).toEqual(createPublicKey(key.privateKey).export({ format: 'jwk' }));
    expect(key.algorithm).toBe(algorithm);
    expect(key.registry).toBe('ns/main');
    expect(key.notBefore).toBe(now.toISOString());
    expect(Date.parse(key.notAfter)).toBe(now.getTime() + 86400_000);
    expect(Date.parse(leaf.validTo)).toBe(Date.parse(key.notAfter));
    expect(key.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe.each<SigningAlgorithm>(['ES256', 'RS256'])('%s certificates, as Go and OpenSSL read them', (algorithm) => {
  it('a leaf names its CA by the exact bytes of the CA subject, key identifiers link them, and the constraints are critical', async () => {
    const ca = await createCA({ commonName: 'bytes CA', algorithm, lifetimeSeconds: 86400, now });
    const key = await issueSigningKey({ ca, algorithm, lifetimeSeconds: 3600, notBefore: now });
    const caCert = new x509.X509Certificate(ca.certPem);
    const leaf = new x509.X509Certificate(key.certificateChain[0]);
    expect(Buffer.from(leaf.issuerName.toArrayBuffer()).equals(Buffer.from(caCert.subjectName.toArrayBuffer()))).toBe(true);
    const ski = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
    const aki = leaf.getExtension(x509.AuthorityKeyIdentifierExtension);
    expect(ski?.keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(aki?.keyId).toBe(ski?.keyId);
    const constraints = caCert.getExtension(x509.BasicConstraintsExtension);
    expect(constraints).toMatchObject({ ca: true, pathLength: 0, critical: true });
    expect(caCert.getExtension(x509.KeyUsagesExtension)).toMatchObject({ critical: true, usages: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign });
    expect(leaf.getExtension(x509.BasicConstraintsExtension)).toMatchObject({ ca: false, critical: true });
    expect(leaf.getExtension(x509.KeyUsagesExtension)).toMatchObject({ critical: true, usages: x509.KeyUsageFlags.digitalSignature });
  });

  it('openssl verifies the leaf against the CA alone', async () => {
    const ca = await createCA({ commonName: 'openssl CA', algorithm, lifetimeSeconds: 86400 * 365, now: new Date() });
    const key = await issueSigningKey({ ca, algorithm, lifetimeSeconds: 3600, notBefore: new Date() });
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-pki-'));
    try {
      await writeFile(join(dir, 'ca.pem'), ca.certPem);
      await writeFile(join(dir, 'leaf.pem'), key.certificateChain[0] as string);
      const r = spawnSync('openssl', ['verify', '-x509_strict', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' });
      expect(`${r.stdout}${r.stderr}`.trim()).toBe(`${join(dir, 'leaf.pem')}: OK`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('issuing', () => {
  it('never lets a leaf outlive the CA', async () => {
    const ca = await createCA({ commonName: 'short', algorithm: 'ES256', lifetimeSeconds: 3600, now });
    const key = await issueSigningKey({ ca, algorithm: 'ES256', lifetimeSeconds: 86400, notBefore: now });
    expect(Date.parse(key.notAfter)).toBe(now.getTime() + 3600_000);
  });

  it('refuses a CA key that does not belong to the certificate', async () => {
    const a = await createCA({ commonName: 'a', algorithm: 'ES256', lifetimeSeconds: 3600, now });
    const b = await createCA({ commonName: 'b', algorithm: 'ES256', lifetimeSeconds: 3600, now });
    await expect(issueSigningKey({ ca: { certPem: a.certPem, keyPem: b.keyPem }, algorithm: 'ES256', lifetimeSeconds: 60, notBefore: now })).rejects.toThrow(
      /does not match/,
    );
  });

  it('gives different keys different kids', async () => {
    const ca = await createCA({ commonName: 'k', algorithm: 'ES256', lifetimeSeconds: 3600, now });
    const one = await issueSigningKey({ ca, algorithm: 'ES256', lifetimeSeconds: 60, notBefore: now });
    const two = await issueSigningKey({ ca, algorithm: 'ES256', lifetimeSeconds: 60, notBefore: now });
    expect(one.kid).not.toBe(two.kid);
  });
});
