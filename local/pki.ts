// Throwaway certificates for tests, made with the openssl command line (EC P-256: fast to generate).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './process.js';

export interface TestCA {
  certPath: string;
  keyPath: string;
}

export interface IssuedCert {
  certPath: string;
  keyPath: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const result = await run('openssl', args, { cwd });
  if (result.code !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
}

export async function createCA(dir: string, name: string): Promise<TestCA> {
  await mkdir(dir, { recursive: true });
  const keyPath = join(dir, `${name}-ca.key`);
  const certPath = join(dir, `${name}-ca.crt`);
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyPath], dir);
  await openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      keyPath,
      '-sha256',
      '-days',
      '2',
      '-subj',
      `/CN=${name} test CA`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      certPath,
    ],
    dir,
  );
  return { certPath, keyPath };
}

export interface CertRequest {
  /** File name stem. */
  name: string;
  commonName: string;
  organizations?: string[];
  dnsNames?: string[];
  ips?: string[];
  usage: 'server' | 'client';
}

// `-CAcreateserial` reads and rewrites the CA's serial file: two signings at once (startCluster asks for
// four kubeconfigs together) read it half-written ("Unable to load number"). One signing per CA at a time.
const signing = new Map<string, Promise<unknown>>();

export function issueCert(ca: TestCA, dir: string, req: CertRequest): Promise<IssuedCert> {
  const previous = signing.get(ca.certPath) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(() => issueCertNow(ca, dir, req));
  signing.set(ca.certPath, next);
  return next;
}

async function issueCertNow(ca: TestCA, dir: string, req: CertRequest): Promise<IssuedCert> {
  const keyPath = join(dir, `${req.name}.key`);
  const csrPath = join(dir, `${req.name}.csr`);
  const certPath = join(dir, `${req.name}.crt`);
  const extPath = join(dir, `${req.name}.ext`);
  const subject = `/CN=${req.commonName}${(req.organizations ?? []).map((o) => `/O=${o}`).join('')}`;
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyPath], dir);
  await openssl(['req', '-new', '-key', keyPath, '-subj', subject, '-out', csrPath], dir);
  const sans = [...(req.dnsNames ?? []).map((d) => `DNS:${d}`), ...(req.ips ?? []).map((i) => `IP:${i}`)];
  const ext = [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${req.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
    ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
  ];
  await writeFile(extPath, ext.join('\n') + '\n');
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      csrPath,
      '-CA',
      ca.certPath,
      '-CAkey',
      ca.keyPath,
      '-CAcreateserial',
      '-days',
      '2',
      '-sha256',
      '-extfile',
      extPath,
      '-out',
      certPath,
    ],
    dir,
  );
  return { certPath, keyPath };
}
