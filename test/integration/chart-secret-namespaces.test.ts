// operator.secretNamespaces in the chart. The operator reads RegistryUsers' password Secrets, so by
// default its ServiceAccount may get, list and watch Secrets cluster-wide: a leaked operator token reads
// every Secret of the cluster. With the list set, that right leaves the operator's ClusterRole and is
// bound by a RoleBinding in each listed namespace and each namespace holding Registries (where the
// operator's own Secrets are), and the operator is told the same list; applied to a real kube-apiserver,
// the API server itself refuses the operator's ServiceAccount a Secret outside them (a
// SubjectAccessReview, and a GET with the ServiceAccount's own token answered 403) and allows one
// inside. Without the list the rights stay cluster-wide, as before (the compatible default).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError, KubeClient, objectPath, Resources } from '../../kube/request.js';
import { serviceAccountMay, type ResourceAttributes } from '../support/access-review.js';
import { bindingsGranting, refusalOf, startChartOnApiServer, type Binding, type ChartOnApiServer, type Rule } from '../support/chart-rbac.js';
import { find, helm, chartDir, podSpec, render, type K8sObject } from '../support/helm-chart.js';

const READS = new Set(['get', 'list', 'watch', '*']);

/** A rule that lets its holder read any Secret it is bound for (not only Secrets it names). */
const grantsSecretReads = (rule: Rule & { resourceNames?: string[] }): boolean =>
  rule.apiGroups.includes('') &&
  rule.resources.some((r) => r === 'secrets' || r === '*') &&
  rule.verbs.some((v) => READS.has(v)) &&
  rule.resourceNames === undefined;

/** The bindings of `kind` to the operator's ServiceAccount whose role (rendered beside them) reads any Secret. */
const operatorBindingsReadingSecrets = (objects: K8sObject[], kind: 'ClusterRoleBinding' | 'RoleBinding', release = 'p'): Binding[] =>
  bindingsGranting(objects, kind, grantsSecretReads).filter((binding) =>
    (binding.subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === `${release}-portcullis-operator`),
  );

const operatorArgs = (objects: K8sObject[], release = 'p'): string[] =>
  podSpec(find(objects, 'Deployment', `${release}-portcullis-operator`)[0]!).containers[0]!.args ?? [];

describe('chart: operator.secretNamespaces as rendered', () => {
  it('binds Secret reads in each listed namespace and each namespace holding Registries only, none cluster-wide, and passes the list', async () => {
    const objects = await render('p', 'portcullis-ss', [
      '--set',
      'operator.secretNamespaces={team-a,team-b,team-a}',
      '--set',
      'operator.registryNamespaces={more-registries}',
    ]);
    expect(operatorBindingsReadingSecrets(objects, 'ClusterRoleBinding').map((b) => b.metadata.name)).toEqual([]);
    const bound = operatorBindingsReadingSecrets(objects, 'RoleBinding');
    expect(bound.map((b) => b.metadata.namespace).sort()).toEqual(['more-registries', 'portcullis-ss', 'team-a', 'team-b']);
    expect(new Set(bound.map((b) => b.roleRef.name))).toEqual(new Set(['p-portcullis-operator-secrets']));
    const args = operatorArgs(objects);
    expect(args[args.indexOf('--secret-namespaces') + 1]).toBe('team-a,team-b');
  });

  it('without it, keeps them readable cluster-wide (the compatible default) and passes no list', async () => {
    const objects = await render('p', 'portcullis-ss');
    expect(operatorBindingsReadingSecrets(objects, 'ClusterRoleBinding').map((b) => b.metadata.name)).toEqual(['p-portcullis-operator']);
    expect(operatorBindingsReadingSecrets(objects, 'RoleBinding')).toEqual([]);
    expect(find(objects, 'ClusterRole', 'p-portcullis-operator-secrets')).toEqual([]);
    expect(operatorArgs(objects)).not.toContain('--secret-namespaces');
  });

  it('with watchNamespace among them, narrows to it; with watchNamespace outside them, refuses to render', async () => {
    const objects = await render('p', 'portcullis-ss', ['--set', 'operator.watchNamespace=team-a', '--set', 'operator.secretNamespaces={team-a,team-b}']);
    expect(operatorBindingsReadingSecrets(objects, 'ClusterRoleBinding')).toEqual([]);
    // The watched namespace alone: the operator (--namespace team-a) reads nothing elsewhere, the release
    // namespace included.
    expect(operatorBindingsReadingSecrets(objects, 'RoleBinding').map((b) => b.metadata.namespace)).toEqual(['team-a']);
    const args = operatorArgs(objects);
    expect(args[args.indexOf('--secret-namespaces') + 1]).toBe('team-a');
    const refused = await helm(['template', 'p', chartDir, '--set', 'operator.watchNamespace=other', '--set', 'operator.secretNamespaces={team-a}']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/operator\.watchNamespace other is not among operator\.secretNamespaces \(team-a\)/);
  });
});

