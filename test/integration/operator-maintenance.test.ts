// The maintenance controller's writes against a real API server, with only the permissions
// deploy/rbac/operator.yaml grants: the read-only switch under its own field manager survives the keys
// controller's wiring apply and goes when switched off, leaving the wiring and the user's fields; the
// collector Job is what the registry container needs (its image, env without the switch, volumes and
// mounts), its result is read from its pod; the controller, on a clock of the test's, through a window
// that times out (read-write restored after the collector is gone) and a request for a Registry without
// a Deployment (a failure, no window); and the refusals: no Job created and no pod read in a
// namespace without a Registry binding (a Job there could mount that namespace's Secrets), and no pods
// created or deleted directly even where Registries are.
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GarbageCollectionStatus, NamespaceInfo, RegistryResource, RetentionPolicyResource } from '../../crds/types.js';
import { collectionPath, KubeApiError, KubeClient, MERGE_PATCH, objectPath, Resources } from '../../kube/request.js';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { applyDeploymentWiring, deployments, type Deployment } from '../../operator/controllers/deployment.js';
import {
  collectorJob,
  collectorJobName,
  CollectorEnv,
  createCollectorJob,
  deleteCollectorJob,
  jobs,
  observeCollectorJob,
  pods,
} from '../../operator/controllers/maintenance/collector-job.js';
import { MaintenanceController } from '../../operator/controllers/maintenance/controller.js';
import { applyReadOnly, hasReadOnlySwitch, READ_ONLY_ENV } from '../../operator/controllers/maintenance/read-only.js';
import { EventRecorder } from '../../operator/writes/events.js';
import { rejectionOf } from '../support/assert.js';

const NS = 'registry';
const OTHER = 'elsewhere';

let cp: ControlPlane;
let admin: KubeClient;
let operatorKc: KubeConfig;
let asOperator: KubeClient;

const USER_ENV = [
  { name: 'REGISTRY_LOG_LEVEL', value: 'warn' },
  { name: 'REGISTRY_HTTP_SECRET', valueFrom: { secretKeyRef: { name: 'http-secret', key: 'secret' } } },
];

const userDeployment = (name: string, namespace = NS) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        serviceAccountName: 'registry',
        containers: [
          {
            name: 'registry',
            image: 'registry:3.0.0',
            args: ['serve', '/config/registry.yml'],
            env: USER_ENV,
            volumeMounts: [{ name: 'data', mountPath: '/var/lib/registry' }],
          },
        ],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'registry-data' } }],
      },
    },
  },
});

const envOf = (d: Deployment) => d.spec?.template?.spec?.containers?.[0]?.env ?? [];
const get = (name: string): Promise<Deployment> => admin.get<Deployment>(objectPath(deployments, NS, name));

