import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEY_FILES } from '../wire/files.js';
import { SIGNING_FORMAT, type SigningKeySet } from '../wire/signing-key-set.js';
import { AccessTokenSigner } from '../wire/access-token.js';
import { initKeysDir } from './init.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-keys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('keys init', () => {
  const now = new Date('2031-05-06T07:08:09Z');

  it('writes a CA, a bundle holding only the CA, and a signing set usable from now', async () => {
    const result = await initKeysDir(dir, { algorithm: 'ES256', now });
    const set = JSON.parse(await readFile(join(dir, KEY_FILES.signing), 'utf8')) as SigningKeySet;
    expect(set.format).toBe(SIGNING_FORMAT);
    expect(set.keys).toHaveLength(1);
    expect(set.refreshKeys).toHaveLength(1);
    expect(Buffer.from(set.refreshKeys[0]?.secret ?? '', 'base64')).toHaveLength(32);
    expect(new AccessTokenSigner(set).keyFor('any/registry', 'ES256', now)?.kid).toBe(result.kid);

    const bundle = await readFile(join(dir, KEY_FILES.bundle), 'utf8');
    const caCert = await readFile(join(dir, KEY_FILES.caCert), 'utf8');
    expect(bundle).toBe(caCert);
    expect(bundle.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    expect(new X509Certificate(bundle).ca).toBe(true);

    expect((await stat(join(dir, KEY_FILES.caKey))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, KEY_FILES.signing))).mode & 0o777).toBe(0o600);
  });

  it('with caDir, the CA key goes there and the directory the token server reads holds none', async () => {
    const caDir = join(dir, 'offline-ca');
    const keysDir = join(dir, 'keys');
    const result = await initKeysDir(keysDir, { algorithm: 'ES256', now, caDir });
    expect(result.files.caKey).toBe(join(caDir, KEY_FILES.caKey));
    expect((await readdir(keysDir)).sort()).toEqual([KEY_FILES.bundle, KEY_FILES.caCert, KEY_FILES.signing].sort());
    expect((await readdir(caDir)).sort()).toEqual([KEY_FILES.caCert, KEY_FILES.caKey].sort());
    expect((await stat(caDir)).mode & 0o777).toBe(0o700);
    expect((await stat(result.files.caKey)).mode & 0o777).toBe(0o600);
    await expect(initKeysDir(keysDir, { algorithm: 'ES256', now, caDir })).rejects.toThrow(/already exists/);
  });

  it('refuses to replace an existing CA unless forced', async () => {
    await initKeysDir(dir, { algorithm: 'ES256', now });
    const before = await readFile(join(dir, KEY_FILES.caCert), 'utf8');
    await expect(initKeysDir(dir, { algorithm: 'ES256', now })).rejects.toThrow(/already exists/);
    expect(await readFile(join(dir, KEY_FILES.caCert), 'utf8')).toBe(before);
    await initKeysDir(dir, { algorithm: 'ES256', now, force: true });
    expect(await readFile(join(dir, KEY_FILES.caCert), 'utf8')).not.toBe(before);
  });
});
