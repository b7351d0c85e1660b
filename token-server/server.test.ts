import { X509Certificate } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCA } from '../pki/ca.js';
import type { SigningKeySet } from '../wire/signing-key-set.js';
import { startServer } from './server.js';
import { buildPolicyState } from './sources/policy-state.js';
import type { KeyState, PolicyState } from './sources/types.js';
import { captureLogger, makeKeys, makePolicy, MemorySource } from '../test/support/token-server-fixtures.js';

let keys: { set: SigningKeySet; cleanup: () => Promise<void> };
let dir: string;
beforeAll(async () => {
  keys = await makeKeys(new Date(Date.now() - 60_000));
  dir = await mkdtemp(join(tmpdir(), 'portcullis-tls-'));
});
afterAll(async () => {
  await keys.cleanup();
  await rm(dir, { recursive: true, force: true });
});

async function appOptions() {
  const { snapshot, credentials } = await makePolicy();
  return {
    policy: new MemorySource<PolicyState>(buildPolicyState(snapshot, credentials, new Date())),
    keys: new MemorySource<KeyState>({ set: keys.set, loadedAt: new Date() }),
    logger: captureLogger().logger,
  };
}

function peerCertificate(port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      resolve(raw);
    });
    socket.on('error', reject);
  });
}

describe('the server', () => {
  it('serves over plain HTTP and closes gracefully, running onClosed', async () => {
    let closedHook = false;
    const server = await startServer({ app: await appOptions(), host: '127.0.0.1', port: 0, handleSignals: false, onClosed: () => void (closedHook = true) });
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    await server.close();
    await server.closed;
    expect(closedHook).toBe(true);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it('serves HTTPS and picks up a renewed certificate without a restart', async () => {
    const writeCert = async (cn: string) => {
      const ca = await createCA({ commonName: cn, algorithm: 'ES256', lifetimeSeconds: 3600, now: new Date() });
      await writeFile(join(dir, 'tls.key.tmp'), ca.keyPem);
      await writeFile(join(dir, 'tls.crt.tmp'), ca.certPem);
      await rename(join(dir, 'tls.key.tmp'), join(dir, 'tls.key'));
      await rename(join(dir, 'tls.crt.tmp'), join(dir, 'tls.crt'));
      return new X509Certificate(ca.certPem).raw;
    };
    const first = await writeCert('first');
    const server = await startServer({
      app: await appOptions(),
      host: '127.0.0.1',
      port: 0,
      handleSignals: false,
      tls: { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') },
      tlsPollIntervalMs: 100,
    });
    try {
      expect(server.url).toMatch(/^https:/);
      expect((await peerCertificate(server.address.port)).equals(first)).toBe(true);
      const second = await writeCert('second');
      let served: Buffer = first;
      for (let i = 0; i < 50 && !served.equals(second); i++) {
        await new Promise((r) => setTimeout(r, 100));
        served = await peerCertificate(server.address.port);
      }
      expect(served.equals(second)).toBe(true);
    } finally {
      await server.close();
    }
  });
});
