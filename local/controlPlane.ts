// A real Kubernetes control plane for tests, envtest style: etcd + kube-apiserver on loopback ports
// in a temporary directory, RBAC on, an admin (system:masters) kubeconfig, and ServiceAccount
// kubeconfigs for least-privilege tests. No controller manager runs: tests play its part when they
// need one (see the Deployment helpers in later suites). The front proxy is set up as kubeadm does it
// (a CA of its own, a `front-proxy-client` certificate, the --requestheader-* flags), so aggregated
// APIs can be registered (local/aggregatedApi.ts).
import { KubeConfig } from '@kubernetes/client-node';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCA, issueCert, type IssuedCert, type TestCA } from './pki.js';
import { freePort, run, startProcess, waitFor, type ManagedProcess } from './process.js';
import { toolPath } from './tools.js';

export interface ControlPlaneOptions {
  /**
   * Write an audit log to `auditLogPath`: of every write (Metadata level), or with 'secret-reads' also
   * of every read of a Secret (who read which Secret, never its content).
   */
  auditLog?: boolean | 'secret-reads';
  /** Keep the temp dir after stop (for debugging). */
  keepDir?: boolean;
  /**
   * Serve a real node (local/cluster.ts): listen on every address and advertise `advertiseAddress`, the
   * `kubernetes` Service's endpoint that pods reach; the Node authorizer and NodeRestriction for the
   * kubelet, ServiceAccount admission (the controller manager creates the accounts), and a client
   * certificate (system:masters) for the API server's calls to the kubelet (logs, exec).
   */
  node?: { advertiseAddress: string };
}

export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  server: string;
  /** Admin kubeconfig (client certificate in system:masters). */
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  dir: string;
  /** The CA that issued the API server's serving certificate (PEM file). */
  caCertPath: string;
  /**
   * The front proxy: the CA the aggregator's client certificate chains to (published in ConfigMap
   * kube-system/extension-apiserver-authentication as requestheader-client-ca-file), and that certificate
   * (CN front-proxy-client), for tests that speak to an aggregated API server as the aggregator does; the
   * CA's key issues certificates with other names, for tests of who else must not pass as the proxy.
   */
  frontProxy: { caCertPath: string; caKeyPath: string; clientCertPath: string; clientKeyPath: string };
  /** The private key the API server signs ServiceAccount tokens with (PEM file): for forged-token tests. */
  serviceAccountSigningKeyPath: string;
  auditLogPath?: string;
  /** Creates the ServiceAccount if needed and returns a kubeconfig holding a token for it. */
  kubeconfigForServiceAccount(namespace: string, name: string): Promise<{ path: string; kubeConfig: KubeConfig }>;
  /**
   * A kubeconfig for a user (client certificate from the cluster CA, CN user, O groups) with no RBAC
   * bindings of its own; the certificate's files too.
   */
  kubeconfigForUser(user: string, groups?: string[]): Promise<{ path: string; kubeConfig: KubeConfig; certPath: string; keyPath: string }>;
  /** Stops only kube-apiserver (etcd keeps the data), to test behaviour while the API is away. */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port with the same data. */
  startApiServer(): Promise<void>;
  /** Combined logs of etcd and kube-apiserver, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

interface Pki {
  ca: TestCA;
  serving: IssuedCert;
  admin: IssuedCert;
  frontProxyCA: TestCA;
  frontProxyClient: IssuedCert;
  saKey: string;
  saPub: string;
}

async function createPki(dir: string, advertiseAddress?: string): Promise<Pki> {
  const ca = await createCA(dir, 'kubernetes');
  const serving = await issueCert(ca, dir, {
    name: 'apiserver',
    commonName: 'kube-apiserver',
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
    ips: ['127.0.0.1', '10.0.0.1', ...(advertiseAddress ? [advertiseAddress] : [])],
    usage: 'server',
  });
  const admin = await issueCert(ca, dir, { name: 'admin', commonName: 'admin', organizations: ['system:masters'], usage: 'client' });
  // A CA apart from the cluster's, as kubeadm makes it: a cluster client certificate must not pass as
  // the front proxy, whose headers name any user.
  const frontProxyCA = await createCA(dir, 'front-proxy');
  const frontProxyClient = await issueCert(frontProxyCA, dir, { name: 'front-proxy-client', commonName: FRONT_PROXY_CLIENT, usage: 'client' });
  const saKey = join(dir, 'sa.key');
  const saPub = join(dir, 'sa.pub');
  // RSA 2048, as kubeadm and the managed clusters make it: their RS256 ServiceAccount tokens are what a
  // token server meets (a pod-bound one runs past 1 KB; with an EC key the tests saw 900 characters).
  let r = await run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', saKey]);
  if (r.code !== 0) throw new Error(r.stderr);
  r = await run('openssl', ['pkey', '-in', saKey, '-pubout', '-out', saPub]);
  if (r.code !== 0) throw new Error(r.stderr);
  return { ca, serving, admin, frontProxyCA, frontProxyClient, saKey, saPub };
}

/** The CN of the aggregator's client certificate, the only name --requestheader-allowed-names admits. */
export const FRONT_PROXY_CLIENT = 'front-proxy-client';

