// Portcullis installed by its chart on a real node (local/cluster.ts), as the shared scenario of
// hack/e2e-scenario/ describes it and hack/kind-e2e.sh installs it on kind: the images imported into the
// node's containerd, the registry's shared hostPath volume, `helm install` as the README shows it (no
// --wait: on a first install the Registry arrives by a post-install hook, and the registry pods wait for
// the trust bundle the operator publishes for it), the scenario's users and grants; clients on the host
// reach the token server and the registry through NodePorts 30501 and 30500 of the node.
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubectl } from '../../local/controlPlane.js';
import { run, waitFor } from '../../local/process.js';
import { repoRoot, toolPath } from '../../local/tools.js';
import type { ClientContext, ClientResult } from './clients.js';
import { clusterImages } from './cluster-images.js';
import { installChart } from '../support/helm-chart.js';

export const NS = 'portcullis-system';
export const RELEASE = 'portcullis';
export const SCENARIO = join(repoRoot, 'hack', 'e2e-scenario');
export const CHART = join(repoRoot, 'charts', 'portcullis');
const REGISTRY_PORT = 30500;
const TOKEN_PORT = 30501;

export interface ScenarioStep {
  user: string;
  action: 'push' | 'pull';
  /** repository:tag, without the registry host. */
  reference: string;
  expect: 'ok' | 'refused';
}

export async function scenarioSteps(): Promise<ScenarioStep[]> {
  const text = await readFile(join(SCENARIO, 'steps.tsv'), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => {
      const [user, action, reference, expect] = line.split('\t');
      if (!user || (action !== 'push' && action !== 'pull') || !reference || (expect !== 'ok' && expect !== 'refused')) {
        throw new Error(`hack/e2e-scenario/steps.tsv: cannot read "${line}"`);
      }
      return { user, action, reference, expect };
    });
}

/** What the install needs of local/cluster.ts's RunningCluster. */
export interface ChartNode {
  kubeconfigPath: string;
  /** The node's IP as the host reaches it: NodePorts answer there. */
  nodeIP: string;
  importImage(archivePath: string): Promise<void>;
}

export interface InstalledPortcullis {
  cluster: ChartNode;
  /** NODE_IP:30500, the registry's NodePort as clients on the host reach it. */
  registryHost: string;
  /** http://NODE_IP:30501/token */
  realm: string;
  /** The values every helm install and upgrade of this release passes (images, realm, service). */
  values: string[];
  helm(args: string[]): Promise<ClientResult>;
  kubectl(args: string[], input?: string): Promise<ClientResult>;
  /** The scenario user's login, its password read from Secret <user>-password. */
  ctx(user: string): Promise<ClientContext>;
  /** Seconds the image archive took to build (0: cached) and to import. */
  timings: { imageBuild: number; imageImport: number; install: number };
  /** Deletes what the install left outside the cluster (the volume's directory). */
  cleanup(): Promise<void>;
}

/** Imports the images, creates the volume, installs the chart and the scenario's objects; waits until all serve. */
export async function installPortcullis(cluster: ChartNode): Promise<InstalledPortcullis> {
  const env = {
    ...process.env,
    KUBECONFIG: cluster.kubeconfigPath,
    // Keep helm's cache, config and data out of the user's home (as test/support/helm-chart.ts does).
    HELM_CACHE_HOME: join(tmpdir(), 'portcullis-helm-cache'),
    HELM_CONFIG_HOME: join(tmpdir(), 'portcullis-helm-config'),
    HELM_DATA_HOME: join(tmpdir(), 'portcullis-helm-data'),
  };
  const helm = (args: string[]) => run(toolPath('helm'), args, { env, timeoutMs: 600_000 });
  const kc = (args: string[], input?: string) => kubectl(cluster, args, input);
  const must = async (what: string, r: Promise<ClientResult>): Promise<ClientResult> => {
    const done = await r;
    if (done.code !== 0) throw new Error(`${what} failed: ${done.stdout}\n${done.stderr}`);
    return done;
  };

  const images = await clusterImages();
  let t0 = Date.now();
  for (const archive of images.archives) await cluster.importImage(archive);
  const imageImport = Math.round((Date.now() - t0) / 1000);

  const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-registry-data-'));
  await chmod(dataDir, 0o777); // hostPath volumes get no fsGroup: the registry runs as uid 65532
  const storage = (await readFile(join(SCENARIO, 'storage.yaml'), 'utf8')).replaceAll('DATA_DIR', dataDir);
  await must('the registry volume', kc(['apply', '-f', '-'], storage));

  const registryHost = `${cluster.nodeIP}:${REGISTRY_PORT}`;
  const realm = `http://${cluster.nodeIP}:${TOKEN_PORT}/token`;
  const values = [
    '-f',
    join(SCENARIO, 'values.yaml'),
    ...images.values.flatMap((v) => ['--set', v]),
    '--set',
    `registryResource.realm=${realm}`,
    '--set',
    `registryResource.service=${registryHost}`,
  ];
  t0 = Date.now();
  const served = () => kc(['get', 'registries', '-A', '-o', 'name']).then((r) => r.code === 0);
  await must('helm install', installChart(helm, [RELEASE, CHART, '-n', NS, '--create-namespace', ...values], served));
  await must('the scenario objects', applyWhenCRDsServe(kc));
  await waitServing(kc);
  await waitIssuing(kc, realm, registryHost);
  const install = Math.round((Date.now() - t0) / 1000);

  const passwords = new Map<string, string>();
  return {
    cluster,
    registryHost,
    realm,
    values,
    helm,
    kubectl: kc,
    async ctx(user) {
      let password = passwords.get(user);
      if (password === undefined) {
        const r = await must(`${user}'s password`, kc(['-n', NS, 'get', 'secret', `${user}-password`, '-o', 'jsonpath={.data.password}']));
        password = Buffer.from(r.stdout, 'base64').toString();
        passwords.set(user, password);
      }
      return { auth: { username: user, password } };
    },
    timings: { imageBuild: images.builtSeconds, imageImport, install },
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  };
}

