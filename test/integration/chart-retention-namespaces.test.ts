// operator.retentionNamespaces in the chart. Creating a CronJob that runs as a ServiceAccount is running
// pods as it, so the operator's rights to create retention CronJobs, ServiceAccounts and RoleBindings
// (and to bind the runners' ClusterRole) decide where a leaked operator token can start pods. With the
// list set, they are bound by a RoleBinding in each listed namespace and by no ClusterRoleBinding, and the
// operator is told the same list; applied to a real kube-apiserver, the API server itself refuses the
// operator's ServiceAccount a CronJob outside the list (a SubjectAccessReview, and a request with the
// ServiceAccount's own token answered 403) and allows one inside. Without the list the rights stay
// cluster-wide, as before (the compatible default).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError, KubeClient } from '../../kube/request.js';
import { serviceAccountMay, type ResourceAttributes } from '../support/access-review.js';
import { bindingsGranting, refusalOf, startChartOnApiServer, type Binding, type ChartOnApiServer, type Rule } from '../support/chart-rbac.js';
import { find, helm, chartDir, podSpec, render, type K8sObject } from '../support/helm-chart.js';

const WRITES = new Set(['create', 'patch', 'update', 'delete', '*']);
const RETENTION_RESOURCES = new Set(['cronjobs', 'serviceaccounts', 'rolebindings', '*']);

/** A rule that lets its holder create what a retention run needs: a CronJob, a ServiceAccount, a RoleBinding, or bind a role. */
const grantsRetentionWrites = (rule: Rule): boolean =>
  rule.resources.some((r) => RETENTION_RESOURCES.has(r)) && rule.verbs.some((v) => WRITES.has(v) || v === 'bind');

/** The bindings of `kind` whose role (rendered beside them) grants a retention write. */
const bindingsGrantingRetention = (objects: K8sObject[], kind: 'ClusterRoleBinding' | 'RoleBinding'): Binding[] =>
  bindingsGranting(objects, kind, grantsRetentionWrites);

const operatorArgs = (objects: K8sObject[], release = 'p'): string[] =>
  podSpec(find(objects, 'Deployment', `${release}-portcullis-operator`)[0]!).containers[0]!.args ?? [];

describe('chart: operator.retentionNamespaces as rendered', () => {
  it('binds the retention writes by a RoleBinding in each listed namespace only, none cluster-wide, and passes the same list', async () => {
    const objects = await render('p', 'portcullis-rr', ['--set', 'operator.retentionNamespaces={team-a,team-b,team-a}']);
    expect(bindingsGrantingRetention(objects, 'ClusterRoleBinding').map((b) => b.metadata.name)).toEqual([]);
    const bound = bindingsGrantingRetention(objects, 'RoleBinding');
    expect(bound.map((b) => b.metadata.namespace).sort()).toEqual(['team-a', 'team-b']);
    expect(new Set(bound.map((b) => b.roleRef.name))).toEqual(new Set(['p-portcullis-operator-retention']));
    const args = operatorArgs(objects);
    expect(args[args.indexOf('--retention-namespaces') + 1]).toBe('team-a,team-b');
  });

  it('without it, keeps them bound cluster-wide (the compatible default) and passes no list', async () => {
    const objects = await render('p', 'portcullis-rr');
    expect(bindingsGrantingRetention(objects, 'ClusterRoleBinding').map((b) => b.metadata.name)).toEqual(['p-portcullis-operator-retention']);
    expect(operatorArgs(objects)).not.toContain('--retention-namespaces');
  });

  it('with watchNamespace among them, binds only there; with watchNamespace outside them, refuses to render', async () => {
    const objects = await render('p', 'portcullis-rr', ['--set', 'operator.watchNamespace=team-a', '--set', 'operator.retentionNamespaces={team-a,team-b}']);
    expect(bindingsGrantingRetention(objects, 'RoleBinding').map((b) => b.metadata.namespace)).toEqual(['team-a']);
    expect(bindingsGrantingRetention(objects, 'ClusterRoleBinding')).toEqual([]);
    const args = operatorArgs(objects);
    expect(args[args.indexOf('--retention-namespaces') + 1]).toBe('team-a');
    const refused = await helm(['template', 'p', chartDir, '--set', 'operator.watchNamespace=other', '--set', 'operator.retentionNamespaces={team-a}']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/operator\.watchNamespace other is not among operator\.retentionNamespaces \(team-a\)/);
  });
});