function kubeconfigYaml(server: string, caPath: string, user: { certPath?: string; keyPath?: string; token?: string }, name: string): string {
  const userLines = user.token ? [`    token: ${user.token}`] : [`    client-certificate: ${user.certPath}`, `    client-key: ${user.keyPath}`];
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${caPath}`,
    'users:',
    `- name: ${name}`,
    '  user:',
    ...userLines,
    'contexts:',
    '- name: test',
    '  context:',
    '    cluster: test',
    `    user: ${name}`,
    'current-context: test',
    '',
  ].join('\n');
}

/** GET a path with the admin certificate; resolves with status and body. */
function adminGet(server: string, pki: Pki, path: string): Promise<{ status: number; body: string }> {
  return Promise.all([readFile(pki.ca.certPath), readFile(pki.admin.certPath), readFile(pki.admin.keyPath)]).then(
    ([ca, cert, key]) =>
      new Promise((resolve, reject) => {
        const req = request(`${server}${path}`, { ca, cert, key, timeout: 2000 }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end();
      }),
  );
}

const SECRET_READS = `- level: Metadata
  verbs: [get, list]
  resources: [{group: "", resources: [secrets]}]
`;

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
__READS__- level: None
  verbs: [get, list, watch]
- level: None
  resources: [{group: coordination.k8s.io, resources: [leases]}]
- level: Metadata
`;

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-cp-'));
  const pki = await createPki(dir, options.node?.advertiseAddress);
  const [etcdClientPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
  const server = `https://127.0.0.1:${apiPort}`;

  const etcd = startProcess('etcd', toolPath('etcd'), [
    '--name=default',
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
    `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
    '--unsafe-no-fsync',
    '--log-level=warn',
  ]);

  let auditLogPath: string | undefined;
  const apiArgs = [
    `--etcd-servers=${etcdUrl}`,
    `--bind-address=${options.node ? '0.0.0.0' : '127.0.0.1'}`,
    `--advertise-address=${options.node?.advertiseAddress ?? '127.0.0.1'}`,
    `--secure-port=${apiPort}`,
    `--tls-cert-file=${pki.serving.certPath}`,
    `--tls-private-key-file=${pki.serving.keyPath}`,
    `--client-ca-file=${pki.ca.certPath}`,
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    // The issuer is the API server's own URL, so its discovery document and key set are reachable: tests
    // use it as a real OIDC issuer (its ServiceAccount tokens as CI tokens).
    `--service-account-issuer=${server}`,
    `--authorization-mode=${options.node ? 'Node,RBAC' : 'RBAC'}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    '--allow-privileged=true',
    // No controller manager or kubelet here: admission that waits for them would only get in the way.
    ...(options.node ? ['--enable-admission-plugins=NodeRestriction'] : ['--disable-admission-plugins=ServiceAccount']),
    `--cert-dir=${join(dir, 'apiserver-certs')}`,
    // The front proxy (kubeadm's flags): the aggregator presents proxy-client-cert to aggregated API
    // servers, which believe the X-Remote-* headers only from a certificate of this CA with this CN.
    `--requestheader-client-ca-file=${pki.frontProxyCA.certPath}`,
    `--requestheader-allowed-names=${FRONT_PROXY_CLIENT}`,
    '--requestheader-username-headers=X-Remote-User',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    `--proxy-client-cert-file=${pki.frontProxyClient.certPath}`,
    `--proxy-client-key-file=${pki.frontProxyClient.keyPath}`,
  ];
  if (options.node) {
    const kubeletClient = await issueCert(pki.ca, dir, {
      name: 'apiserver-kubelet-client',
      commonName: 'kube-apiserver-kubelet-client',
      organizations: ['system:masters'],
      usage: 'client',
    });
    apiArgs.push(
      `--kubelet-client-certificate=${kubeletClient.certPath}`,
      `--kubelet-client-key=${kubeletClient.keyPath}`,
      '--kubelet-preferred-address-types=InternalIP',
    );
  }
  if (options.auditLog) {
    auditLogPath = join(dir, 'audit.log');
    const policyPath = join(dir, 'audit-policy.yaml');
    await writeFile(policyPath, AUDIT_POLICY.replace('__READS__', options.auditLog === 'secret-reads' ? SECRET_READS : ''));
    apiArgs.push(`--audit-policy-file=${policyPath}`, `--audit-log-path=${auditLogPath}`, '--audit-log-mode=blocking');
  }

  let apiserver: ManagedProcess | undefined;
  const logs = (): string => `--- etcd ---\n${etcd.output().slice(-8000)}\n--- kube-apiserver ---\n${apiserver?.output().slice(-20000) ?? ''}`;

  const waitEtcd = waitFor(
    'etcd health',
    async () => {
      const res = await fetch(`${etcdUrl}/health`);
      return res.ok;
    },
    30_000,
    () => etcd.output(),
  );

  const startApiServer = async (): Promise<void> => {
    apiserver = startProcess('kube-apiserver', toolPath('kube-apiserver'), apiArgs);
    const proc = apiserver;
    await waitFor(
      'kube-apiserver /readyz',
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`kube-apiserver exited with ${proc.child.exitCode}`);
        return (await adminGet(server, pki, '/readyz')).status === 200;
      },
      90_000,
      logs,
    );
  };

  try {
    await waitEtcd;
    await startApiServer();
  } catch (err) {
    await apiserver?.stop();
    await etcd.stop();
    if (!options.keepDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const kubeconfigPath = join(dir, 'admin.kubeconfig');
  await writeFile(kubeconfigPath, kubeconfigYaml(server, pki.ca.certPath, pki.admin, 'admin'));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);

  const kubectlAdmin = (args: string[], input?: string) => run('kubectl', ['--kubeconfig', kubeconfigPath, ...args], input === undefined ? {} : { input });

  const plane: ControlPlane = {
    server,
    kubeconfigPath,
    kubeConfig,
    dir,
    caCertPath: pki.ca.certPath,
    frontProxy: {
      caCertPath: pki.frontProxyCA.certPath,
      caKeyPath: pki.frontProxyCA.keyPath,
      clientCertPath: pki.frontProxyClient.certPath,
      clientKeyPath: pki.frontProxyClient.keyPath,
    },
    serviceAccountSigningKeyPath: pki.saKey,
    ...(auditLogPath ? { auditLogPath } : {}),
    async kubeconfigForServiceAccount(namespace, name) {
      const sa = `apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ${name}, namespace: ${namespace}}\n`;
      const ns = `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${namespace}}\n`;
      let r = await kubectlAdmin(['apply', '-f', '-'], `${ns}---\n${sa}`);
      if (r.code !== 0) throw new Error(`creating ServiceAccount ${namespace}/${name}: ${r.stderr}`);
      r = await kubectlAdmin(['create', 'token', '-n', namespace, name, '--duration=24h']);
      if (r.code !== 0) throw new Error(`token for ${namespace}/${name}: ${r.stderr}`);
      const path = join(dir, `sa-${namespace}-${name}.kubeconfig`);
      await writeFile(path, kubeconfigYaml(server, pki.ca.certPath, { token: r.stdout.trim() }, `system:serviceaccount:${namespace}:${name}`), { mode: 0o600 });
      const kc = new KubeConfig();
      kc.loadFromFile(path);
      return { path, kubeConfig: kc };
    },
    async kubeconfigForUser(user, groups = []) {
      const cert = await issueCert(pki.ca, dir, {
        name: `user-${user.replace(/[^a-z0-9-]/gi, '_')}`,
        commonName: user,
        organizations: groups,
        usage: 'client',
      });
      const path = join(dir, `user-${user.replace(/[^a-z0-9-]/gi, '_')}.kubeconfig`);
      await writeFile(path, kubeconfigYaml(server, pki.ca.certPath, cert, user));
      const kc = new KubeConfig();
      kc.loadFromFile(path);
      return { path, kubeConfig: kc, certPath: cert.certPath, keyPath: cert.keyPath };
    },
    async stopApiServer() {
      await apiserver?.stop();
    },
    startApiServer,
    logs,
    async stop() {
      await apiserver?.stop();
      await etcd.stop();
      if (!options.keepDir) await rm(dir, { recursive: true, force: true });
    },
  };
  return plane;
}

/** Runs the real kubectl against the control plane as admin. */
export function kubectl(cp: Pick<ControlPlane, 'kubeconfigPath'>, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return run('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args], input === undefined ? {} : { input });
}
