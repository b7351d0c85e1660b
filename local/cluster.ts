// A real single-node Kubernetes cluster for the tests: the control plane of local/controlPlane.ts serving
// the node's address, kube-controller-manager and kube-scheduler, kube-proxy in iptables mode, and the
// kubelet on containerd 1.6 (Debian's, with runc and the bridge CNI plugin). Built by test/env/setup.sh
// from the same Kubernetes module as kube-apiserver. No registry is reachable: every image a pod runs is
// imported into the node's containerd (importImage), the sandbox image included. No DNS runs: in-cluster
// clients find the API through KUBERNETES_SERVICE_HOST, which kube-proxy serves.
//
// One node per machine (local/cluster-lock.ts); starting removes what a crashed run left, and stop()
// removes every process, mount, iptables chain, cgroup and file the node made (local/cluster-cleanup.ts).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  cniConfig,
  containerdConfig,
  KUBERNETES_SERVICE_IP,
  kubeletConfig,
  kubeProxyConfig,
  NODE_NAME,
  nodePaths,
  SERVICE_CIDR,
  type NodePaths,
} from './cluster-config.js';
import { removeNodeLeftovers } from './cluster-cleanup.js';
import { writeClusterImage } from './cluster-images.js';
import { acquireNodeLock } from './cluster-lock.js';
import { ensureNodeSysctls } from './cluster-sysctls.js';
import { kubectl, startControlPlane, type ControlPlane } from './controlPlane.js';
import { freePort, run, startProcess, waitFor, type ManagedProcess } from './process.js';
import { toolPath } from './tools.js';

export interface RunningCluster extends ControlPlane {
  /** The node's IP as seen from the host (NodePorts answer there). */
  nodeIP: string;
  /** `ctr -n k8s.io images import` of a docker-save / OCI archive into the node's containerd. */
  importImage(archivePath: string): Promise<void>;
  /** Restarts the kubelet process (pods keep running in containerd). */
  restartKubelet(): Promise<void>;
  /** Restarts kube-apiserver on the same port/certs/etcd; resolves once pods reach it again (kube-proxy re-programmed). */
  restartApiServer(): Promise<void>;
  /** Kills pods/containers, containerd, every component, cleans every path it wrote. */
  stop(): Promise<void>;
}

/** How long startCluster waits for another process's node to stop (npm test runs cluster files one at a time). */
const LOCK_WAIT_MS = 30 * 60_000;
/** A file under the node's root naming the control plane's dir, so a later run can remove a crashed one's. */
const CONTROL_PLANE_MARKER = 'control-plane-dir';

/** The address of the interface the default route leaves by: pods reach the API server there. */
async function hostIP(): Promise<string> {
  const r = await run('ip', ['-j', 'route', 'get', '1.1.1.1']);
  const routes = r.code === 0 ? (JSON.parse(r.stdout) as { prefsrc?: string }[]) : [];
  const ip = routes[0]?.prefsrc;
  if (!ip || ip.startsWith('127.')) throw new Error(`the test node needs a non-loopback IPv4 address with a route; ip route get said: ${r.stdout}${r.stderr}`);
  return ip;
}

/**
 * Resolves once a TCP connection to the `kubernetes` Service's ClusterIP succeeds from the host, which
 * kube-proxy's rules serve as they serve pods: after the API server (re)starts and re-adds its endpoint,
 * kube-proxy needs a moment to program it, and in-cluster clients are refused until then.
 */
function kubernetesServiceAnswers(logs: () => string): Promise<void> {
  const attempt = (): Promise<boolean> =>
    new Promise((resolve) => {
      const socket = connect({ host: KUBERNETES_SERVICE_IP, port: 443, timeout: 2000 });
      const done = (ok: boolean): void => {
        socket.destroy();
        resolve(ok);
      };
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
      socket.once('timeout', () => done(false));
    });
  return waitFor(`the kubernetes Service (${KUBERNETES_SERVICE_IP}:443) through kube-proxy`, attempt, 60_000, logs, 250);
}

async function previousControlPlaneDir(paths: NodePaths): Promise<string[]> {
  const dir = (await readFile(join(paths.root, CONTROL_PLANE_MARKER), 'utf8').catch(() => '')).trim();
  return dir ? [dir] : [];
}

