// The operator wires registries to the activity server, against a real API server and with only the
// permissions deploy/rbac/operator.yaml grants: with --activity-url/--activity-key-file, a Registry that
// names a Deployment gets portcullis-<name>-notifications (its derived token, owned by the Registry) and
// the Deployment reads REGISTRY_NOTIFICATIONS_ENDPOINTS from it by secretKeyRef, next to the user's own
// env and volumes; a new URL rolls the pod template; a Registry without a Deployment gets no Secret; the
// key and token appear in no log line, Event, status or Deployment. Then real Distribution processes
// (2.8 and v3), given that variable as the kubelet would resolve it, deliver a push to the intake path
// with the token. There is no kubelet: the test reads the Secret the way the kubelet would.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startOperator, type RunningOperator } from '../../operator/main.js';
import { deployments, type Deployment } from '../../operator/controllers/deployment.js';
import { isNotFound, KubeClient, objectPath, Resources } from '../../kube/request.js';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { buildImage } from '../../local/image.js';
import { freePort, waitFor } from '../../local/process.js';
import { startRegistry } from '../../local/registry.js';
import { readActivityKey } from '../../wire/activity-key.js';
import { parseActivityUrl } from '../../wire/notification-endpoint.js';
import { notificationToken } from '../../wire/notification-token.js';
import { cranePush } from '../harness/clients.js';
import { leakedParts } from '../support/assert.js';

const NS = 'registry';
const API = 'portcullis.dev/v1alpha1';
const ENV = 'REGISTRY_NOTIFICATIONS_ENDPOINTS';
const SECRET = 'portcullis-main-notifications';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  env?: EnvVar[];
  volumeMounts?: { name: string; mountPath: string }[];
}
type PodSpec = { containers: Container[]; volumes?: { name: string }[] };
interface Endpoint {
  name: string;
  url: string;
  headers: { Authorization: string[] };
}

/** What the intake receiver saw: one entry per request. */
interface Received {
  path: string;
  authorization: string | undefined;
  actions: string[];
}

let cp: ControlPlane;
let admin: KubeClient;
let operatorKc: KubeConfig;
let keyDir: string;
let key: Buffer;
let receiver: http.Server;
let receiverUrl: string;
const received: Received[] = [];
const logLines: string[] = [];
const running: RunningOperator[] = [];

// Every line the operator logs, at debug, so the test can look for the key and token in them.
const log = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });

/** The user's Deployment: env, a volume and a mount of their own that the wiring must leave alone. */
const userDeployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'registry', namespace: NS },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'registry' } },
    template: {
      metadata: { labels: { app: 'registry' }, annotations: { 'example.com/owner': 'platform' } },
      spec: {
        containers: [
          {
            name: 'registry',
            image: 'registry:2.8.3',
            env: [
              { name: 'REGISTRY_LOG_LEVEL', value: 'warn' },
              { name: 'REGISTRY_STORAGE_DELETE_ENABLED', value: 'true' },
            ],
            volumeMounts: [{ name: 'data', mountPath: '/var/lib/registry' }],
          },
        ],
        volumes: [{ name: 'data', emptyDir: {} }],
      },
    },
  },
};

