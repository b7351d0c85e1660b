// `portcullis demo`: everything on loopback, from a repository checkout. A real kube-apiserver + etcd,
// the CRDs and the examples applied, the operator, a token server reading the cluster live, and a
// Distribution registry trusting the bundle the operator publishes, all over TLS on `localhost` with a
// throwaway CA. Prints what to try, then runs until SIGINT/SIGTERM and stops everything it started.
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { kubectl, startControlPlane, type ControlPlane } from './controlPlane.js';
import { httpsRequest } from './https.js';
import { buildImage } from './image.js';
import { run, startProcess, waitFor, type ManagedProcess } from './process.js';
import { startRegistry, type RegistryFlavor, type RunningRegistry } from './registry.js';
import { createTestTLS } from './tls.js';
import { writeTrustDir } from './trust-dir.js';
import { repoRoot, toolPath, versions } from './tools.js';

export interface DemoOptions {
  /** Distribution flavour: v3 (built from its module) or 2.8 (Debian). Default v3. */
  flavor: RegistryFlavor;
  /** Where progress lines go. */
  say: (line: string) => void;
  /** Aborted (Ctrl-C during the start): what has started so far is stopped and the start rejects with DemoStopped. */
  signal?: AbortSignal;
}

/** The start was given up because `signal` was aborted; everything it had started is stopped. */
export class DemoStopped extends Error {
  constructor() {
    super('stopped before it was ready');
  }
}

export interface RunningDemo {
  /** The demo's own directory (removed on stop): client configuration, the sample image, logs. */
  dir: string;
  kubeconfigPath: string;
  registryHost: string;
  tokenUrl: string;
  caCertPath: string;
  /** A Docker-style trust directory: certs.d/HOST:PORT/ca.crt (docker, podman, containerd's --hosts-dir). */
  certsDir: string;
  /** The token server's log (audit lines included). */
  tokenServerLog: string;
  /** An OCI layout to push; also pushed as public/hello:1 when crane is there. */
  sampleLayout: string;
  samplePushed: boolean;
  /** Stops everything, in reverse order of start, and removes the temporary directory. */
  stop(): Promise<void>;
}

const SERVICE = 'registry.example.com';
/** The examples' robot that may push public/** (examples/users.yaml). */
const PUBLISHER = { username: 'ci-bot', password: 'ci-bot-example-password' };

/** Pushes the sample image to public/hello:1 as the examples' publisher, with a configuration of its own. */
async function publishSample(dir: string, host: string, caCertPath: string, layout: string): Promise<boolean> {
  let crane: string;
  try {
    crane = toolPath('crane');
  } catch {
    return false;
  }
  const env = { ...process.env, SSL_CERT_FILE: caCertPath, DOCKER_CONFIG: join(dir, 'publisher') };
  const login = await run(crane, ['auth', 'login', host, '-u', PUBLISHER.username, '-p', PUBLISHER.password], { env });
  const push = login.code === 0 ? await run(crane, ['push', layout, `${host}/public/hello:1`], { env }) : login;
  if (push.code !== 0) throw new Error(`pushing the sample image to public/hello:1 failed: ${push.stderr.trim()}`);
  return true;
}

function toolsBuilt(flavor: RegistryFlavor): boolean {
  try {
    toolPath('kube-apiserver');
    toolPath('etcd');
    if (flavor === 'v3') toolPath('registry-v3');
    return true;
  } catch {
    return false;
  }
}

/** The examples, for a setup that runs the registry itself (no Deployment to wire): the demo, tests. */
export async function exampleManifests(): Promise<string> {
  const dir = join(repoRoot, 'examples');
  const docs: string[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(dir, file), 'utf8'))) {
      const obj = doc.toJS() as { kind?: string; spec?: Record<string, unknown> } | null;
      if (!obj) continue;
      if (obj.kind === 'Registry' && obj.spec) delete obj.spec.distribution;
      docs.push(stringify(obj));
    }
  }
  return docs.join('---\n');
}

/** Waits for the operator to publish the examples' trust bundle (ConfigMap portcullis-main-bundle) and returns it. */
export async function publishedBundle(cp: ControlPlane, describe: () => string, signal?: AbortSignal): Promise<string> {
  let bundle = '';
  await waitFor(
    'the operator to publish the trust bundle',
    async () => {
      bundle = (await kubectl(cp, ['get', 'configmap', '-n', 'registry', 'portcullis-main-bundle', '-o', 'jsonpath={.data.bundle\\.pem}'])).stdout;
      return bundle.includes('BEGIN CERTIFICATE');
    },
    60_000,
    describe,
    100,
    signal,
  );
  return bundle;
}

