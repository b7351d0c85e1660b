// The registry side of the test environment: real Distribution processes (2.8 and v3) and real
// clients (crane, skopeo) moving harness-built images over TLS on loopback.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsRequest } from '../../local/https.js';
import { craneDigest, cranePull, cranePush, skopeoInspectRaw, skopeoPull, skopeoPush } from '../harness/clients.js';
import { buildImage } from '../../local/image.js';
import { startRegistry, type RegistryFlavor, type RunningRegistry } from '../../local/registry.js';
import { createTestTLS, type TestTLS } from '../../local/tls.js';

describe.each<RegistryFlavor>(['2.8', 'v3'])('Distribution %s', (flavor) => {
  let dir: string;
  let tls: TestTLS;
  let open: RunningRegistry;
  let guarded: RunningRegistry;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-e2e-'));
    tls = await createTestTLS(join(dir, 'tls'));
    const tlsFiles = { cert: tls.serverCertPath, key: tls.serverKeyPath };
    open = await startRegistry({ flavor, tls: tlsFiles });
    guarded = await startRegistry({
      flavor,
      tls: tlsFiles,
      auth: { realm: 'https://localhost:1/token', service: 'registry.test', issuer: 'portcullis', rootCertBundle: tls.caCertPath },
    });
  });
  afterAll(async () => {
    await open?.stop();
    await guarded?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('with token auth, answers /v2/ with 401 and a Bearer challenge naming realm and service', async () => {
    const { readFile } = await import('node:fs/promises');
    const res = await httpsRequest(`${guarded.url}/v2/`, await readFile(tls.caCertPath, 'utf8'));
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="https://localhost:1/token",service="registry.test"');
  });

  it('without auth, crane pushes a built image and pulls back the same digest', async () => {
    const image = await buildImage(join(dir, 'img-crane'));
    const ref = `${open.host}/harness/crane:latest`;
    const pushed = await cranePush(image.layoutDir, ref, { tls });
    expect(pushed.code, pushed.stderr).toBe(0);
    const digest = await craneDigest(ref, { tls });
    expect(digest.stdout.trim()).toBe(image.digest);
    const pulled = await cranePull(ref, join(dir, 'pulled-crane'), { tls });
    expect(pulled.code, pulled.stderr).toBe(0);
  });

  it('without auth, skopeo pushes a built image and pulls back the same digest', async () => {
    const image = await buildImage(join(dir, 'img-skopeo'));
    const ref = `${open.host}/harness/skopeo:latest`;
    const pushed = await skopeoPush(image.layoutDir, ref, { tls });
    expect(pushed.code, pushed.stderr).toBe(0);
    const raw = await skopeoInspectRaw(ref, { tls });
    expect(raw.code, raw.stderr).toBe(0);
    expect(`sha256:${createHash('sha256').update(raw.stdout).digest('hex')}`).toBe(image.digest);
    const pulled = await skopeoPull(ref, join(dir, 'pulled-skopeo'), { tls });
    expect(pulled.code, pulled.stderr).toBe(0);
  });

  it('a pushed image from one client is the same image for the other', async () => {
    const image = await buildImage(join(dir, 'img-cross'));
    const ref = `${open.host}/harness/cross:latest`;
    expect((await skopeoPush(image.layoutDir, ref, { tls })).code).toBe(0);
    expect((await craneDigest(ref, { tls })).stdout.trim()).toBe(image.digest);
  });

  it('restarts on the same port and storage, keeping pushed images', async () => {
    const ref = `${open.host}/harness/crane:latest`;
    const before = (await craneDigest(ref, { tls })).stdout.trim();
    await open.restart();
    expect(open.starts()).toBe(2);
    expect((await craneDigest(ref, { tls })).stdout.trim()).toBe(before);
  });
});
