// RegistryWebhooks delivered for real: a kube-apiserver with the CRDs, the dispatcher running as the
// activity server's ServiceAccount under deploy/activity (no other permission), a SQLite event store the
// test appends to as intake would, and receivers on loopback (node:http) that verify every signature
// with the key of the webhook's Secret. Then intake itself: an envelope POSTed to `portcullis activity`
// reaches a receiver through the nudge after its commit.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_MEDIA_TYPES } from '../../activity/envelope.js';
import type { RegistryEvent, EventStore } from '../../activity/event.js';
import { startActivity } from '../../activity/main.js';
import { openEventStore } from '../../activity/store/open.js';
import { startWebhookDispatcher, type WebhookDispatcher } from '../../activity/webhooks/dispatcher.js';
import { startLeadingWebhookDispatcher } from '../../activity/webhooks/leading.js';
import { verifyDelivery } from '../../activity/webhooks/signature.js';
import type { RegistryWebhookStatus } from '../../crds/types.js';
import { KubeClient, MERGE_PATCH, objectPath, Resources } from '../../kube/request.js';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { waitFor } from '../../local/process.js';
import { notificationToken } from '../../wire/notification-token.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The signature checked with the Secret's key, as a receiver would. */
  valid: boolean;
  event: { id: string; action: string; repository: string; tag: string | null };
  /** The status answered; undefined while the receiver still holds the request. */
  answered?: number;
}

interface Receiver {
  url: string;
  requests: Received[];
  /** Requests answered 2xx. */
  delivered(): Received[];
  /** Requests not answered yet. */
  pending(): number;
  close(): Promise<void>;
}

/** A receiver that verifies with `key` and answers what `answer` says for its n-th request (1-based). */
async function startReceiver(key: Buffer, answer: (n: number) => { status: number; delayMs?: number } = () => ({ status: 200 })): Promise<Receiver> {
  const requests: Received[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const header = (name: string): string | undefined => req.headers[name] as string | undefined;
      const valid = verifyDelivery(
        key,
        { timestamp: header('x-portcullis-timestamp'), signature: header('x-portcullis-signature'), body },
        Math.floor(Date.now() / 1000),
      );
      const received: Received = { headers: req.headers, body, valid, event: JSON.parse(body) as Received['event'] };
      requests.push(received);
      const { status, delayMs } = answer(requests.length);
      res.on('error', () => undefined);
      const timer = setTimeout(() => {
        timers.delete(timer);
        received.answered = status;
        if (!res.destroyed) res.writeHead(status).end();
      }, delayMs ?? 0);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    requests,
    delivered: () => requests.filter((r) => r.answered !== undefined && r.answered < 300),
    pending: () => requests.filter((r) => r.answered === undefined).length,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

let cp: ControlPlane;
let admin: KubeClient;
let activity: KubeClient;
let dir: string;
let store: EventStore;
let dispatcher: WebhookDispatcher | undefined;
const receivers: Receiver[] = [];
const log = pino({ level: process.env.PORTCULLIS_TEST_LOG ?? 'silent' });

function startDispatcher(): WebhookDispatcher {
  return startWebhookDispatcher({ client: activity, store, log, metricsRegistry: new MetricsRegistry(), throttle: { intervalMs: 1000, transitionGapMs: 200 } });
}

async function apply(yaml: string): Promise<void> {
  const r = await kubectl(cp, ['apply', '-f', '-'], yaml);
  expect(r.code, r.stderr).toBe(0);
}

/** Adds `name` to the namespace's `portcullis-webhooks` Secret (the only Secret name the activity server may read). */
async function secret(namespace: string, name: string, key: Buffer): Promise<void> {
  const path = objectPath(Resources.secrets, namespace, WEBHOOK_SECRET);
  const data = { [name]: key.toString('base64') };
  try {
    await admin.request('PATCH', path, { body: { data }, contentType: MERGE_PATCH });
  } catch {
    await admin.request('POST', `/api/v1/namespaces/${namespace}/secrets`, {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: WEBHOOK_SECRET, namespace }, data },
    });
  }
}

async function webhook(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await admin.request('POST', `/apis/portcullis.dev/v1alpha1/namespaces/${namespace}/registrywebhooks`, {
    body: {
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'RegistryWebhook',
      metadata: { name, namespace },
      spec: { registryRef: { name: 'main', namespace: 'registry' }, ...spec },
    },
  });
}

