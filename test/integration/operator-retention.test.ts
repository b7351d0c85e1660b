// The retention controller against a real API server, with only the permissions deploy/rbac/operator.yaml
// grants: a scheduled RetentionPolicy gets its CronJob (the Portcullis image running `portcullis retention`
// for exactly that policy, Forbid, non-root, only a projected token), and the ServiceAccount and
// RoleBinding it runs as; a tenant's policy reaching outside its prefixes, or from a namespace the Registry
// does not admit, gets Ready=False and no CronJob (the attacks); removing the schedule or suspending
// removes the CronJob; the API server itself refuses an invalid policy; and the runner's ServiceAccount can
// act only in its own namespace. Then, confined with --retention-namespaces and its write rights bound
// only there (as the chart binds them with operator.retentionNamespaces), a scheduled policy elsewhere
// is Ready=False, RetentionNamespaceNotServed, with no CronJob and no forbidden request retried, while one
// inside still gets its CronJob.
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperator, type RunningOperator } from '../../operator/main.js';
import { KubeApiError, KubeClient, MERGE_PATCH, objectPath, Resources, isNotFound } from '../../kube/request.js';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { waitFor } from '../../local/process.js';
import { cronJobName, cronJobs, roleBindings, serviceAccounts } from '../../operator/controllers/retention/schedule-objects.js';
import { OperatorLogMessages } from '../../operator/log-messages.js';
import { serviceAccountMay, type ResourceAttributes } from '../support/access-review.js';
import type { ResourceType } from '../../kube/request.js';

const API = 'portcullis.dev/v1alpha1';
const IMAGE = 'registry.example.com/portcullis/portcullis:retention-test';
const OPERATOR = { namespace: 'portcullis-system', name: 'portcullis-operator' };

interface LogLine {
  level: number;
  msg: string;
  controller?: string;
  key?: string;
}

/** An operator's warnings and errors, kept to be read back. */
function capturedLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { log: pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) }), lines };
}

interface Obj {
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    ownerReferences?: { uid: string; kind: string; controller?: boolean }[];
  };
  spec?: Record<string, unknown>;
  status?: { observedGeneration?: number; conditions?: { type: string; status: string; reason: string; message: string }[] };
  roleRef?: unknown;
  subjects?: unknown;
}

let cp: ControlPlane;
let admin: KubeClient;
let operator: RunningOperator | undefined;
const unconfined = capturedLog();

async function get(resource: ResourceType, namespace: string, name: string): Promise<Obj | undefined> {
  try {
    return await admin.get<Obj>(objectPath(resource, namespace, name));
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

function policy(namespace: string, name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: API,
    kind: 'RetentionPolicy',
    metadata: { name, namespace },
    spec: { registryRef: { name: 'main', namespace: 'registry' }, rules: { keepNewestSemver: { count: 10 } }, ...spec },
  };
}

async function createPolicy(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await admin.request('POST', `${Resources.retentionPolicies.base}/namespaces/${namespace}/retentionpolicies`, { body: policy(namespace, name, spec) });
}

async function patchPolicy(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await admin.request('PATCH', objectPath(Resources.retentionPolicies, namespace, name), { body: { spec }, contentType: MERGE_PATCH });
}

async function readyOf(namespace: string, name: string): Promise<{ status: string; reason: string; message: string } | undefined> {
  return (await get(Resources.retentionPolicies, namespace, name))?.status?.conditions?.find((c) => c.type === 'Ready');
}

async function waitForReady(namespace: string, name: string, reason: string): Promise<{ status: string; reason: string; message: string }> {
  await waitFor(`${namespace}/${name} Ready reason ${reason}`, async () => (await readyOf(namespace, name))?.reason === reason, 30_000);
  return (await readyOf(namespace, name))!;
}

beforeAll(async () => {
  cp = await startControlPlane();
  admin = new KubeClient(cp.kubeConfig);
  for (const args of [
    ['apply', '-k', 'crds'],
    ['wait', '--for=condition=Established', '--timeout=60s', 'crd/registries.portcullis.dev', 'crd/retentionpolicies.portcullis.dev'],
  ]) {
    const r = await kubectl(cp, args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  }
  for (const ns of [{ name: 'registry' }, { name: 'team-a', labels: { tenant: 'yes' } }, { name: 'team-b', labels: { tenant: 'yes' } }, { name: 'stranger' }]) {
    await admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: ns } });
  }
  const rbac = await kubectl(cp, ['apply', '-f', 'deploy/rbac/operator.yaml', '-f', 'deploy/retention/rbac.yaml']);
  if (rbac.code !== 0) throw new Error(`kubectl apply RBAC: ${rbac.stderr}`);
  await admin.request('POST', `${Resources.registries.base}/namespaces/registry/registries`, {
    body: {
      apiVersion: API,
      kind: 'Registry',
      metadata: { name: 'main' },
      spec: {
        service: 'registry.example.com',
        delegation: [{ namespaces: { from: 'Selector', selector: { matchLabels: { tenant: 'yes' } } }, repositories: ['${namespace}/**'] }],
      },
    },
  });
  const operatorKc = (await cp.kubeconfigForServiceAccount('portcullis-system', 'portcullis-operator')).kubeConfig;
  operator = await startOperator({ kubeConfig: operatorKc, log: unconfined.log, leaderElect: false, registryNamespaces: ['registry'], retentionImage: IMAGE });
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  admin?.close();
  await cp?.stop();
});