describe('chart: operator.retentionNamespaces on a real API server', () => {
  const NS = 'portcullis-rr';
  const OPERATOR = { namespace: NS, name: 'p-portcullis-operator' };
  let chart: ChartOnApiServer;
  let admin: KubeClient;
  let asOperator: KubeClient;

  beforeAll(async () => {
    chart = await startChartOnApiServer(NS, ['--set', 'operator.retentionNamespaces={team-a,team-b}'], ['team-a', 'team-b', 'outside']);
    ({ admin, asOperator } = chart);
  }, 180_000);

  afterAll(() => chart?.stop());

  const bindRetentionRole = (namespace: string): ResourceAttributes => ({
    verb: 'bind',
    group: 'rbac.authorization.k8s.io',
    resource: 'clusterroles',
    name: 'p-portcullis-retention',
    namespace,
  });
  it.each<[string, ResourceAttributes, boolean]>([
    ['may create a CronJob in a listed namespace', { verb: 'create', group: 'batch', resource: 'cronjobs', namespace: 'team-a' }, true],
    ['may bind the retention ClusterRole in a listed namespace', bindRetentionRole('team-b'), true],
    ['attack: may not create a CronJob outside the list', { verb: 'create', group: 'batch', resource: 'cronjobs', namespace: 'outside' }, false],
    ['attack: may not create a CronJob in kube-system', { verb: 'create', group: 'batch', resource: 'cronjobs', namespace: 'kube-system' }, false],
    ['attack: may not create a ServiceAccount outside the list', { verb: 'create', group: '', resource: 'serviceaccounts', namespace: 'outside' }, false],
    [
      'attack: may not create a RoleBinding outside the list',
      { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: 'outside' },
      false,
    ],
    ['attack: may not bind the retention ClusterRole outside the list', bindRetentionRole('outside'), false],
    [
      'may patch its own retention RoleBinding in a listed namespace',
      { verb: 'patch', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', name: 'portcullis-retention', namespace: 'team-a' },
      true,
    ],
    [
      "attack: may not delete another RoleBinding in a listed namespace (the namespace's own admin binding)",
      { verb: 'delete', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', name: 'admins', namespace: 'team-a' },
      false,
    ],
    [
      'attack: may not patch another ServiceAccount in a listed namespace',
      { verb: 'patch', group: '', resource: 'serviceaccounts', name: 'default', namespace: 'team-a' },
      false,
    ],
  ])("the operator's ServiceAccount %s (SubjectAccessReview)", async (_sentence, attributes, allowed) => {
    expect(await serviceAccountMay(admin, OPERATOR, attributes)).toBe(allowed);
  });

  /** A CronJob running as the namespace's default ServiceAccount, created (dry run) with the operator's own token. */
  const createCronJob = (namespace: string) =>
    asOperator.request('POST', `/apis/batch/v1/namespaces/${namespace}/cronjobs`, {
      query: { dryRun: 'All' },
      body: {
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: { name: 'probe' },
        spec: {
          schedule: '0 3 * * *',
          jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } },
        },
      },
    });

  it("attack: the API server answers the operator's own request for a CronJob outside the list with 403 Forbidden", async () => {
    const refusal = await refusalOf(createCronJob('outside'));
    expect(refusal).toBeInstanceOf(KubeApiError);
    expect((refusal as KubeApiError).code).toBe(403);
    expect((refusal as KubeApiError).reason).toBe('Forbidden');
    expect((refusal as KubeApiError).message).toMatch(/cannot create resource "cronjobs" in API group "batch" in the namespace "outside"/);
  });

  it("accepts the operator's own request for a CronJob in a listed namespace", async () => {
    await expect(createCronJob('team-b')).resolves.toMatchObject({ kind: 'CronJob', metadata: { namespace: 'team-b' } });
  });
});