async function deleteWebhook(namespace: string, name: string): Promise<void> {
  await admin.request('DELETE', objectPath(Resources.registryWebhooks, namespace, name));
}

async function uidOf(namespace: string, name: string): Promise<string> {
  return (await admin.get<{ metadata: { uid: string } }>(objectPath(Resources.registryWebhooks, namespace, name))).metadata.uid;
}

async function statusOf(namespace: string, name: string): Promise<RegistryWebhookStatus> {
  return (await admin.get<{ status?: RegistryWebhookStatus }>(objectPath(Resources.registryWebhooks, namespace, name))).status ?? {};
}

const readyOf = (s: RegistryWebhookStatus): string => {
  const c = s.conditions?.find((x) => x.type === 'Ready');
  return c === undefined ? '' : `${c.status}/${c.reason}`;
};

async function waitForReady(namespace: string, name: string, expected: string): Promise<RegistryWebhookStatus> {
  let last: RegistryWebhookStatus = {};
  await waitFor(
    `${namespace}/${name} Ready ${expected}`,
    async () => readyOf((last = await statusOf(namespace, name))) === expected,
    20_000,
    () => JSON.stringify(last),
  );
  return last;
}

const WEBHOOK_SECRET = 'portcullis-webhooks';

let counter = 0;
function event(repository: string, action: RegistryEvent['action'] = 'push', tag: string | undefined = '1'): RegistryEvent {
  counter++;
  return {
    id: `ev-${counter}-${randomBytes(4).toString('hex')}`,
    registry: 'registry/main',
    action,
    repository,
    ...(tag !== undefined ? { tag } : {}),
    digest: `sha256:${counter.toString(16).padStart(64, '0')}`,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 400 + counter,
    actor: 'alice',
    timestamp: new Date().toISOString(),
  };
}

/** What intake does: commit, then nudge. */
async function commit(...events: RegistryEvent[]): Promise<RegistryEvent[]> {
  await store.append(events);
  dispatcher?.nudge();
  return events;
}

async function receivedIds(r: Receiver, count: number, timeoutMs: number): Promise<string[]> {
  await waitFor(
    `${count} deliveries`,
    () => Promise.resolve(r.delivered().length >= count),
    timeoutMs,
    () => JSON.stringify(r.requests.map((x) => x.event)),
  );
  return r.delivered().map((x) => x.event.id);
}

beforeAll(async () => {
  cp = await startControlPlane();
  admin = new KubeClient(cp.kubeConfig);
  const crds = await kubectl(cp, ['apply', '-f', 'crds/registries.yaml', '-f', 'crds/registrywebhooks.yaml']);
  expect(crds.code, crds.stderr).toBe(0);
  const established = await kubectl(cp, [
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/registries.portcullis.dev',
    'crd/registrywebhooks.portcullis.dev',
  ]);
  expect(established.code, established.stderr).toBe(0);
  const rbac = await kubectl(cp, ['apply', '-f', 'deploy/activity/rbac.yaml', '-f', 'deploy/activity/webhooks-rbac.yaml']);
  expect(rbac.code, rbac.stderr).toBe(0);
  await apply(`apiVersion: v1
kind: Namespace
metadata: {name: registry}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {tenant: "yes"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: stranger}
---
apiVersion: portcullis.dev/v1alpha1
kind: Registry
metadata: {name: main, namespace: registry}
spec:
  service: registry.example.com
  delegation:
    - namespaces: {from: Selector, selector: {matchLabels: {tenant: "yes"}}}
      repositories: ["\${namespace}/**"]
`);
  activity = new KubeClient((await cp.kubeconfigForServiceAccount('portcullis-system', 'portcullis-activity')).kubeConfig);
  dir = await mkdtemp(join(tmpdir(), 'portcullis-webhooks-'));
  store = await openEventStore(`sqlite:${join(dir, 'events.db')}`);
  dispatcher = startDispatcher();
  await dispatcher.waitForSync();
});