async function get<T>(path: string): Promise<T | undefined> {
  try {
    return await admin.get<T>(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

const deployment = async (): Promise<Deployment> => await admin.get<Deployment>(objectPath(deployments, NS, 'registry'));
const podSpec = (d: Deployment): PodSpec => d.spec!.template!.spec as unknown as PodSpec;
const annotations = (d: Deployment): Record<string, string> => d.spec?.template?.metadata?.annotations ?? {};
const registryEnv = (d: Deployment): EnvVar[] => podSpec(d).containers.find((c) => c.name === 'registry')!.env ?? [];

/** The endpoints YAML as the kubelet would put it in the registry's environment. */
async function secretEndpoints(): Promise<string | undefined> {
  const secret = await get<{ data?: Record<string, string> }>(objectPath(Resources.secrets, NS, SECRET));
  const data = secret?.data?.endpoints;
  return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
}

async function startWiredOperator(activityUrl: string | undefined): Promise<RunningOperator> {
  // Through the CLI's own parsers, so the file on disk is read as `--activity-key-file` reads it.
  const activity = activityUrl === undefined ? undefined : { url: parseActivityUrl(activityUrl), key: await readActivityKey(join(keyDir, 'key')) };
  const op = await startOperator({
    kubeConfig: operatorKc,
    log,
    leaderElect: false,
    registryNamespaces: [NS],
    keys: { rolloutPollMs: 500 },
    ...(activity ? { activity } : {}),
  });
  running.push(op);
  return op;
}

async function stopOperators(): Promise<void> {
  for (const op of running.splice(0)) await op.stop();
}

async function apply(args: string[]): Promise<void> {
  const r = await kubectl(cp, args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
}

beforeAll(async () => {
  keyDir = await mkdtemp(join(tmpdir(), 'portcullis-activity-key-'));
  key = randomBytes(32);
  // As a Secret mount shows it, with the trailing newline a hand-made key often has.
  await writeFile(join(keyDir, 'key'), Buffer.concat([key, Buffer.from('\n')]), { mode: 0o600 });

  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const events = (JSON.parse(body || '{}') as { events?: { action: string }[] }).events ?? [];
      received.push({ path: req.url ?? '', authorization: req.headers.authorization, actions: events.map((e) => e.action) });
      res.writeHead(200).end();
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => receiver.listen(port, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${port}`;

  cp = await startControlPlane();
  admin = new KubeClient(cp.kubeConfig);
  await apply([
    'apply',
    '-f',
    'crds/registries.yaml',
    '-f',
    'crds/registryusers.yaml',
    '-f',
    'crds/repositorygrants.yaml',
    '-f',
    'crds/retentionpolicies.yaml',
  ]);
  await apply(['wait', '--for=condition=Established', '--timeout=60s', 'crd/registries.portcullis.dev']);
  await admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
  await apply(['apply', '-f', 'deploy/rbac/operator.yaml']);
  operatorKc = (await cp.kubeconfigForServiceAccount('portcullis-system', 'portcullis-operator')).kubeConfig;

  await admin.request('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, { body: userDeployment });
  for (const [name, distribution] of [
    ['main', { deployment: 'registry' }],
    ['nodeploy', undefined],
  ] as const) {
    await admin.request('POST', `/apis/portcullis.dev/v1alpha1/namespaces/${NS}/registries`, {
      body: { apiVersion: API, kind: 'Registry', metadata: { name }, spec: { service: `${name}.example.com`, ...(distribution ? { distribution } : {}) } },
    });
  }
  await startWiredOperator(receiverUrl);
}, 180_000);

afterAll(async () => {
  await stopOperators();
  admin?.close();
  await cp?.stop();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
});

describe('operator with an activity server', () => {
  it('the Deployment reads REGISTRY_NOTIFICATIONS_ENDPOINTS from the notifications Secret, not a value', async () => {
    await waitFor('endpoint variable on the Deployment', async () => registryEnv(await deployment()).some((e) => e.name === ENV), 60_000);
    const d = await deployment();
    expect(registryEnv(d).find((e) => e.name === ENV)).toEqual({ name: ENV, valueFrom: { secretKeyRef: { name: SECRET, key: 'endpoints' } } });
    expect(annotations(d)['portcullis.dev/notifications-hash']).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.stringify(d)).not.toContain(notificationToken(key, { namespace: NS, name: 'main' }));
  });

  it("the Secret carries the Registry's derived token to its intake path, and is owned by the Registry", async () => {
    const endpoints = parse((await secretEndpoints())!) as Endpoint[];
    expect(endpoints).toHaveLength(1);
    expect(endpoints[0]!.url).toBe(`${receiverUrl}/events/${NS}/main`);
    expect(endpoints[0]!.headers.Authorization).toEqual([`Bearer ${notificationToken(key, { namespace: NS, name: 'main' })}`]);
    const registry = await admin.get<{ metadata: { uid: string } }>(objectPath(Resources.registries, NS, 'main'));
    const secret = await admin.get<{ metadata: { ownerReferences?: { uid: string; controller?: boolean }[] } }>(objectPath(Resources.secrets, NS, SECRET));
    expect(secret.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Registry', uid: registry.metadata.uid, controller: true })]);
  });

  it("the user's env, volumes, mounts and annotations are untouched", async () => {
    const d = await deployment();
    const container = podSpec(d).containers.find((c) => c.name === 'registry')!;
    expect(container.env?.filter((e) => !e.name.startsWith('REGISTRY_AUTH_TOKEN_') && e.name !== ENV)).toEqual(
      userDeployment.spec.template.spec.containers[0]!.env,
    );
    expect(container.volumeMounts?.find((m) => m.name === 'data')).toEqual({ name: 'data', mountPath: '/var/lib/registry' });
    expect(
      podSpec(d)
        .volumes?.map((v) => v.name)
        .sort(),
    ).toEqual(['data', 'portcullis-bundle']);
    expect(annotations(d)['example.com/owner']).toBe('platform');
  });

  it('a Registry without a Deployment gets no Secret', async () => {
    await waitFor(
      'keys controller has looked at nodeploy',
      async () => (await get<{ status?: { signing?: unknown } }>(objectPath(Resources.registries, NS, 'nodeploy')))?.status?.signing !== undefined,
      60_000,
    );
    expect(await get(objectPath(Resources.secrets, NS, 'portcullis-nodeploy-notifications'))).toBeUndefined();
  });

  it('neither the key nor a token reaches a log line, an Event or a status', async () => {
    const tokens = ['main', 'nodeploy'].map((name) => notificationToken(key, { namespace: NS, name }));
    const secrets = [...tokens, key.toString('base64'), key.toString('hex'), key.toString('base64url')];
    const events = JSON.stringify(await admin.get(`/apis/events.k8s.io/v1/namespaces/${NS}/events`));
    const statuses = JSON.stringify(await admin.get(`/apis/portcullis.dev/v1alpha1/namespaces/${NS}/registries`));
    expect(logLines.length).toBeGreaterThan(0);
    // Any 12 characters of one is a leak (long enough that random hex or base64 cannot match by chance).
    for (const secret of secrets) {
      for (const [where, text] of [
        ['logs', logLines.join('')],
        ['events', events],
        ['statuses', statuses],
      ] as const) {
        expect(leakedParts(text, secret, 12), where).toEqual([]);
      }
    }
  });

  it.each(['2.8', 'v3'] as const)('Distribution %s, given the variable from the Secret, posts a push to the intake path with the token', async (flavor) => {
    // As the kubelet resolves the secretKeyRef: the Secret's content in the registry's environment.
    const registry = await startRegistry({ flavor, env: { [ENV]: (await secretEndpoints())! } });
    try {
      const image = await buildImage(join(keyDir, `image-${flavor}`));
      const before = received.length;
      const push = await cranePush(image.layoutDir, `${registry.host}/team/app:1`);
      expect(push.code, push.stderr).toBe(0);
      await waitFor(
        'push event',
        async () => received.slice(before).some((r) => r.actions.includes('push')),
        30_000,
        () => registry.logs(),
      );
      const requests = received.slice(before);
      expect(new Set(requests.map((r) => r.path))).toEqual(new Set([`/events/${NS}/main`]));
      expect(new Set(requests.map((r) => r.authorization))).toEqual(new Set([`Bearer ${notificationToken(key, { namespace: NS, name: 'main' })}`]));
      // Blob events are dropped by the registry itself: one manifest push, no layer or config uploads.
      expect(requests.flatMap((r) => r.actions)).toEqual(['push']);
    } finally {
      await registry.stop();
    }
  });

  it('a new --activity-url rewrites the Secret and rolls the pod template; without the options the wiring is taken back', async () => {
    const before = annotations(await deployment())['portcullis.dev/notifications-hash'];
    await stopOperators();
    await startWiredOperator('http://portcullis-activity.portcullis-system.svc:8080/');
    await waitFor('a new notifications hash', async () => annotations(await deployment())['portcullis.dev/notifications-hash'] !== before, 60_000);
    const endpoints = parse((await secretEndpoints())!) as Endpoint[];
    expect(endpoints[0]!.url).toBe(`http://portcullis-activity.portcullis-system.svc:8080/events/${NS}/main`);
    expect(registryEnv(await deployment()).find((e) => e.name === ENV)?.valueFrom).toEqual({ secretKeyRef: { name: SECRET, key: 'endpoints' } });

    await stopOperators();
    await startWiredOperator(undefined);
    await waitFor('the endpoint variable removed', async () => !registryEnv(await deployment()).some((e) => e.name === ENV), 60_000);
    const d = await deployment();
    expect(annotations(d)['portcullis.dev/notifications-hash']).toBeUndefined();
    expect(annotations(d)['portcullis.dev/bundle-hash']).toMatch(/^[0-9a-f]{32}$/);
    expect(registryEnv(d).map((e) => e.name)).toEqual(
      expect.arrayContaining(['REGISTRY_LOG_LEVEL', 'REGISTRY_STORAGE_DELETE_ENABLED', 'REGISTRY_AUTH_TOKEN_SERVICE']),
    );
  });
});