async function applyWhenCRDsServe(kc: (args: string[], input?: string) => Promise<ClientResult>): Promise<ClientResult> {
  let last: ClientResult = { code: 1, stdout: '', stderr: '' };
  const objects = join(SCENARIO, 'objects.yaml');
  await waitFor(
    'the scenario objects applied',
    async () => (last = await kc(['apply', '-f', objects])).code === 0,
    60_000,
    () => last.stderr,
  );
  return last;
}

/** Registry main, users and grants Ready; every Deployment rolled out; the token server issuing. */
export async function waitServing(kc: (args: string[], input?: string) => Promise<ClientResult>): Promise<void> {
  let last: ClientResult = { code: 1, stdout: '', stderr: '' };
  await waitFor(
    'Registry, users and grants Ready',
    async () =>
      (last = await kc([
        '-n',
        NS,
        'wait',
        '--for=condition=Ready',
        'registry/main',
        'registryuser/alice',
        'registryuser/bob',
        'repositorygrant/alice-team',
        '--timeout=10s',
      ])).code === 0,
    180_000,
    () => last.stderr,
  );
  for (const deployment of ['operator', 'token-server', 'registry']) {
    last = await kc(['-n', NS, 'rollout', 'status', `deployment/${RELEASE}-${deployment}`, '--timeout=300s']);
    if (last.code !== 0) {
      const pods = await kc(['-n', NS, 'get', 'pods', '-o', 'wide']);
      const events = await kc(['-n', NS, 'get', 'events', '--sort-by=.lastTimestamp']);
      throw new Error(`deployment ${deployment} did not roll out: ${last.stderr}\n${pods.stdout}\n${events.stdout.slice(-4000)}`);
    }
  }
}

/**
 * The Registry's first signing key issued (KeysReady: only after the registry rolled to the bundle that
 * trusts it), both token servers Ready with it, and a token for alice through the NodePort.
 */
async function waitIssuing(kc: (args: string[], input?: string) => Promise<ClientResult>, realm: string, service: string): Promise<void> {
  let last: ClientResult = { code: 1, stdout: '', stderr: '' };
  await waitFor(
    'KeysReady',
    async () => (last = await kc(['-n', NS, 'wait', '--for=condition=KeysReady', 'registry/main', '--timeout=10s'])).code === 0,
    300_000,
    () => last.stderr,
  );
  await waitFor(
    'both token servers Ready',
    async () => {
      last = await kc(['-n', NS, 'get', 'deployment', `${RELEASE}-token-server`, '-o', 'jsonpath={.status.readyReplicas}']);
      return last.stdout.trim() === '2';
    },
    180_000,
    () => last.stderr,
  );
  const password = Buffer.from((await kc(['-n', NS, 'get', 'secret', 'alice-password', '-o', 'jsonpath={.data.password}'])).stdout, 'base64').toString();
  const authorization = `Basic ${Buffer.from(`alice:${password}`).toString('base64')}`;
  let status = 0;
  await waitFor(
    'a token for alice through the NodePort',
    async () => {
      status = await fetch(`${realm}?service=${encodeURIComponent(service)}&scope=repository:team/hello:pull`, { headers: { authorization } })
        .then((r) => r.status)
        .catch(() => 0);
      return status === 200;
    },
    120_000,
    () => `last status ${status}`,
  );
}