afterAll(async () => {
  await dispatcher?.stop();
  await store?.close();
  for (const r of receivers) await r.close();
  admin?.close();
  activity?.close();
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function receiver(key: Buffer, answer?: Parameters<typeof startReceiver>[1]): Promise<Receiver> {
  const r = await startReceiver(key, answer);
  receivers.push(r);
  return r;
}

describe('RegistryWebhook delivery', () => {
  const key = randomBytes(32);
  let ci: Receiver;

  it('delivers one signed POST per push event within 2 s, and not the pulls', async () => {
    ci = await receiver(key);
    await secret('registry', 'ci-hook', key);
    await webhook('registry', 'ci', { url: ci.url, secretRef: { name: WEBHOOK_SECRET, key: 'ci-hook' }, headers: [{ name: 'X-Team', value: 'platform' }] });
    await waitForReady('registry', 'ci', 'True/Delivering');

    const [first, pull, second] = await commit(event('team-a/app'), event('team-a/app', 'pull'), event('library/nginx', 'push', '1.27'));
    const ids = await receivedIds(ci, 2, 2000);
    expect(ids).toEqual([first?.id, second?.id]);
    expect(ci.requests.map((r) => r.valid)).toEqual([true, true]);
    const r = ci.requests[1] as Received;
    expect(JSON.parse(r.body)).toEqual({
      id: second?.id,
      action: 'push',
      registry: 'registry/main',
      repository: 'library/nginx',
      tag: '1.27',
      digest: second?.digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: second?.size,
      actor: 'alice',
      timestamp: second?.timestamp,
    });
    expect([r.headers['x-portcullis-event'], r.headers['content-type'], r.headers['x-team']]).toEqual(['push', 'application/json', 'platform']);
    expect(r.headers['x-portcullis-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    expect(ci.requests.some((x) => x.event.id === pull?.id)).toBe(false);

    // A receiver checking with any other key refuses every delivery.
    const other = randomBytes(32);
    expect(
      ci.requests.map((x) =>
        verifyDelivery(
          other,
          { timestamp: x.headers['x-portcullis-timestamp'] as string, signature: x.headers['x-portcullis-signature'] as string, body: x.body },
          Math.floor(Date.now() / 1000),
        ),
      ),
    ).toEqual([false, false]);
  });

  it('retries a receiver answering 500 three times: every event arrives, in order, and the status shows the failures, then the recovery', async () => {
    const flaky = await receiver(key, (n) => ({ status: n <= 3 ? 500 : 200 }));
    await secret('registry', 'flaky-hook', key);
    await webhook('registry', 'flaky', {
      url: flaky.url,
      secretRef: { name: WEBHOOK_SECRET, key: 'flaky-hook' },
      repositories: ['team-b/**', 'library/**'],
      actions: ['push', 'delete'],
    });
    await waitForReady('registry', 'flaky', 'True/Delivering');

    const events = await commit(event('team-b/x', 'push', '1'), event('library/y'), event('team-b/x', 'delete', undefined), event('team-b/x', 'push', '2'));
    const failing = await waitForReady('registry', 'flaky', 'False/DeliveryFailing');
    expect(failing.lastFailure?.reason).toBe('HTTP 500');
    expect(failing.conditions?.[0]?.message).toContain(`delivering event ${events[0]?.id} (push team-b/x)`);

    expect(await receivedIds(flaky, 4, 30_000)).toEqual(events.map((e) => e.id));
    // The first event was sent four times, always as the same delivery; nothing after it went before it succeeded.
    expect(flaky.requests.slice(0, 4).map((r) => r.event.id)).toEqual(Array(4).fill(events[0]?.id));
    expect(new Set(flaky.requests.slice(0, 4).map((r) => r.headers['x-portcullis-delivery'])).size).toBe(1);
    expect(flaky.requests.every((r) => r.valid)).toBe(true);

    let last: RegistryWebhookStatus = {};
    await waitFor(
      'backlog 0 after the recovery',
      async () => readyOf((last = await statusOf('registry', 'flaky'))) === 'True/Delivering' && last.backlog === 0,
      20_000,
      () => JSON.stringify(last),
    );
    expect(last.lastFailure).toMatchObject({ reason: 'HTTP 500', attempts: 3 });
    expect(Date.parse(last.lastSuccessTime ?? '')).toBeGreaterThanOrEqual(Date.parse(last.lastFailure?.time ?? 'x'));
    await deleteWebhook('registry', 'flaky');
  });

  it('a receiver that sleeps 10 s holds up only its own webhook', async () => {
    const slow = await receiver(key, () => ({ status: 200, delayMs: 10_000 }));
    const fast = await receiver(key);
    await secret('registry', 'pair-hook', key);
    await webhook('registry', 'slow', { url: slow.url, secretRef: { name: WEBHOOK_SECRET, key: 'pair-hook' }, repositories: ['pair/**'] });
    await webhook('registry', 'fast', { url: fast.url, secretRef: { name: WEBHOOK_SECRET, key: 'pair-hook' }, repositories: ['pair/**'] });
    await waitForReady('registry', 'slow', 'True/Delivering');
    await waitForReady('registry', 'fast', 'True/Delivering');

    const [a] = await commit(event('pair/one'));
    await waitFor('the slow receiver holding the first event', () => Promise.resolve(slow.pending() === 1), 5000);
    const [b] = await commit(event('pair/two'));
    expect(await receivedIds(fast, 2, 2000)).toEqual([a?.id, b?.id]);
    // The slow receiver is still holding its first request: the other webhook did not wait for it.
    expect([slow.pending(), slow.delivered().length]).toEqual([1, 0]);
    await deleteWebhook('registry', 'slow');
    await deleteWebhook('registry', 'fast');
  });

  it('a tenant webhook reaching outside its prefix is refused and receives nothing; one within it hears only its prefix', async () => {
    const escape = await receiver(key);
    const own = await receiver(key);
    const stranger = await receiver(key);
    await secret('team-a', 'hook', key);
    await secret('stranger', 'hook', key);
    await webhook('team-a', 'escape', { url: escape.url, secretRef: { name: WEBHOOK_SECRET, key: 'hook' }, repositories: ['*/**'] });
    await webhook('team-a', 'own', {
      url: own.url,
      secretRef: { name: WEBHOOK_SECRET, key: 'hook' },
      repositories: ['team-a/**'],
      actions: ['push', 'pull', 'delete'],
    });
    await webhook('stranger', 'peek', { url: stranger.url, secretRef: { name: WEBHOOK_SECRET, key: 'hook' }, repositories: ['stranger/**'] });
    const refused = await waitForReady('team-a', 'escape', 'False/OutsideDelegatedPrefix');
    expect(refused.conditions?.[0]?.message).toBe('repository pattern "*/**" is outside the prefixes delegated to namespace team-a: "team-a/**"');
    await waitForReady('stranger', 'peek', 'False/NamespaceNotAllowed');
    await waitForReady('team-a', 'own', 'True/Delivering');

    const [, , , , mine] = await commit(event('team-b/app'), event('library/nginx'), event('team-a'), event('stranger/app'), event('team-a/app', 'pull'));
    expect(await receivedIds(own, 1, 5000)).toEqual([mine?.id]);
    // Everything before the tenant's own event was passed over; the refused webhooks never heard anything.
    expect([own.requests.length, escape.requests.length, stranger.requests.length]).toEqual([1, 0, 0]);

    // The owner withdraws the delegation (the namespace loses its label): the webhook stops at once.
    const unlabelled = await kubectl(cp, ['label', 'namespace', 'team-a', 'tenant-']);
    expect(unlabelled.code, unlabelled.stderr).toBe(0);
    await waitForReady('team-a', 'own', 'False/NamespaceNotAllowed');
    await commit(event('team-a/app'));
    const [marker] = await commit(event('registry-marker/app'));
    await waitFor('the home webhook seeing the next event', () => Promise.resolve(ci.delivered().some((r) => r.event.id === marker?.id)), 5000);
    expect(own.requests.length).toBe(1);
    const relabelled = await kubectl(cp, ['label', 'namespace', 'team-a', 'tenant=yes']);
    expect(relabelled.code, relabelled.stderr).toBe(0);
  });

  it('a webhook whose key is missing says so, and delivers once the key exists', async () => {
    const late = await receiver(key);
    await webhook('registry', 'late', { url: late.url, secretRef: { name: WEBHOOK_SECRET, key: 'late-hook' } });
    const missing = await waitForReady('registry', 'late', 'False/SecretKeyNotFound');
    expect(missing.conditions?.[0]?.message).toBe('Secret portcullis-webhooks has no key "late-hook" (or it is empty)');
    const [waiting] = await commit(event('late/app'));
    await secret('registry', 'late-hook', key);
    expect(await receivedIds(late, 1, 20_000)).toEqual([waiting?.id]);
    expect(late.requests.every((r) => r.valid)).toBe(true);
    await waitForReady('registry', 'late', 'True/Delivering');
    await deleteWebhook('registry', 'late');
  });

  it('a webhook naming any other Secret (here the Registry signing key) cannot make the activity server read it', async () => {
    await admin.request('POST', '/api/v1/namespaces/registry/secrets', {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'portcullis-main-signing', namespace: 'registry' },
        data: { 'keys.json': Buffer.from('{}').toString('base64') },
      },
    });
    const thief = await receiver(key);
    await webhook('registry', 'thief', { url: thief.url, secretRef: { name: 'portcullis-main-signing', key: 'keys.json' } });
    const refused = await waitForReady('registry', 'thief', 'False/SecretUnreadable');
    expect(refused.conditions?.[0]?.message).toContain('HTTP 403');
    await commit(event('thief/app'));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(thief.requests).toEqual([]);
    await deleteWebhook('registry', 'thief');
  });

  it('a restarted dispatcher continues from the stored cursor: nothing twice, nothing lost', async () => {
    const [marker] = await commit(event('restart/zero'));
    await waitFor('the webhook caught up', () => Promise.resolve(ci.delivered().at(-1)?.event.id === marker?.id), 10_000);
    const before = ci.delivered().length;
    await dispatcher?.stop();
    const whileDown = await commit(event('restart/one'), event('restart/two'));
    // The cursor of a webhook deleted while no dispatcher ran.
    await store.setCursor('uid-of-a-webhook-deleted-while-down', 1);
    dispatcher = startDispatcher();
    const after = await commit(event('restart/three'));
    const ids = await receivedIds(ci, before + 3, 10_000);
    expect(ids.slice(before)).toEqual([...whileDown, ...after].map((e) => e.id));
    expect(new Set(ids).size).toBe(ids.length);
    // The new term swept it; the live webhook's stays.
    await waitFor('the stale cursor swept', async () => !(await store.cursorKeys()).includes('uid-of-a-webhook-deleted-while-down'), 10_000);
    expect(await store.cursor(await uidOf('registry', 'ci'))).toBeGreaterThan(0);
  });

  it("a deleted webhook's cursor is forgotten (creating and deleting webhooks cannot grow the store)", async () => {
    const r = await receiver(key);
    await secret('registry', 'brief-hook', key);
    await webhook('registry', 'brief', { url: r.url, secretRef: { name: WEBHOOK_SECRET, key: 'brief-hook' } });
    await waitForReady('registry', 'brief', 'True/Delivering');
    const uid = await uidOf('registry', 'brief');
    await waitFor('its cursor stored', async () => (await store.cursor(uid)) !== undefined, 10_000);
    const cursorsBefore = (await store.cursorKeys()).length;
    await deleteWebhook('registry', 'brief');
    // Before: the row stayed for good.
    await waitFor('its cursor forgotten', async () => (await store.cursor(uid)) === undefined, 10_000);
    expect((await store.cursorKeys()).length).toBe(cursorsBefore - 1);
  });

  it('through intake: an envelope POSTed to portcullis activity reaches the receiver, nudged by the commit', async () => {
    // The activity server's own dispatcher takes over (its own store): the test's stops first.
    await dispatcher?.stop();
    dispatcher = undefined;
    const activityKey = randomBytes(32);
    const running = await startActivity({
      databaseUrl: `sqlite:${join(dir, 'activity.db')}`,
      activityKey,
      events: { host: '127.0.0.1', port: 0 },
      retention: {},
      logger: log,
      handleSignals: false,
      webhooks: { client: activity, throttle: { intervalMs: 1000, transitionGapMs: 200 } },
    });
    try {
      const before = ci.delivered().length;
      // The webhook's cursor in this store starts at its newest event: wait until the loop has stored it
      // (read beside the server: the status shows only what was delivered, never the cursor).
      const uid = (await admin.get<{ metadata: { uid: string } }>(objectPath(Resources.registryWebhooks, 'registry', 'ci'))).metadata.uid;
      const peek = await openEventStore(`sqlite:${join(dir, 'activity.db')}`);
      try {
        await waitFor('the loop in the activity server', async () => (await peek.cursor(uid)) !== undefined, 10_000);
      } finally {
        await peek.close();
      }
      const id = `intake-${randomBytes(4).toString('hex')}`;
      const digest = `sha256:${'ab'.repeat(32)}`;
      const envelope = {
        events: [
          {
            id,
            timestamp: new Date().toISOString(),
            action: 'push',
            target: {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              digest,
              size: 402,
              length: 402,
              repository: 'team-a/app',
              url: `https://r/v2/team-a/app/manifests/${digest}`,
              tag: '9',
            },
            request: { id: 'req-1', addr: '127.0.0.1:40000', host: 'r', method: 'PUT', useragent: 'crane' },
            actor: { name: 'alice' },
            source: { addr: 'registry-0:5000', instanceID: 'i' },
          },
        ],
      };
      const res = await fetch(`${running.eventsUrl}/events/registry/main`, {
        method: 'POST',
        headers: { authorization: `Bearer ${notificationToken(activityKey, { namespace: 'registry', name: 'main' })}`, 'content-type': EVENTS_MEDIA_TYPES[1] },
        body: JSON.stringify(envelope),
      });
      expect(res.status).toBe(200);
      const ids = await receivedIds(ci, before + 1, 2000);
      expect(ids.slice(before)).toEqual([id]);
      expect(ci.delivered().at(-1)?.valid).toBe(true);
    } finally {
      await running.close();
    }
  });

  it('two replicas on one store: only the Lease holder delivers, and when it stops the other continues from the cursor', async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
    const lease = { namespace: 'portcullis-system', name: 'portcullis-activity-webhooks', leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 };
    const replica = (identity: string) =>
      startLeadingWebhookDispatcher({
        client: activity,
        store,
        log,
        metricsRegistry: new MetricsRegistry(),
        throttle: { intervalMs: 1000, transitionGapMs: 200 },
        lease: { ...lease, identity },
      });
    const replicas = [replica('replica-a'), replica('replica-b')];
    try {
      await waitFor('one replica leads', () => Promise.resolve(replicas.some((r) => r.isLeader())), 10_000);
      const both = await receiver(key);
      await secret('registry', 'replicas-hook', key);
      await webhook('registry', 'replicas', { url: both.url, secretRef: { name: WEBHOOK_SECRET, key: 'replicas-hook' } });
      await waitForReady('registry', 'replicas', 'True/Delivering');
      // Both replicas see every committed event (intake on each nudges its own dispatcher).
      const nudgeAll = () => replicas.forEach((r) => r.nudge());
      const first = [event('replicas/app'), event('replicas/app'), event('replicas/web')];
      await store.append(first);
      nudgeAll();
      expect(await receivedIds(both, 3, 10_000)).toEqual(first.map((e) => e.id));

      const leader = replicas.find((r) => r.isLeader());
      const follower = replicas.find((r) => !r.isLeader());
      expect(leader).toBeDefined();
      expect(follower).toBeDefined();
      await leader?.stop();
      const second = [event('replicas/app'), event('replicas/web')];
      await store.append(second);
      nudgeAll();
      await waitFor('the other replica leads', () => Promise.resolve(follower?.isLeader() === true), 15_000);
      const ids = await receivedIds(both, 5, 15_000);
      expect(ids).toEqual([...first, ...second].map((e) => e.id));
      // Nothing twice: the receiver saw each event exactly once.
      expect(both.requests.map((r) => r.event.id)).toEqual(ids);
    } finally {
      for (const r of replicas) await r.stop();
    }
  });

  it('the API server refuses a webhook that overrides the signature header or carries credentials in its URL', async () => {
    const r = await kubectl(
      cp,
      ['apply', '-f', '-'],
      `apiVersion: portcullis.dev/v1alpha1
kind: RegistryWebhook
metadata: {name: sneaky, namespace: team-a}
spec:
  registryRef: {name: main, namespace: registry}
  url: https://user:token@ci.example.com/hook
  secretRef: {name: hook}
  headers: [{name: X-Portcullis-Signature, value: "sha256=00"}]
`,
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.url: Invalid value: "https://user:token@ci.example.com/hook": must not contain credentials');
    expect(r.stderr).toContain('spec.headers[0].name: Invalid value: "X-Portcullis-Signature": is set by the activity server or carries credentials');
  });
});
