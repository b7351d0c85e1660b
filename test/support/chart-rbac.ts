// What the chart's RBAC tests share: which of a render's bindings hand out a kind of right (read from the
// role rendered beside each), and a render applied to a real API server, where the API server itself
// judges what the operator's ServiceAccount may do.
import { stringify } from 'yaml';
import { KubeClient } from '../../kube/request.js';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { find, render, type K8sObject } from './helm-chart.js';

export interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export interface Binding extends K8sObject {
  roleRef: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/** The bindings of `kind` whose role (a ClusterRole, or a Role of the binding's namespace) has a rule `grants` accepts. */
export function bindingsGranting(objects: K8sObject[], kind: 'ClusterRoleBinding' | 'RoleBinding', grants: (rule: Rule) => boolean): Binding[] {
  return (find(objects, kind) as Binding[]).filter((binding) => {
    const role = find(objects, binding.roleRef.kind, binding.roleRef.name).find(
      (r) => r.kind === 'ClusterRole' || r.metadata.namespace === binding.metadata.namespace,
    );
    return ((role?.rules ?? []) as Rule[]).some(grants);
  });
}

/**
 * Creates `namespaces` (the release's first) and applies a render server-side: its CRDs first, established
 * before the rest (the Registry resource needs them).
 */
export async function applyRender(cp: ControlPlane, objects: K8sObject[], namespaces: readonly string[]): Promise<void> {
  const toYaml = (list: K8sObject[]): string => list.map((o) => stringify(o)).join('---\n');
  const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
  const steps: [string[], string | undefined][] = [
    [['apply', '--server-side', '-f', '-'], toYaml(crds)],
    [['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all'], undefined],
    ...namespaces.map((n): [string[], undefined] => [['create', 'namespace', n], undefined]),
    [['apply', '--server-side', '-f', '-'], toYaml(objects.filter((o) => o.kind !== 'CustomResourceDefinition'))],
  ];
  for (const [args, input] of steps) {
    const r = await kubectl(cp, args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  }
}

export interface ChartOnApiServer {
  cp: ControlPlane;
  admin: KubeClient;
  /** The API server's client with the token of the operator's ServiceAccount (release `p`). */
  asOperator: KubeClient;
  stop(): Promise<void>;
}

/** A control plane with release `p` of the chart rendered with `values` into `namespace` and applied, after creating `namespaces` too. */
export async function startChartOnApiServer(namespace: string, values: string[], namespaces: readonly string[]): Promise<ChartOnApiServer> {
  const cp = await startControlPlane();
  const admin = new KubeClient(cp.kubeConfig);
  try {
    await applyRender(cp, await render('p', namespace, values), [namespace, ...namespaces]);
    const asOperator = new KubeClient((await cp.kubeconfigForServiceAccount(namespace, 'p-portcullis-operator')).kubeConfig);
    const stop = async (): Promise<void> => {
      asOperator.close();
      admin.close();
      await cp.stop();
    };
    return { cp, admin, asOperator, stop };
  } catch (error) {
    admin.close();
    await cp.stop();
    throw error;
  }
}

/** What a request's promise was rejected with; undefined when it was served. */
export const refusalOf = (request: Promise<unknown>): Promise<unknown> =>
  request.then(
    () => undefined,
    (error: unknown) => error,
  );