beforeAll(async () => {
  cp = await startControlPlane();
  admin = new KubeClient(cp.kubeConfig);
  for (const args of [
    ['apply', '-k', 'crds/'],
    ['wait', '--for=condition=Established', '--timeout=60s', 'crd/registries.portcullis.dev'],
    ['create', 'namespace', NS],
    ['create', 'namespace', OTHER],
    ['apply', '-f', 'deploy/rbac/operator.yaml'],
  ]) {
    const r = await kubectl(cp, args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  }
  operatorKc = (await cp.kubeconfigForServiceAccount('portcullis-system', 'portcullis-operator')).kubeConfig;
  asOperator = new KubeClient(operatorKc);
  await admin.request('POST', collectionPath(deployments, NS), { body: userDeployment('registry-main') });
  await admin.request('POST', collectionPath(Resources.registries, NS), {
    body: {
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'Registry',
      metadata: { name: 'main', namespace: NS },
      spec: { service: 'main.example.com', distribution: { deployment: 'registry-main' } },
    },
  });
}, 120_000);

afterAll(async () => {
  asOperator?.close();
  admin?.close();
  await cp?.stop();
});

describe('the read-only switch', () => {
  const target = { namespace: NS, deploymentName: 'registry-main', containerName: 'registry' };
  const wire = () =>
    applyDeploymentWiring(asOperator, {
      namespace: NS,
      deploymentName: 'registry-main',
      containerName: 'registry',
      registryName: 'main',
      spec: { service: 'main.example.com' },
      bundleHash: 'h1',
    });

  it('survives the keys controller re-applying its wiring, and goes when switched off, leaving wiring and user env', async () => {
    await wire();
    const wiredEnv = envOf(await get('registry-main'));
    expect(wiredEnv.map((e) => e.name)).toContain('REGISTRY_AUTH_TOKEN_SERVICE');

    await applyReadOnly(asOperator, { ...target, readOnly: true });
    expect(hasReadOnlySwitch(await get('registry-main'), 'registry')).toBe(true);
    // The keys controller applies its wiring on every reconcile: it neither owns nor drops the switch.
    await wire();
    const during = await get('registry-main');
    expect(hasReadOnlySwitch(during, 'registry')).toBe(true);
    expect(envOf(during).find((e) => e.name === READ_ONLY_ENV)).toEqual({ name: READ_ONLY_ENV, value: '{"enabled":true}' });

    await applyReadOnly(asOperator, { ...target, readOnly: false });
    const after = await get('registry-main');
    expect(hasReadOnlySwitch(after, 'registry')).toBe(false);
    expect(envOf(after)).toEqual(wiredEnv);
    expect(envOf(after).filter((e) => !e.name.startsWith('REGISTRY_AUTH_TOKEN_'))).toEqual(USER_ENV);
  });
});

describe('the collector Job', () => {
  it('runs the registry container: its image and config, its env without the switch, its volumes; the result comes from its pod', async () => {
    await applyReadOnly(asOperator, { namespace: NS, deploymentName: 'registry-main', containerName: 'registry', readOnly: true });
    const registry = await admin.get<RegistryResource>(objectPath(Resources.registries, NS, 'main'));
    const requestId = '2026-11-27T17:00:00.000Z';
    const job = collectorJob({
      registry,
      deployment: await get('registry-main'),
      containerName: 'registry',
      requestId,
      settings: undefined,
      timeoutSeconds: 600,
    });
    await createCollectorJob(asOperator, job);
    const name = collectorJobName('main', requestId);
    type Stored = {
      metadata: { ownerReferences?: { kind: string; name: string }[] };
      spec: {
        template: {
          spec: {
            serviceAccountName?: string;
            volumes: { name: string }[];
            containers: { image: string; env: { name: string; value?: string }[]; volumeMounts: { mountPath: string }[] }[];
          };
        };
      };
    };
    const stored = await admin.get<Stored>(objectPath(jobs, NS, name));
    const c = stored.spec.template.spec.containers[0]!;
    expect(c.image).toBe('registry:3.0.0');
    expect(c.env.some((e) => e.name === READ_ONLY_ENV)).toBe(false);
    expect(c.env).toEqual(
      expect.arrayContaining([
        ...USER_ENV,
        { name: CollectorEnv.config, value: '/config/registry.yml' },
        { name: CollectorEnv.root, value: '/var/lib/registry' },
      ]),
    );
    expect(c.volumeMounts.map((m) => m.mountPath)).toContain('/var/lib/registry');
    expect(stored.spec.template.spec.volumes.map((v) => v.name)).toContain('data');
    expect(stored.spec.template.spec.serviceAccountName).toBe('registry');
    expect(stored.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Registry', name: 'main' })]);

    expect(await observeCollectorJob(asOperator, NS, name)).toEqual({ finished: false, succeeded: false, deleting: false });
    // What the Job controller and the kubelet would write.
    await admin.request('POST', collectionPath(pods, NS), {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `${name}-x`, labels: { 'job-name': name } },
        spec: { containers: [{ name: 'garbage-collect', image: 'registry:3.0.0' }] },
      },
    });
    await admin.request('PATCH', objectPath(pods, NS, `${name}-x`, 'status'), {
      body: {
        status: {
          phase: 'Succeeded',
          containerStatuses: [
            {
              name: 'garbage-collect',
              image: 'x',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: { terminated: { exitCode: 0, message: 'bytesFreed=10 blobsDeleted=1 manifestsDeleted=0' } },
            },
          ],
        },
      },
      contentType: MERGE_PATCH,
    });
    const now = new Date().toISOString();
    await admin.request('PATCH', objectPath(jobs, NS, name, 'status'), {
      body: {
        status: {
          startTime: now,
          completionTime: now,
          succeeded: 1,
          conditions: ['SuccessCriteriaMet', 'Complete'].map((type) => ({ type, status: 'True', lastProbeTime: now, lastTransitionTime: now })),
        },
      },
      contentType: MERGE_PATCH,
    });
    expect(await observeCollectorJob(asOperator, NS, name)).toEqual({
      finished: true,
      succeeded: true,
      deleting: false,
      message: 'bytesFreed=10 blobsDeleted=1 manifestsDeleted=0',
    });
    await deleteCollectorJob(asOperator, NS, name);
    await deleteCollectorJob(asOperator, NS, 'already-gone');
  });
});