describe('chart: operator.secretNamespaces on a real API server', () => {
  const NS = 'portcullis-ss';
  const OPERATOR = { namespace: NS, name: 'p-portcullis-operator' };
  const OUTSIDE_VALUE = 'outside-secret-value-never-shown';
  let chart: ChartOnApiServer;
  let admin: KubeClient;
  let asOperator: KubeClient;

  const secret = (namespace: string, name: string, value: string) =>
    admin.request('POST', `/api/v1/namespaces/${namespace}/secrets`, {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: { password: value } },
    });

  beforeAll(async () => {
    chart = await startChartOnApiServer(NS, ['--set', 'operator.secretNamespaces={team-a}'], ['team-a', 'outside']);
    ({ admin, asOperator } = chart);
    await secret('outside', 'theirs', OUTSIDE_VALUE);
    await secret('team-a', 'alice-password', 'alice-value');
  }, 180_000);

  afterAll(() => chart?.stop());

  const secrets = (verb: string, namespace?: string): ResourceAttributes => ({
    verb,
    group: '',
    resource: 'secrets',
    ...(namespace === undefined ? {} : { namespace }),
  });
  it.each<[string, ResourceAttributes, boolean]>([
    ['may get a Secret in a listed namespace', secrets('get', 'team-a'), true],
    ['may list Secrets in a listed namespace', secrets('list', 'team-a'), true],
    ['may watch Secrets in a listed namespace', secrets('watch', 'team-a'), true],
    ['may get a Secret in the release namespace (where its Registry is)', secrets('get', NS), true],
    ['may list Secrets in the release namespace', secrets('list', NS), true],
    ['attack: may not get a Secret outside the list', secrets('get', 'outside'), false],
    ['attack: may not list Secrets outside the list', secrets('list', 'outside'), false],
    ['attack: may not get a Secret in kube-system', secrets('get', 'kube-system'), false],
    ['attack: may not list Secrets cluster-wide', secrets('list'), false],
    ['attack: may not watch Secrets cluster-wide', secrets('watch'), false],
  ])("the operator's ServiceAccount %s (SubjectAccessReview)", async (_sentence, attributes, allowed) => {
    expect(await serviceAccountMay(admin, OPERATOR, attributes)).toBe(allowed);
  });

  it("attack: the API server answers the operator's own GET of a Secret outside the list with 403 Forbidden, without its value", async () => {
    const refusal = await refusalOf(asOperator.get(objectPath(Resources.secrets, 'outside', 'theirs')));
    expect(refusal).toBeInstanceOf(KubeApiError);
    expect((refusal as KubeApiError).code).toBe(403);
    expect((refusal as KubeApiError).reason).toBe('Forbidden');
    expect((refusal as KubeApiError).message).toMatch(/cannot get resource "secrets" in API group "" in the namespace "outside"/);
    expect((refusal as KubeApiError).message).not.toContain(OUTSIDE_VALUE);
    expect(JSON.stringify(refusal)).not.toContain(Buffer.from(OUTSIDE_VALUE).toString('base64'));
  });

  it("accepts the operator's own GET of a Secret in a listed namespace", async () => {
    await expect(asOperator.get(objectPath(Resources.secrets, 'team-a', 'alice-password'))).resolves.toMatchObject({
      kind: 'Secret',
      metadata: { namespace: 'team-a', name: 'alice-password' },
    });
  });
});
