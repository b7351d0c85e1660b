// TLS for registries and token servers under test: a throwaway CA and a server certificate for
// `localhost`, and the settings each client needs to trust that CA. crane (since 0.21.4) refuses a
// plain-http or IP-literal token realm on loopback, so e2e realms are https://localhost:PORT/....
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createCA, issueCert } from './pki.js';

export interface TestTLS {
  caCertPath: string;
  serverCertPath: string;
  serverKeyPath: string;
  /** A directory holding `ca.crt`, for skopeo's `--cert-dir` / `--src-cert-dir` / `--dest-cert-dir`. */
  certDir: string;
  /** Environment for Go clients (crane): trust exactly this CA. */
  env: Record<string, string>;
}

export async function createTestTLS(dir: string): Promise<TestTLS> {
  await mkdir(dir, { recursive: true });
  const ca = await createCA(dir, 'registry');
  const server = await issueCert(ca, dir, {
    name: 'localhost',
    commonName: 'localhost',
    dnsNames: ['localhost'],
    ips: ['127.0.0.1', '::1'],
    usage: 'server',
  });
  const certDir = join(dir, 'certs.d');
  await mkdir(certDir, { recursive: true });
  await copyFile(ca.certPath, join(certDir, 'ca.crt'));
  return {
    caCertPath: ca.certPath,
    serverCertPath: server.certPath,
    serverKeyPath: server.keyPath,
    certDir,
    env: { SSL_CERT_FILE: ca.certPath },
  };
}