describe('refusals', () => {
  it('no Job in a namespace without a Registry binding', async () => {
    const error = await rejectionOf(
      asOperator.apply(
        objectPath(jobs, OTHER, 'sneaky'),
        {
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: { name: 'sneaky', namespace: OTHER },
          spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } },
        },
        'portcullis-operator',
      ),
    );
    expect(error).toBeInstanceOf(KubeApiError);
    expect((error as KubeApiError).code).toBe(403);
    expect(error.message).toContain('cannot patch resource "jobs" in API group "batch" in the namespace "elsewhere"');
  });

  it('no reading pods (their termination messages) in a namespace without a Registry binding', async () => {
    const error = await rejectionOf(asOperator.get(collectionPath(pods, OTHER)));
    expect((error as KubeApiError).code).toBe(403);
    expect(error.message).toContain('cannot list resource "pods" in API group "" in the namespace "elsewhere"');
  });

  it('no pods created or deleted even where Registries are: Jobs only', async () => {
    const created = await rejectionOf(
      asOperator.request('POST', collectionPath(pods, NS), {
        body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
      }),
    );
    expect((created as KubeApiError).code).toBe(403);
    expect(created.message).toContain('cannot create resource "pods"');
    const deleted = await rejectionOf(asOperator.request('DELETE', objectPath(pods, NS, 'anything')));
    expect((deleted as KubeApiError).code).toBe(403);
    expect(deleted.message).toContain('cannot delete resource "pods"');
  });
});