export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const { say, signal } = options;
  const cli = join(repoRoot, 'dist', 'bin', 'portcullis.js');
  versions(); // a clear error outside a repository checkout (the demo builds its tools from it)
  if (!toolsBuilt(options.flavor)) {
    say('first run: building kube-apiserver, etcd, the registry and crane with Go (several minutes)...');
    const setup = await run('bash', [join(repoRoot, 'test', 'env', 'setup.sh'), '--demo'], {
      stdio: ['ignore', 'inherit', 'inherit'],
      timeoutMs: 60 * 60_000,
    });
    if (setup.code !== 0) throw new Error('test/env/setup.sh failed; see its output above');
  }
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run 'npm run build' first`);

  const dir = await mkdtemp(join(tmpdir(), 'portcullis-demo-'));
  const stack: (() => Promise<void>)[] = [() => rm(dir, { recursive: true, force: true })];
  const stop = async (): Promise<void> => {
    for (const step of stack.reverse()) await step().catch(() => undefined);
    stack.length = 0;
  };
  // Between steps: a step under way (the control plane's start) is not interrupted, but nothing after it starts.
  const checkpoint = (): void => {
    if (signal?.aborted) throw new DemoStopped();
  };
  try {
    checkpoint();
    say('starting etcd and kube-apiserver on loopback...');
    const cp: ControlPlane = await startControlPlane();
    stack.push(() => cp.stop());
    checkpoint();
    const k = async (args: string[], input?: string): Promise<string> => {
      const r = await kubectl(cp, args, input);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
      return r.stdout;
    };
    await k(['apply', '-k', join(repoRoot, 'crds')]);
    await k(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
    const manifests = await exampleManifests();
    // A CRD that has just become Established can refuse writes for a moment.
    await waitFor('the examples to apply', async () => (await kubectl(cp, ['apply', '-f', '-'], manifests)).code === 0, 30_000, undefined, 100, signal);
    say('applied the CRDs and examples/ (Registry registry/main, users alice, bob, ci-bot, grants)');
    checkpoint();

    const env = { ...process.env, KUBECONFIG: cp.kubeconfigPath };
    const operator: ManagedProcess = startProcess('operator', process.execPath, [cli, 'operator', '--no-leader-elect', '--log-level', 'warn'], { env });
    stack.push(() => operator.stop());
    const bundle = await publishedBundle(cp, () => operator.output(), signal);
    checkpoint();
    const bundlePath = join(dir, 'bundle.pem');
    await writeFile(bundlePath, bundle);
    say('operator running: snapshot, credentials and signing keys published');

    const tls = await createTestTLS(join(dir, 'tls'));
    const tokenServer = startProcess(
      'token-server',
      process.execPath,
      [
        cli,
        'token-server',
        '--registry',
        'registry/main',
        '--listen',
        '127.0.0.1:0',
        '--tls-cert',
        tls.serverCertPath,
        '--tls-key',
        tls.serverKeyPath,
        '--log-level',
        'info',
      ],
      { env },
    );
    stack.push(() => tokenServer.stop());
    checkpoint();
    // Its audit lines (one per token decision) go to a file the instructions name.
    const tokenServerLog = join(dir, 'token-server.log');
    const log = createWriteStream(tokenServerLog);
    tokenServer.child.stdout?.pipe(log);
    tokenServer.child.stderr?.pipe(log);
    const listening = /listening on https:\/\/[^:]+:(\d+)/;
    await waitFor(
      'the token server',
      async () => listening.test(tokenServer.output()),
      30_000,
      () => tokenServer.output(),
      100,
      signal,
    );
    const tokenUrl = `https://localhost:${listening.exec(tokenServer.output())![1]}`;
    await waitFor(
      'the token server to load the policy',
      async () => (await httpsRequest(`${tokenUrl}/readyz`, await readFile(tls.caCertPath), { timeoutMs: 2000 })).status === 200,
      60_000,
      () => tokenServer.output(),
      100,
      signal,
    );

    const registry: RunningRegistry = await startRegistry({
      flavor: options.flavor,
      tls: { cert: tls.serverCertPath, key: tls.serverKeyPath },
      auth: { realm: `${tokenUrl}/token`, service: SERVICE, issuer: 'portcullis', rootCertBundle: bundlePath },
    });
    stack.push(() => registry.stop());
    checkpoint();

    const certsDir = join(dir, 'certs.d');
    await writeTrustDir(certsDir, registry.host, tls.caCertPath);
    const sampleLayout = (await buildImage(join(dir, 'sample'))).layoutDir;
    const samplePushed = await publishSample(dir, registry.host, tls.caCertPath, sampleLayout);
    if (samplePushed) say('pushed a sample image to public/hello:1 (anyone may pull public/**)');
    checkpoint();
    return {
      dir,
      kubeconfigPath: cp.kubeconfigPath,
      registryHost: registry.host,
      tokenUrl,
      caCertPath: tls.caCertPath,
      certsDir,
      tokenServerLog,
      sampleLayout,
      samplePushed,
      stop,
    };
  } catch (err) {
    await stop();
    // A terminal's Ctrl-C reaches the children too, so the step under way may fail for it: still a stop.
    throw signal?.aborted ? new DemoStopped() : err;
  }
}
