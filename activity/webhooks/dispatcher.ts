// The webhook dispatcher inside the activity server: watches RegistryWebhooks, Registries (their
// delegation) and Namespaces (their labels), keeps one delivery loop per webhook object, and hands each
// loop a new plan when anything it depends on changes. Watch callbacks only schedule a reconcile; the
// reconcile compares plans, starts loops for new objects, stops the loops of deleted ones (a recreated
// object has a new uid, hence a new cursor), and nothing else. Intake calls nudge() after a commit so
// idle loops read at once; otherwise they poll.
//
// Permissions it needs: list/watch registrywebhooks, registries and namespaces; patch
// registrywebhooks/status; get secrets in the namespaces that have webhooks (read by name, never listed).

import type { Logger } from 'pino';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { Delegation, NamespaceInfo, RegistryResource, RegistryWebhookResource, RegistryWebhookStatus } from '../../crds/types.js';
import { realTimers, type Timers } from '../../kube/backoff.js';
import { Informer, type InformerEvent, type KubeObject } from '../../kube/informer.js';
import { isNotFound, MERGE_PATCH, objectPath, Resources, type KubeClient } from '../../kube/request.js';
import { objectKey } from '../../policy/object-keys.js';
import type { EventStore } from '../event.js';
import { BacklogCounter } from './backlog.js';
import { DeliveryLoop } from './loop.js';
import { WebhookMetrics } from './metrics.js';
import { webhookPlan, type PlanContext } from './plan.js';
import { readWebhookKey } from './secret.js';
import { createSender, DEFAULT_TIMEOUT_MS } from './send.js';
import { DEFAULT_THROTTLE, StatusReporter, type ThrottleOptions } from './status.js';