describe('retention schedules', () => {
  it('gives a scheduled policy its CronJob, running exactly that policy as the retention ServiceAccount', async () => {
    await createPolicy('registry', 'nightly', { repositories: ['**'], schedule: '30 3 * * *' });
    const ready = await waitForReady('registry', 'nightly', 'RetentionScheduled');
    expect(ready).toMatchObject({ status: 'True', message: expect.stringContaining('"30 3 * * *"') as unknown });
    const owner = (await get(Resources.retentionPolicies, 'registry', 'nightly'))!;
    const cronJob = (await get(cronJobs, 'registry', 'portcullis-retention-nightly'))!;
    expect(cronJob.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'RetentionPolicy', uid: owner.metadata.uid, controller: true })]);
    expect(cronJob.spec).toMatchObject({ schedule: '30 3 * * *', timeZone: 'Etc/UTC', concurrencyPolicy: 'Forbid' });
    const pod = (cronJob.spec as { jobTemplate: { spec: { template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } } } } })
      .jobTemplate.spec.template.spec;
    expect(pod).toMatchObject({ serviceAccountName: 'portcullis-retention', automountServiceAccountToken: false, securityContext: { runAsNonRoot: true } });
    expect(pod.containers[0]).toMatchObject({
      image: IMAGE,
      args: ['retention', '--registry', 'registry/main', '-n', 'registry', '--policy', 'nightly'],
      securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true },
    });
    expect(await get(serviceAccounts, 'registry', 'portcullis-retention')).toBeDefined();
    const binding = (await get(roleBindings, 'registry', 'portcullis-retention'))!;
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'portcullis-retention' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'portcullis-retention', namespace: 'registry' }]);
  });

  it('schedules a tenant policy within its prefixes in the tenant namespace', async () => {
    await createPolicy('team-a', 'mine', { repositories: ['${namespace}/**'], schedule: '@daily' });
    await waitForReady('team-a', 'mine', 'RetentionScheduled');
    const cronJob = (await get(cronJobs, 'team-a', 'portcullis-retention-mine'))!;
    const args = (cronJob.spec as { jobTemplate: { spec: { template: { spec: { containers: { args: string[] }[] } } } } }).jobTemplate.spec.template.spec
      .containers[0]!.args;
    expect(args).toEqual(['retention', '--registry', 'registry/main', '-n', 'team-a', '--policy', 'mine']);
  });

  it.each<[string, string, string[], string, RegExp]>([
    [
      'every repository (**)',
      'team-b',
      ['**'],
      'OutsideDelegatedPrefix',
      /repository pattern "\*\*" is outside the prefixes delegated to namespace team-b: "team-b\/\*\*"/,
    ],
    [
      'another tenant’s prefix',
      'team-b',
      ['team-b/**', 'team-a/**'],
      'OutsideDelegatedPrefix',
      /"team-a\/\*\*" is outside the prefixes delegated to namespace team-b/,
    ],
    [
      'a namespace the Registry does not admit',
      'stranger',
      ['stranger/**'],
      'NamespaceNotAllowed',
      /does not admit retention policies from namespace stranger/,
    ],
  ])('attack: a tenant policy covering %s gets Ready=False and no CronJob', async (_name, namespace, repositories, reason, message) => {
    const name = `grab-${reason.toLowerCase()}-${repositories.length}`;
    await createPolicy(namespace, name, { repositories, schedule: '* * * * *', dryRun: false });
    const ready = await waitForReady(namespace, name, reason);
    expect(ready.status).toBe('False');
    expect(ready.message).toMatch(message);
    // The refusal is written after the decision: had a CronJob been made, it would exist by now.
    expect(await get(cronJobs, namespace, cronJobName(name))).toBeUndefined();
    expect(await get(roleBindings, namespace, 'portcullis-retention')).toBeUndefined();
  });

  it('removes the CronJob when the schedule is removed, and the shared objects with the last admitted schedule', async () => {
    await createPolicy('team-a', 'by-hand', { repositories: ['team-a/app'], schedule: '0 * * * *' });
    await waitForReady('team-a', 'by-hand', 'RetentionScheduled');
    expect(await get(cronJobs, 'team-a', 'portcullis-retention-by-hand')).toBeDefined();
    await patchPolicy('team-a', 'by-hand', { schedule: null });
    await waitForReady('team-a', 'by-hand', 'RunsByHand');
    expect(await get(cronJobs, 'team-a', 'portcullis-retention-by-hand')).toBeUndefined();
    // `mine` is still scheduled in team-a: the ServiceAccount and RoleBinding stay.
    expect(await get(roleBindings, 'team-a', 'portcullis-retention')).toBeDefined();
    // A refused policy with a schedule does not keep the runner's ServiceAccount and RoleBinding alive.
    await createPolicy('team-a', 'outside', { repositories: ['team-b/**'], schedule: '0 * * * *' });
    await waitForReady('team-a', 'outside', 'OutsideDelegatedPrefix');
    await patchPolicy('team-a', 'mine', { suspend: true });
    await waitForReady('team-a', 'mine', 'RetentionSuspended');
    expect(await get(cronJobs, 'team-a', 'portcullis-retention-mine')).toBeUndefined();
    await waitFor('team-a RoleBinding removed', async () => (await get(roleBindings, 'team-a', 'portcullis-retention')) === undefined, 30_000);
    expect(await get(serviceAccounts, 'team-a', 'portcullis-retention')).toBeUndefined();
  });

  it('reports a schedule the CronJob API refuses (minute 99) as Ready=False, with no CronJob', async () => {
    await createPolicy('registry', 'minute-99', { repositories: ['**'], schedule: '99 * * * *' });
    const ready = await waitForReady('registry', 'minute-99', 'InvalidSpec');
    expect(ready.status).toBe('False');
    expect(ready.message).toMatch(/^the CronJob was refused: .*spec\.schedule/);
    expect(await get(cronJobs, 'registry', 'portcullis-retention-minute-99')).toBeUndefined();
  });

  it('removes the CronJob of a deleted policy', async () => {
    await createPolicy('registry', 'short-lived', { repositories: ['tmp/**'], schedule: '0 4 * * *' });
    await waitForReady('registry', 'short-lived', 'RetentionScheduled');
    await admin.request('DELETE', objectPath(Resources.retentionPolicies, 'registry', 'short-lived'));
    // No garbage collector runs here: the controller deletes it itself.
    await waitFor('CronJob removed', async () => (await get(cronJobs, 'registry', 'portcullis-retention-short-lived')) === undefined, 30_000);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    [
      'a six-field schedule',
      { repositories: ['**'], schedule: '0 0 3 * * *' },
      /spec\.schedule: Invalid value: "0 0 3 \* \* \*": spec\.schedule in body should match/,
    ],
    ['no rule', { repositories: ['**'], rules: {} }, /spec\.rules: Invalid value: at least one rule is required/],
    [
      'a cap of zero',
      { repositories: ['**'], maxDeletionsPerRun: 0 },
      /spec\.maxDeletionsPerRun: Invalid value: 0: spec\.maxDeletionsPerRun in body should be greater than or equal to 1/,
    ],
  ])('the API server refuses a policy with %s', async (_name, spec, message) => {
    const refusal = await createPolicy('registry', 'invalid', spec).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(KubeApiError);
    expect((refusal as KubeApiError).code).toBe(422);
    expect((refusal as KubeApiError).message, (refusal as KubeApiError).message).toMatch(message);
    expect(await get(Resources.retentionPolicies, 'registry', 'invalid')).toBeUndefined();
  });

  it.each<[string, ResourceAttributes, boolean]>([
    ['deletes images in its own namespace', { verb: 'delete', group: 'activity.portcullis.dev', resource: 'registryimages', namespace: 'registry' }, true],
    [
      'writes the status of its policies',
      { verb: 'patch', group: 'portcullis.dev', resource: 'retentionpolicies', subresource: 'status', namespace: 'registry' },
      true,
    ],
    [
      'attack: deletes images in another namespace',
      { verb: 'delete', group: 'activity.portcullis.dev', resource: 'registryimages', namespace: 'team-b' },
      false,
    ],
    ['attack: edits the policy it runs', { verb: 'patch', group: 'portcullis.dev', resource: 'retentionpolicies', namespace: 'registry' }, false],
    ['attack: reads Secrets', { verb: 'get', group: '', resource: 'secrets', namespace: 'registry' }, false],
  ])('the retention ServiceAccount %s', async (_name, resourceAttributes, allowed) => {
    expect(await serviceAccountMay(admin, { namespace: 'registry', name: 'portcullis-retention' }, resourceAttributes)).toBe(allowed);
  });
});

