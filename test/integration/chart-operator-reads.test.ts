// Where the chart lets the operator read ConfigMaps, Deployments and PersistentVolumeClaims: only in the
// namespaces that hold Registries (the release namespace and operator.registryNamespaces, or
// operator.watchNamespace alone), the ones it is told with --registry-namespaces. Other teams' ConfigMaps and
// Deployments (pod templates, env values) are no business of the operator, so a leaked operator token
// must not read them. As rendered: no ClusterRoleBinding grants those reads. Applied to a real
// kube-apiserver: SubjectAccessReviews, and requests with the ServiceAccount's own token, answered 403
// outside and served inside. The custom resources and Secrets stay readable cluster-wide (RegistryUsers
// and their password Secrets live in tenants' namespaces).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError, KubeClient } from '../../kube/request.js';
import { kubectl } from '../../local/controlPlane.js';
import { serviceAccountMay, type ResourceAttributes } from '../support/access-review.js';
import { bindingsGranting, refusalOf, startChartOnApiServer, type Binding, type ChartOnApiServer, type Rule } from '../support/chart-rbac.js';
import { find, podSpec, render, type K8sObject } from '../support/helm-chart.js';

const READS = new Set(['get', 'list', 'watch', '*']);
const CONFINED = new Set(['configmaps', 'deployments', 'persistentvolumeclaims', '*']);

/** The bindings of `kind` that let their holders read a confined resource. */
const bindingsGrantingReads = (objects: K8sObject[], kind: 'ClusterRoleBinding' | 'RoleBinding'): Binding[] =>
  bindingsGranting(objects, kind, (rule: Rule) => rule.resources.some((r) => CONFINED.has(r)) && rule.verbs.some((v) => READS.has(v)));

/** The operator's RoleBindings among them (the token server reads its snapshot ConfigMaps in the release namespace). */
const operators = (bindings: Binding[]): Binding[] => bindings.filter((b) => (b.subjects ?? []).some((s) => s.name === 'p-portcullis-operator'));

const registryNamespacesArg = (objects: K8sObject[]): string | undefined => {
  const args = podSpec(find(objects, 'Deployment', 'p-portcullis-operator')[0]!).containers[0]!.args ?? [];
  return args.includes('--registry-namespaces') ? args[args.indexOf('--registry-namespaces') + 1] : undefined;
};

describe('chart: the operator reads ConfigMaps and Deployments only where Registries are, as rendered', () => {
  it('binds those reads by RoleBindings in exactly the namespaces passed as --registry-namespaces, none cluster-wide', async () => {
    const objects = await render('p', 'portcullis-or', ['--set', 'operator.registryNamespaces={team-reg}']);
    // Nobody's: no ClusterRoleBinding of the chart lets any of its accounts read these anywhere.
    expect(bindingsGrantingReads(objects, 'ClusterRoleBinding')).toEqual([]);
    const bound = operators(bindingsGrantingReads(objects, 'RoleBinding')).map((b) => b.metadata.namespace ?? '');
    expect(bound.sort()).toEqual(['portcullis-or', 'team-reg']);
    expect(registryNamespacesArg(objects)?.split(',').sort()).toEqual(bound);
  });

  it('with watchNamespace, binds them in the watched namespace alone, the one it serves', async () => {
    const objects = await render('p', 'portcullis-or', ['--set', 'operator.watchNamespace=team-w', '--set', 'operator.registryNamespaces={team-reg}']);
    expect(bindingsGrantingReads(objects, 'ClusterRoleBinding')).toEqual([]);
    expect(operators(bindingsGrantingReads(objects, 'RoleBinding')).map((b) => b.metadata.namespace)).toEqual(['team-w']);
    expect(registryNamespacesArg(objects)).toBe('team-w');
  });
});

describe('chart: the operator reads ConfigMaps and Deployments only where Registries are, on a real API server', () => {
  const NS = 'portcullis-or';
  const OPERATOR = { namespace: NS, name: 'p-portcullis-operator' };
  let chart: ChartOnApiServer;
  let admin: KubeClient;
  let asOperator: KubeClient;

  beforeAll(async () => {
    chart = await startChartOnApiServer(NS, ['--set', 'operator.registryNamespaces={team-reg}'], ['team-reg', 'outside']);
    ({ admin, asOperator } = chart);
    const created = await kubectl(chart.cp, ['create', 'configmap', 'app-settings', '-n', 'outside', '--from-literal=db-url=postgres://app:hunter2@db/app']);
    if (created.code !== 0) throw new Error(`kubectl create configmap: ${created.stderr}`);
  }, 180_000);

  afterAll(() => chart?.stop());

  const read = (verb: string, group: string, resource: string, namespace: string): ResourceAttributes => ({ verb, group, resource, namespace });
  it.each<[string, ResourceAttributes, boolean]>([
    ['may watch ConfigMaps in the release namespace', read('watch', '', 'configmaps', NS), true],
    ['may list Deployments in a listed namespace', read('list', 'apps', 'deployments', 'team-reg'), true],
    ['may get a PersistentVolumeClaim in a listed namespace', read('get', '', 'persistentvolumeclaims', 'team-reg'), true],
    ['may still get a Secret anywhere (password Secrets are in tenants’ namespaces)', read('get', '', 'secrets', 'outside'), true],
    ['attack: may not list ConfigMaps outside the list', read('list', '', 'configmaps', 'outside'), false],
    ['attack: may not get a ConfigMap in kube-system', read('get', '', 'configmaps', 'kube-system'), false],
    ['attack: may not watch Deployments outside the list', read('watch', 'apps', 'deployments', 'outside'), false],
    ['attack: may not list Deployments in all namespaces', read('list', 'apps', 'deployments', ''), false],
    ['attack: may not list ConfigMaps in all namespaces', read('list', '', 'configmaps', ''), false],
    ['attack: may not get a PersistentVolumeClaim outside the list', read('get', '', 'persistentvolumeclaims', 'outside'), false],
  ])("the operator's ServiceAccount %s (SubjectAccessReview)", async (_sentence, attributes, allowed) => {
    expect(await serviceAccountMay(admin, OPERATOR, attributes)).toBe(allowed);
  });

  it("attack: the API server answers the operator's own read of another namespace's ConfigMap with 403 Forbidden", async () => {
    const refusal = await refusalOf(asOperator.get('/api/v1/namespaces/outside/configmaps/app-settings'));
    expect(refusal).toBeInstanceOf(KubeApiError);
    expect((refusal as KubeApiError).code).toBe(403);
    expect((refusal as KubeApiError).message).toMatch(/cannot get resource "configmaps" in API group "" in the namespace "outside"/);
    expect((refusal as KubeApiError).message).not.toContain('hunter2');
  });

  it("attack: the API server answers the operator's own list of every namespace's Deployments with 403 Forbidden", async () => {
    const refusal = await refusalOf(asOperator.get('/apis/apps/v1/deployments'));
    expect(refusal).toBeInstanceOf(KubeApiError);
    expect((refusal as KubeApiError).code).toBe(403);
    expect((refusal as KubeApiError).message).toMatch(/cannot list resource "deployments" in API group "apps" at the cluster scope/);
  });

  it("serves the operator's own list of ConfigMaps and Deployments in a listed namespace", async () => {
    await expect(asOperator.get('/api/v1/namespaces/team-reg/configmaps')).resolves.toMatchObject({ kind: 'ConfigMapList' });
    await expect(asOperator.get('/apis/apps/v1/namespaces/team-reg/deployments')).resolves.toMatchObject({ kind: 'DeploymentList' });
  });
});