export interface WebhookDispatcherOptions {
  client: KubeClient;
  store: EventStore;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Where the delivery metrics are registered (the activity server's registry). */
  metricsRegistry: MetricsRegistry;
  /** Metrics already registered there (a dispatcher started again under a new lease term reuses them). */
  metrics?: WebhookMetrics;
  /** How often an idle loop reads the store without a nudge. Default 1 s. */
  pollMs?: number;
  /** Per delivery. Default 5 s. */
  timeoutMs?: number;
  /** Allow link-local and metadata addresses as receivers. Default false. */
  allowLinkLocal?: boolean;
  /** How long a read HMAC key is used before it is read again. Default 60 s. */
  keyTtlMs?: number;
  throttle?: ThrottleOptions;
  timers?: Timers;
}

export interface WebhookDispatcher {
  /** New events were committed: idle loops read them now. */
  nudge(): void;
  /** Resolves once the webhooks, Registries and Namespaces have been listed. */
  waitForSync(): Promise<void>;
  /** Stops every loop (after its request in flight, at most the delivery timeout) and the watches. */
  stop(): Promise<void>;
}

interface RegistryObject extends KubeObject {
  spec?: { delegation?: Delegation[] };
}
interface NamespaceObject extends KubeObject {
  metadata: KubeObject['metadata'] & { labels?: Record<string, string> };
}
type WebhookObject = RegistryWebhookResource & KubeObject;

export function startWebhookDispatcher(options: WebhookDispatcherOptions): WebhookDispatcher {
  const { client, store, log } = options;
  const timers = options.timers ?? realTimers;
  const metrics = options.metrics ?? new WebhookMetrics(options.metricsRegistry);
  const sender = createSender({ timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, allowLinkLocal: options.allowLinkLocal === true });
  const webhooks = new Informer<WebhookObject>({ kc: client.kc, client, resource: Resources.registryWebhooks });
  const registries = new Informer<RegistryObject>({
    kc: client.kc,
    client,
    resource: Resources.registries,
    // Only the delegation is read.
    transform: (r) => ({ metadata: r.metadata, spec: { delegation: r.spec?.delegation ?? [] } }),
  });
  const namespaces = new Informer<NamespaceObject>({ kc: client.kc, client, resource: Resources.namespaces, metadataOnly: true });
  const loops = new Map<string, { uid: string; loop: DeliveryLoop }>();
  /** Loops of deleted webhooks still finishing their request in flight. */
  const stopping = new Set<Promise<void>>();
  let stopped = false;
  let scheduled = false;
  let cursorsSwept = false;
  const backlogs = new BacklogCounter(store, () => timers.now());

  const writeStatus = (namespace: string, name: string) => async (status: RegistryWebhookStatus) => {
    // A merge patch: `backlog: null` clears a count that no longer applies (a webhook that became blocked).
    const body = { status: { ...status, backlog: status.backlog ?? null } };
    try {
      await client.request('PATCH', objectPath(Resources.registryWebhooks, namespace, name, 'status'), { body, contentType: MERGE_PATCH });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  };

  const context = (): PlanContext => ({
    registries: new Map(registries.list().map((r) => [objectKey(r), r as unknown as RegistryResource])),
    namespaces: new Map<string, NamespaceInfo>(namespaces.list().map((n) => [n.metadata.name, { name: n.metadata.name, labels: n.metadata.labels ?? {} }])),
    allowLinkLocal: options.allowLinkLocal === true,
  });

  const startLoop = (key: string, webhook: WebhookObject, plan: ReturnType<typeof webhookPlan>): DeliveryLoop => {
    const { namespace = '', name } = webhook.metadata;
    const status = webhook.status as RegistryWebhookStatus | undefined;
    const loop = new DeliveryLoop(
      plan,
      {
        uid: webhook.metadata.uid ?? key,
        key,
        store,
        sender,
        readKey: (ref) => readWebhookKey(client, ref),
        reporter: (backlog) =>
          new StatusReporter({
            write: writeStatus(namespace, name),
            backlog,
            onError: (error) => log.warn({ webhook: key, err: error.message }, 'webhook: writing the status failed'),
            timers,
            throttle: options.throttle ?? DEFAULT_THROTTLE,
            ...(status !== undefined ? { initial: status } : {}),
          }),
        metrics,
        timers,
        countBacklog: (filter, cursor) => backlogs.count(webhook.metadata.uid ?? key, filter, cursor),
        pollMs: options.pollMs ?? 1000,
        keyTtlMs: options.keyTtlMs ?? 60_000,
        log,
      },
      status,
    );
    loop.start();
    return loop;
  };

  /** Uids whose cursors are in use: the webhooks listed and the loops running. */
  const liveUids = (): Set<string> =>
    new Set([...webhooks.list().map((w) => w.metadata.uid ?? objectKey(w)), ...[...loops.values()].map((entry) => entry.uid)]);

  // A deleted webhook's cursor is never read again (a recreated object has a new uid): without this, a
  // namespace creating and deleting webhooks in a loop grew the cursor table without bound.
  const forgetCursor = async (uid: string): Promise<void> => {
    if (liveUids().has(uid)) return;
    await store.deleteCursor(uid).catch((error: unknown) => log.warn({ err: (error as Error).message }, 'webhook: forgetting a cursor failed'));
  };

  /** Once per term, after the first listing: cursors of webhooks deleted while no dispatcher ran. */
  const sweepCursors = async (): Promise<void> => {
    const keys = await store.cursorKeys();
    for (const key of keys) await forgetCursor(key);
  };

  /** `deleted`: the webhook object is gone (or replaced by a new uid), so its cursor goes after its loop stops. */
  const stopLoop = (key: string, deleted: boolean): void => {
    const entry = loops.get(key);
    if (entry === undefined) return;
    loops.delete(key);
    metrics.forget(key);
    backlogs.forget(entry.uid);
    const done = entry.loop
      .stop()
      .then(() => (deleted ? forgetCursor(entry.uid) : undefined))
      .finally(() => stopping.delete(done));
    stopping.add(done);
  };

  const reconcile = (): void => {
    scheduled = false;
    if (stopped || !webhooks.hasSynced || !registries.hasSynced || !namespaces.hasSynced) return;
    const ctx = context();
    const seen = new Set<string>();
    for (const webhook of webhooks.list()) {
      const key = objectKey(webhook);
      seen.add(key);
      const plan = webhookPlan(webhook, ctx);
      const existing = loops.get(key);
      if (existing !== undefined && existing.uid === webhook.metadata.uid) {
        existing.loop.update(plan);
        continue;
      }
      if (existing !== undefined) stopLoop(key, true);
      loops.set(key, { uid: webhook.metadata.uid ?? key, loop: startLoop(key, webhook, plan) });
      log.info({ webhook: key }, 'webhook: delivery loop started');
    }
    for (const key of [...loops.keys()]) {
      if (!seen.has(key)) {
        stopLoop(key, true);
        log.info({ webhook: key }, 'webhook: deleted; delivery loop stopped');
      }
    }
    if (!cursorsSwept) {
      cursorsSwept = true;
      const swept = sweepCursors()
        .catch((error: unknown) => log.warn({ err: (error as Error).message }, 'webhook: sweeping old cursors failed'))
        .finally(() => stopping.delete(swept));
      stopping.add(swept);
    }
  };

  // What a plan reads of each kind: an update that leaves it alone (the loops' own status writes, the
  // operator's Registry statuses) needs no reconcile.
  const onEvent =
    <T>(what: string, relevant: (object: T) => unknown) =>
    (event: InformerEvent<T>): void => {
      if (event.type === 'error') {
        log.warn({ watch: what, err: event.error.message }, 'webhook dispatcher: watch failing; keeping the last known state');
        return;
      }
      if (event.type === 'connected' || scheduled) return;
      if (event.type === 'updated' && JSON.stringify(relevant(event.object)) === JSON.stringify(relevant(event.previous))) return;
      scheduled = true;
      // Coalesces a relist's many events into one reconcile.
      timers.setTimeout(reconcile, 0);
    };
  webhooks.on(onEvent<WebhookObject>('RegistryWebhooks', (w) => [w.metadata.uid, w.metadata.generation, w.spec]));
  registries.on(onEvent<RegistryObject>('Registries', (r) => r.spec?.delegation));
  namespaces.on(onEvent<NamespaceObject>('Namespaces', (n) => n.metadata.labels));
  webhooks.start();
  registries.start();
  namespaces.start();

  return {
    nudge() {
      for (const { loop } of loops.values()) loop.nudge();
    },
    async waitForSync() {
      await Promise.all([webhooks.waitForSync(), registries.waitForSync(), namespaces.waitForSync()]);
    },
    async stop() {
      stopped = true;
      await Promise.all([webhooks.stop(), registries.stop(), namespaces.stop()]);
      const running = [...loops.values()].map(({ loop }) => loop.stop());
      loops.clear();
      await Promise.all([...running, ...stopping]);
      sender.close();
    },
  };
}
