// The chart tests' view of charts/portcullis: real helm with its cache and config out of the user's home,
// renders parsed into objects, and the few object shapes the assertions read.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { run, waitFor } from '../../local/process.js';
import { repoRoot, toolPath } from '../../local/tools.js';

export const chartDir = join(repoRoot, 'charts', 'portcullis');
export const allOptions = join(chartDir, 'ci', 'all-options-values.yaml');

/** A rendered Kubernetes object; only the fields the assertions read are typed. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  rules?: unknown[];
  [key: string]: unknown;
}

export interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  ports?: { name: string; containerPort: number }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
  livenessProbe?: { httpGet?: { path: string; port: string }; tcpSocket?: unknown };
  readinessProbe?: { httpGet?: { path: string; port: string }; tcpSocket?: unknown };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

export interface PodSpec {
  securityContext?: Record<string, unknown>;
  containers: Container[];
  volumes?: {
    name: string;
    configMap?: { name: string; items?: { key: string; path: string }[] };
    secret?: { secretName: string; items?: { key: string; path: string }[] };
    persistentVolumeClaim?: { claimName: string };
  }[];
  serviceAccountName?: string;
}

export function helm(args: string[], kubeconfig?: string) {
  return run(toolPath('helm'), [...args, ...(kubeconfig ? ['--kubeconfig', kubeconfig] : [])], {
    // Keep helm's cache, config and data out of the user's home.
    env: {
      ...process.env,
      HELM_CACHE_HOME: join(tmpdir(), 'portcullis-helm-cache'),
      HELM_CONFIG_HOME: join(tmpdir(), 'portcullis-helm-config'),
      HELM_DATA_HOME: join(tmpdir(), 'portcullis-helm-data'),
    },
  });
}

type HelmResult = { code: number; stdout: string; stderr: string };

/**
 * The one way a first install fails that is not the chart's fault: the CRDs arrive in the release and the
 * Registry is its post-install hook, and on a busy API server discovery may not list the new kind yet
 * when Helm builds the hook (it waits for nothing between creating a CRD and building the hook).
 */
export const DISCOVERY_RACE = /failed post-install: .*registry-resource\.yaml.*no matches for kind "Registry"/s;

/**
 * `helm install`, and if it lost the discovery race, what the README tells users to do: wait until the
 * API server serves the CRDs, then `helm upgrade --install` with the same arguments. Any other failure
 * is returned as it is.
 */
export async function installChart(
  runHelm: (args: string[]) => Promise<HelmResult>,
  args: string[],
  registriesServed: () => Promise<boolean>,
): Promise<HelmResult & { recovered: boolean }> {
  const first = await runHelm(['install', ...args]);
  if (first.code === 0 || !DISCOVERY_RACE.test(first.stderr)) return { ...first, recovered: false };
  console.warn(`helm install lost the discovery race; running helm upgrade --install as the README says:\n${first.stderr}`);
  await waitFor('the API server to serve registries.portcullis.dev', registriesServed, 60_000);
  return { ...(await runHelm(['upgrade', '--install', ...args])), recovered: true };
}

export async function render(release: string, namespace: string, extra: string[] = []): Promise<K8sObject[]> {
  const r = await helm(['template', release, chartDir, '--namespace', namespace, ...extra]);
  if (r.code !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

export const find = (objects: K8sObject[], kind: string, name?: string): K8sObject[] =>
  objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

export const one = (objects: K8sObject[], kind: string, name: string): K8sObject => {
  const found = find(objects, kind, name);
  if (found.length !== 1)
    throw new Error(`expected one ${kind} ${name}, found ${found.length}: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found[0]!;
};

export const podSpec = (deployment: K8sObject): PodSpec => (deployment.spec as { template: { spec: PodSpec } }).template.spec;

/** The rules of every Role and ClusterRole, keyed by kind/name. */
export function rulesByRole(objects: K8sObject[]): Map<string, unknown[]> {
  const out = new Map<string, unknown[]>();
  for (const o of objects) if (o.kind === 'Role' || o.kind === 'ClusterRole') out.set(`${o.kind}/${o.metadata.name}`, o.rules ?? []);
  return out;
}

/** Every object of a multi-document YAML file (deploy/ manifests). */
export function manifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}