describe('the maintenance controller (the test plays the clock, the Deployment controller and the garbage collector)', () => {
  let now = new Date();
  const controller = () =>
    new MaintenanceController({
      client: asOperator,
      log: pino({ level: 'silent' }),
      events: new EventRecorder(asOperator, 'test', pino({ level: 'silent' })),
      now: () => now,
    });
  const gc = async (name: string): Promise<GarbageCollectionStatus | undefined> =>
    ((await admin.get<RegistryResource>(objectPath(Resources.registries, NS, name))).status as { garbageCollection?: GarbageCollectionStatus } | undefined)
      ?.garbageCollection;
  const request = (name: string, at: Date) =>
    admin.request('PATCH', objectPath(Resources.registries, NS, name), {
      body: { metadata: { annotations: { 'portcullis.dev/gc-requested-at': at.toISOString() } } },
      contentType: MERGE_PATCH,
    });
  const rolledOut = async (name: string) => {
    const d = await get(name);
    const replicas = { replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 };
    await admin.request('PATCH', objectPath(deployments, NS, name, 'status'), {
      body: { status: { observedGeneration: d.metadata.generation, ...replicas } },
      contentType: MERGE_PATCH,
    });
  };
  const events = async (name: string) =>
    (await admin.get<{ items: { reason?: string; note?: string; regarding?: { name?: string } }[] }>(collectionPath(Resources.events, NS))).items.filter(
      (e) => e.regarding?.name === name,
    );

  it('a window that times out: the collector is stopped and gone before read-write comes back; lastResult failed', async () => {
    await admin.request('POST', collectionPath(deployments, NS), { body: userDeployment('registry-slow') });
    await admin.request('POST', collectionPath(Resources.registries, NS), {
      body: {
        apiVersion: 'portcullis.dev/v1alpha1',
        kind: 'Registry',
        metadata: { name: 'slow', namespace: NS },
        spec: { service: 'slow.example.com', distribution: { deployment: 'registry-slow' } },
      },
    });
    await rolledOut('registry-slow');
    const c = controller();
    now = new Date(Date.now() + 1000);
    await request('slow', new Date());
    expect((await c.reconcile(`${NS}/slow`)).requeueAfterMs).toBeGreaterThan(0);
    expect(await gc('slow')).toMatchObject({ phase: 'EnteringReadOnly' });
    expect(hasReadOnlySwitch(await get('registry-slow'), 'registry')).toBe(true);
    await rolledOut('registry-slow');
    await c.reconcile(`${NS}/slow`);
    const status = await gc('slow');
    expect(status).toMatchObject({ phase: 'Collecting' });
    const job = collectorJobName('slow', status!.requestId!);
    expect(await observeCollectorJob(admin, NS, job)).toEqual({ finished: false, succeeded: false, deleting: false });

    // 31 minutes later the Job still runs: the controller deletes it and waits for it to be gone.
    now = new Date(now.getTime() + 31 * 60_000);
    await c.reconcile(`${NS}/slow`);
    expect(await gc('slow')).toMatchObject({
      phase: 'LeavingReadOnly',
      lastResult: { succeeded: false, message: expect.stringContaining('timed out after 30m') as string },
    });
    expect(await observeCollectorJob(admin, NS, job)).toMatchObject({ deleting: true });
    await c.reconcile(`${NS}/slow`);
    expect(hasReadOnlySwitch(await get('registry-slow'), 'registry')).toBe(true);
    // The garbage collector finishes the foreground deletion (no pods left).
    await admin.request('PATCH', objectPath(jobs, NS, job), { body: { metadata: { finalizers: null } }, contentType: MERGE_PATCH });
    await c.reconcile(`${NS}/slow`);
    expect(hasReadOnlySwitch(await get('registry-slow'), 'registry')).toBe(false);
    expect(await gc('slow')).toMatchObject({ phase: 'LeavingReadOnly' });
    await rolledOut('registry-slow');
    await c.reconcile(`${NS}/slow`);
    expect(await gc('slow')).toMatchObject({ phase: 'Idle', windowEnd: now.toISOString(), lastResult: { succeeded: false } });
    const mine = await events('slow');
    expect(mine.map((e) => e.reason)).toEqual(expect.arrayContaining(['GarbageCollectionStarted', 'GarbageCollectionFailed']));
    expect(mine.find((e) => e.reason === 'GarbageCollectionFailed')?.note).toContain('timed out after 30m');
    // The same request does not open another window.
    await c.reconcile(`${NS}/slow`);
    expect(await gc('slow')).toMatchObject({ phase: 'Idle' });
  });

  it('attack: a retention run of a policy the Registry does not admit opens no window; one it admits does', async () => {
    await admin.request('POST', collectionPath(deployments, NS), { body: userDeployment('registry-shared') });
    await admin.request('POST', collectionPath(Resources.registries, NS), {
      body: {
        apiVersion: 'portcullis.dev/v1alpha1',
        kind: 'Registry',
        metadata: { name: 'shared', namespace: NS },
        spec: {
          service: 'shared.example.com',
          distribution: { deployment: 'registry-shared' },
          garbageCollection: {},
          delegation: [{ namespaces: { from: 'Selector', selector: { matchLabels: { tenant: 'yes' } } }, repositories: ['${namespace}/**'] }],
        },
      },
    });
    await rolledOut('registry-shared');
    now = new Date(Date.now() + 60_000);
    // The status a tenant (or anyone holding the portcullis-retention role) can write: a run that "deleted" something.
    const forged = { startTime: new Date().toISOString(), completionTime: new Date().toISOString(), dryRun: false, result: 'Succeeded' as const };
    const ranIn = (namespace: string, repositories: string[]): RetentionPolicyResource => ({
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'RetentionPolicy',
      metadata: { name: 'p', namespace },
      spec: { registryRef: { name: 'shared', namespace: NS }, repositories, rules: { keepTags: ['latest'] } },
      status: { lastRun: { ...forged, repositories: 1, tagsSeen: 1, candidates: 1, deleted: 1, keptByRule: {}, sample: [], errors: [] } },
    });
    const namespaces = new Map<string, NamespaceInfo>([
      [OTHER, { name: OTHER, labels: {} }],
      ['team-a', { name: 'team-a', labels: { tenant: 'yes' } }],
    ]);
    let policies = [ranIn(OTHER, [`${OTHER}/**`]), ranIn('team-a', ['**'])];
    const c = new MaintenanceController({
      client: asOperator,
      log: pino({ level: 'silent' }),
      now: () => now,
      retentionPolicies: () => policies,
      namespaces: () => namespaces,
    });
    await c.reconcile(`${NS}/shared`);
    expect(await gc('shared')).toBeUndefined();
    expect(hasReadOnlySwitch(await get('registry-shared'), 'registry')).toBe(false);
    // The same run from a namespace the Registry admits, within its prefixes, does open one.
    policies = [...policies, ranIn('team-a', ['team-a/**'])];
    await c.reconcile(`${NS}/shared`);
    expect(await gc('shared')).toMatchObject({ phase: 'EnteringReadOnly', requestId: `retention:${forged.completionTime}` });
    expect(hasReadOnlySwitch(await get('registry-shared'), 'registry')).toBe(true);
  });

  it('a request for a Registry without a Deployment: a failure on the status and a Warning, no window', async () => {
    await admin.request('POST', collectionPath(Resources.registries, NS), {
      body: { apiVersion: 'portcullis.dev/v1alpha1', kind: 'Registry', metadata: { name: 'bare', namespace: NS }, spec: { service: 'bare.example.com' } },
    });
    now = new Date(Date.now() + 1000);
    await request('bare', new Date());
    await controller().reconcile(`${NS}/bare`);
    expect(await gc('bare')).toMatchObject({
      phase: 'Idle',
      lastResult: { succeeded: false, message: expect.stringContaining('names no Deployment') as string },
    });
    expect((await events('bare')).map((e) => e.reason)).toEqual(['GarbageCollectionFailed']);
  });

  it("a Registry naming Portcullis's own activity Deployment: no window, no Job with its Secrets, the Deployment untouched", async () => {
    // What whoever may edit a Registry in the chart's namespace tries: the activity server's Deployment as
    // the "registry", an image of their choosing as the collector, then a collection.
    const own = userDeployment('portcullis-activity');
    const labels = { 'app.kubernetes.io/part-of': 'portcullis', 'app.kubernetes.io/component': 'activity' };
    await admin.request('POST', collectionPath(deployments, NS), { body: { ...own, metadata: { ...own.metadata, labels } } });
    await admin.request('POST', collectionPath(Resources.registries, NS), {
      body: {
        apiVersion: 'portcullis.dev/v1alpha1',
        kind: 'Registry',
        metadata: { name: 'hijack', namespace: NS },
        spec: { service: 'hijack.example.com', distribution: { deployment: 'portcullis-activity' }, garbageCollection: { image: 'evil.example/exfiltrate:1' } },
      },
    });
    now = new Date(Date.now() + 1000);
    await request('hijack', new Date());
    await controller().reconcile(`${NS}/hijack`);
    expect(await gc('hijack')).toMatchObject({ phase: 'Idle', lastResult: { succeeded: false } });
    const listed = await admin.get<{ items: { spec: { template: { spec: { containers: { image: string }[] } } } }[] }>(collectionPath(jobs, NS));
    expect(listed.items.flatMap((j) => j.spec.template.spec.containers.map((c) => c.image))).not.toContain('evil.example/exfiltrate:1');
    const after = await get('portcullis-activity');
    expect(after.metadata.generation).toBe(1);
    expect(hasReadOnlySwitch(after, 'registry')).toBe(false);
  });
});
