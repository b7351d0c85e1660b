// The chart tests' view of charts/portcullis: real helm with its cache and config out of the user's home,
// renders parsed into objects, and the few object shapes the assertions read.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { run } from '../../local/process.js';
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