export async function startCluster(options: { keepDir?: boolean } = {}): Promise<RunningCluster> {
  const paths = nodePaths();
  const releaseLock = await acquireNodeLock(LOCK_WAIT_MS);
  const processes: ManagedProcess[] = [];
  let plane: ControlPlane | undefined;
  let restoreSysctls = async (): Promise<void> => undefined;
  const ctr = (args: string[], timeoutMs = 120_000) => run('ctr', ['--address', paths.containerdSocket, '-n', 'k8s.io', ...args], { timeoutMs });
  const componentLogs = (): string => processes.map((p) => `--- ${p.name} ---\n${p.output().slice(-12_000)}`).join('\n');
  const logs = (): string => `${plane?.logs() ?? ''}\n${componentLogs()}`;
  const cleanUp = async (): Promise<void> => {
    for (const p of [...processes].reverse()) await p.stop(10_000);
    if (plane && options.keepDir) await writeFile(join(plane.dir, 'node-components.log'), componentLogs());
    await plane?.stop();
    await removeNodeLeftovers(paths, plane && !options.keepDir ? [plane.dir] : []);
    await restoreSysctls();
  };

  try {
    await removeNodeLeftovers(paths, await previousControlPlaneDir(paths));
    restoreSysctls = await ensureNodeSysctls();
    const nodeIP = await hostIP();
    const cp = await startControlPlane({ ...(options.keepDir ? { keepDir: true } : {}), node: { advertiseAddress: nodeIP } });
    plane = cp;
    for (const dir of [paths.root, paths.cniConfDir, paths.kubeletRoot, paths.podLogs]) await mkdir(dir, { recursive: true });
    await writeFile(join(paths.root, CONTROL_PLANE_MARKER), cp.dir);

    const pauseArchive = join(paths.root, 'pause.tar');
    const pauseRef = await writeClusterImage('pause', pauseArchive);
    await writeFile(paths.containerdConfig, containerdConfig(paths, pauseRef));
    await writeFile(join(paths.cniConfDir, '10-portcullis.conflist'), cniConfig(paths));
    const containerd = startProcess('containerd', 'containerd', ['--config', paths.containerdConfig]);
    processes.push(containerd);
    await waitFor(
      'containerd',
      async () => (await ctr(['version'], 5000)).code === 0,
      30_000,
      () => containerd.output(),
    );
    const importImage = async (archivePath: string): Promise<void> => {
      const r = await ctr(['images', 'import', archivePath], 600_000);
      if (r.code !== 0) throw new Error(`ctr images import ${archivePath}: ${r.stderr.trim()}`);
    };
    await importImage(pauseArchive);

    const [node, scheduler, controllerManager, proxy] = await Promise.all([
      cp.kubeconfigForUser(`system:node:${NODE_NAME}`, ['system:nodes']),
      cp.kubeconfigForUser('system:kube-scheduler'),
      cp.kubeconfigForUser('system:kube-controller-manager'),
      cp.kubeconfigForUser('system:kube-proxy'),
    ]);
    processes.push(
      startProcess('kube-controller-manager', toolPath('kube-controller-manager'), [
        `--kubeconfig=${controllerManager.path}`,
        '--secure-port=0',
        '--leader-elect=false',
        // Each controller under its own ServiceAccount, as kubeadm runs it, so RBAC is what real clusters have.
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${cp.serviceAccountSigningKeyPath}`,
        // Published to every namespace as kube-root-ca.crt, which projected ServiceAccount volumes mount.
        `--root-ca-file=${cp.caCertPath}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
      ]),
      startProcess('kube-scheduler', toolPath('kube-scheduler'), [`--kubeconfig=${scheduler.path}`, '--secure-port=0', '--leader-elect=false']),
    );
    const [proxyHealthz, proxyMetrics] = [await freePort(), await freePort()];
    await writeFile(paths.kubeProxyConfig, kubeProxyConfig({ kubeconfig: proxy.path, healthzPort: proxyHealthz, metricsPort: proxyMetrics }));
    processes.push(startProcess('kube-proxy', toolPath('kube-proxy'), [`--config=${paths.kubeProxyConfig}`]));

    const [kubeletPort, kubeletHealthz] = [await freePort(), await freePort()];
    await writeFile(paths.kubeletConfig, kubeletConfig(paths, { clientCAFile: cp.caCertPath, nodeIP, port: kubeletPort, healthzPort: kubeletHealthz }));
    const kubeletArgs = [
      `--config=${paths.kubeletConfig}`,
      `--kubeconfig=${node.path}`,
      `--root-dir=${paths.kubeletRoot}`,
      // Its self-signed serving certificate; the default, /var/lib/kubelet/pki, ignores --root-dir.
      `--cert-dir=${join(paths.kubeletRoot, 'pki')}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${nodeIP}`,
    ];
    let kubelet = startProcess('kubelet', toolPath('kubelet'), kubeletArgs);
    processes.push(kubelet);
    const kubeletHealthy = (): Promise<void> =>
      waitFor('kubelet /healthz', async () => (await fetch(`http://127.0.0.1:${kubeletHealthz}/healthz`)).ok, 60_000, logs, 250);

    await kubeletHealthy();
    await waitFor(
      `node ${NODE_NAME} Ready`,
      async () => (await kubectl(cp, ['get', 'node', NODE_NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).stdout === 'True',
      120_000,
      logs,
      500,
    );
    // Pods are refused until their namespace's ServiceAccount exists, and cannot start until kube-root-ca.crt does.
    await waitFor(
      'ServiceAccount default/default and ConfigMap default/kube-root-ca.crt',
      async () =>
        (await kubectl(cp, ['get', 'serviceaccount/default', '-n', 'default'])).code === 0 &&
        (await kubectl(cp, ['get', 'configmap/kube-root-ca.crt', '-n', 'default'])).code === 0,
      60_000,
      logs,
      500,
    );
    await kubernetesServiceAnswers(logs);

    let stopped = false;
    return {
      ...cp,
      nodeIP,
      logs,
      importImage,
      async restartKubelet() {
        await kubelet.stop(10_000);
        processes.splice(processes.indexOf(kubelet), 1);
        kubelet = startProcess('kubelet', toolPath('kubelet'), kubeletArgs);
        processes.push(kubelet);
        await kubeletHealthy();
      },
      async restartApiServer() {
        await cp.stopApiServer();
        await cp.startApiServer();
        await kubernetesServiceAnswers(logs);
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        try {
          await drainNode(cp, processes, ctr);
          await cleanUp();
        } finally {
          await releaseLock();
        }
      },
    };
  } catch (err) {
    let message = err instanceof Error ? err.message : String(err);
    try {
      await cleanUp();
    } catch (cleanupErr) {
      message += `\n(and cleaning up: ${cleanupErr instanceof Error ? cleanupErr.message : String(cleanupErr)})`;
    } finally {
      await releaseLock();
    }
    throw new Error(`starting the test cluster: ${message}`, { cause: err });
  }
}

/**
 * Stops the controllers, then deletes every pod through the API so the kubelet tears each down as it
 * would on a real node (CNI DEL, network namespace, volumes), and waits until containerd runs no task.
 * Best effort: whatever is left (the API server stopped, a pod stuck) is killed by removeNodeLeftovers.
 */
async function drainNode(
  cp: ControlPlane,
  processes: ManagedProcess[],
  ctr: (args: string[], timeoutMs?: number) => Promise<{ code: number; stdout: string }>,
): Promise<void> {
  for (const p of processes.filter((p) => p.name === 'kube-controller-manager' || p.name === 'kube-scheduler')) await p.stop(10_000);
  const deleted = await kubectl(cp, ['delete', 'pods', '--all', '--all-namespaces', '--grace-period=2', '--timeout=60s']);
  if (deleted.code !== 0) return;
  await waitFor(
    'containerd to run no task',
    async () => {
      const tasks = await ctr(['tasks', 'ls', '-q'], 10_000);
      return tasks.code === 0 && tasks.stdout.trim() === '';
    },
    30_000,
  ).catch(() => undefined);
}
