// What the cluster tests look at and do to the chart's pods on the real node: the pods of one component,
// the operator pod holding the Lease, and a SIGKILL of a container's processes as the node sees them
// (an OOM kill or a crash: no SIGTERM, no Lease release, the kubelet restarts the container).
import { readdir, readFile } from 'node:fs/promises';
import type { ClientResult } from './clients.js';
import { NS, RELEASE } from './cluster-portcullis.js';

type Kubectl = (args: string[], input?: string) => Promise<ClientResult>;

export interface PodSummary {
  name: string;
  uid: string;
  phase: string;
  ready: boolean;
  deleting: boolean;
  restarts: number;
  /** The first container's ID without the runtime prefix (containerd://). */
  containerID: string;
  serviceAccountName: string;
  spec: PodSpecView;
}

export interface PodSpecView {
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  containers: {
    name: string;
    image: string;
    imagePullPolicy?: string;
    securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
    readinessProbe?: unknown;
    livenessProbe?: unknown;
  }[];
}

interface PodObject {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: PodSpecView & { serviceAccountName?: string };
  status: {
    phase: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { restartCount: number; containerID?: string }[];
  };
}

export async function podsOf(kc: Kubectl, component: 'operator' | 'token-server' | 'registry'): Promise<PodSummary[]> {
  const r = await kc(['-n', NS, 'get', 'pods', '-l', `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=${component}`, '-o', 'json']);
  if (r.code !== 0) throw new Error(`listing ${component} pods: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { items: PodObject[] }).items.map((p) => ({
    name: p.metadata.name,
    uid: p.metadata.uid,
    phase: p.status.phase,
    ready: p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    deleting: p.metadata.deletionTimestamp !== undefined,
    restarts: (p.status.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
    containerID: (p.status.containerStatuses?.[0]?.containerID ?? '').replace(/^[a-z]+:\/\//, ''),
    serviceAccountName: p.spec.serviceAccountName ?? 'default',
    spec: p.spec,
  }));
}

/** The operator pod holding Lease portcullis-operator (its identity is `<hostname>-<8 hex>`; hostname = pod name). */
export async function leaderPod(kc: Kubectl): Promise<PodSummary | undefined> {
  const r = await kc(['-n', NS, 'get', 'lease', 'portcullis-operator', '-o', 'jsonpath={.spec.holderIdentity}']);
  if (r.code !== 0) return undefined;
  const holder = r.stdout.trim().replace(/-[0-9a-f]{8}$/, '');
  return (await podsOf(kc, 'operator')).find((p) => p.name === holder && !p.deleting);
}

/**
 * SIGKILLs every process of the container `containerID` on this machine: the processes whose cgroup path
 * ends in the container's ID (the kubelet's cgroupfs layout .../pod<uid>/<container id>). Returns how many.
 */
export async function killContainer(containerID: string): Promise<number> {
  if (!/^[0-9a-f]{64}$/.test(containerID)) throw new Error(`not a container ID: "${containerID}"`);
  let killed = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cgroup = await readFile(`/proc/${entry}/cgroup`, 'utf8').catch(() => '');
    if (!cgroup.split('\n').some((line) => line.endsWith(`/${containerID}`))) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
      killed += 1;
    } catch {
      // exited meanwhile
    }
  }
  return killed;
}