describe('retention schedules with --retention-namespaces', () => {
  const served = ['registry', 'team-a'];
  const confined = capturedLog();
  const createCronJob = (namespace: string): ResourceAttributes => ({ verb: 'create', group: 'batch', resource: 'cronjobs', namespace });

  beforeAll(async () => {
    await operator?.stop();
    // As the chart binds the retention write rights with operator.retentionNamespaces: a RoleBinding in
    // each served namespace, no ClusterRoleBinding.
    await admin.request('DELETE', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/portcullis-operator-retention');
    for (const namespace of served) {
      await admin.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, {
        body: {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'portcullis-operator-retention' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'portcullis-operator-retention' },
          subjects: [{ kind: 'ServiceAccount', name: 'portcullis-operator', namespace: 'portcullis-system' }],
        },
      });
    }
    // Had the operator asked for a CronJob in team-b, the API server would have refused it.
    await waitFor('the cluster-wide retention binding to lapse', async () => !(await serviceAccountMay(admin, OPERATOR, createCronJob('team-b'))), 30_000);
    const operatorKc = (await cp.kubeconfigForServiceAccount('portcullis-system', 'portcullis-operator')).kubeConfig;
    operator = await startOperator({
      kubeConfig: operatorKc,
      log: confined.log,
      leaderElect: false,
      registryNamespaces: ['registry'],
      retentionImage: IMAGE,
      retentionNamespaces: served,
    });
  }, 120_000);

  it('an operator without the list warned at start that runs could be created in any namespace; the confined one does not', () => {
    expect(unconfined.lines.filter((l) => l.msg === OperatorLogMessages.retentionRunsAnyNamespace)).toHaveLength(1);
    expect(confined.lines.filter((l) => l.msg === OperatorLogMessages.retentionRunsAnyNamespace)).toEqual([]);
  });

  it('a scheduled policy outside the served namespaces is Ready=False, RetentionNamespaceNotServed, with no CronJob, and nothing was tried', async () => {
    expect(await serviceAccountMay(admin, OPERATOR, createCronJob('team-a'))).toBe(true);
    await createPolicy('team-b', 'unserved', { repositories: ['team-b/**'], schedule: '15 * * * *' });
    const ready = await waitForReady('team-b', 'unserved', 'RetentionNamespaceNotServed');
    expect(ready.status).toBe('False');
    expect(ready.message).toMatch(/--retention-namespaces.*team-b is not one of them/);
    expect(await get(cronJobs, 'team-b', cronJobName('unserved'))).toBeUndefined();
    expect(await get(roleBindings, 'team-b', 'portcullis-retention')).toBeUndefined();
    expect(await get(serviceAccounts, 'team-b', 'portcullis-retention')).toBeUndefined();
    // No request the API server refused (a CronJob, or even a read of one), so no retry loop.
    expect(confined.lines.filter((l) => l.controller === 'retention')).toEqual([]);
  });

  it('a scheduled policy inside them still gets its CronJob', async () => {
    await createPolicy('team-a', 'served', { repositories: ['team-a/**'], schedule: '45 * * * *' });
    await waitForReady('team-a', 'served', 'RetentionScheduled');
    expect((await get(cronJobs, 'team-a', cronJobName('served')))?.spec).toMatchObject({ schedule: '45 * * * *' });
    expect(await get(roleBindings, 'team-a', 'portcullis-retention')).toBeDefined();
  });
});
