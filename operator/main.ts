// Operator wiring: kubeconfig, logger, informers (started at once, so a newly elected leader has warm
// caches), leader election, and the Registry controller, which runs only while this process holds the
// Lease. Informer events only enqueue keys; all logic lives in the reconcile.

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig, podNamespace } from '../kube/config.js';
import { pino, type Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Registry as MetricsRegistry } from 'prom-client';
import type { RegistryResource, RegistryUserResource, RepositoryGrantResource } from '../crds/types.js';
import type { ChunkLimits } from '../wire/chunked.js';
import { objectKey, registryKeyOf } from '../policy/object-keys.js';
import { RegistryController, type NamespaceObject, type RegistryCaches } from './controllers/registry.js';
import type { SecretMetadata } from './controllers/password-hashes.js';
import { startKeysController, type KeysControllerOptions, type RunningKeysController } from './controllers/keys.js';
import { SecretIndex, ownerRegistryKey, selectsNamespacesByLabel } from './controllers/triggers.js';
import type { StoredObject } from '../wire/chunked.js';
import { Informer, type InformerEvent, type KubeObject } from '../kube/informer.js';
import { MANAGED_SELECTOR } from '../wire/labels.js';
import { EventRecorder } from './writes/events.js';
import { KubeClient, Resources, type ResourceType } from '../kube/request.js';
import { LeaderElector } from './lease.js';
import { runWorkers } from './reconciler.js';
import { WorkQueue } from './workqueue.js';

export interface OperatorOptions {
  kubeConfig?: KubeConfig;
  /** Watch scope; undefined = all namespaces. */
  namespace?: string;
  leaderElect?: boolean;
  leaseNamespace?: string;
  leaseName?: string;
  identity?: string;
  /** Where to serve /metrics and /healthz. */
  metricsListen?: { host: string; port: number };
  log?: Logger;
  workers?: number;
  bcryptCost?: number;
  chunkLimits?: ChunkLimits;
  resyncMs?: number;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Signing-key controller tuning (tests shorten the rotation timings). */
  keys?: Pick<KeysControllerOptions, 'reloadDelaySeconds' | 'settingsOverrides' | 'rolloutPollMs' | 'now'>;
}

export interface RunningOperator {
  readonly identity: string;
  isLeader(): boolean;
  /** Stops controllers, releases the Lease, stops informers. */
  stop(): Promise<void>;
}

export async function startOperator(options: OperatorOptions = {}): Promise<RunningOperator> {
  const log = options.log ?? pino({ name: 'portcullis-operator' });
  const kc = options.kubeConfig ?? (await loadKubeConfig());
  const client = new KubeClient(kc);
  const identity = options.identity ?? `${hostname()}-${randomBytes(4).toString('hex')}`;
  const scope = options.namespace;

  const make = <T extends KubeObject>(resource: ResourceType, extra: { namespace?: string; labelSelector?: string; metadataOnly?: boolean } = {}): Informer<T> => {
    const informer = new Informer<T>({ kc, client, resource, ...extra, ...(options.resyncMs ? { resyncMs: options.resyncMs } : {}) });
    informer.on((event: InformerEvent<T>) => logLifecycle(log, resource.plural, event));
    return informer;
  };
  const ns = scope === undefined ? {} : { namespace: scope };
  const caches: RegistryCaches = {
    registries: make<RegistryResource>(Resources.registries, ns),
    users: make<RegistryUserResource>(Resources.registryUsers, ns),
    grants: make<RepositoryGrantResource>(Resources.repositoryGrants, ns),
    // Delegation selects namespaces by label, so namespaces are always watched cluster-wide.
    namespaces: make<NamespaceObject>(Resources.namespaces),
    // Password Secrets are any Secret a user names: watched as metadata only, read one by one when they change.
    secretMetadata: make<SecretMetadata>(Resources.secrets, { ...ns, metadataOnly: true }),
    ownedSecrets: make<StoredObject & { metadata: { name: string } }>(Resources.secrets, { ...ns, labelSelector: MANAGED_SELECTOR }),
    configMaps: make<StoredObject & { metadata: { name: string } }>(Resources.configMaps, { ...ns, labelSelector: MANAGED_SELECTOR }),
  };
  const all = Object.values(caches) as Informer<KubeObject>[];

  const metrics = new MetricsRegistry();
  const reconciles = new Counter({ name: 'portcullis_operator_reconcile_total', help: 'Registry reconciles by result', labelNames: ['result'], registers: [metrics] });
  const leaderGauge = new Gauge({ name: 'portcullis_operator_leader', help: '1 while this process holds the Lease', registers: [metrics] });

  const controller = new RegistryController({
    client,
    caches,
    events: new EventRecorder(client, identity, log),
    log,
    ...(options.bcryptCost !== undefined ? { bcryptCost: options.bcryptCost } : {}),
    ...(options.chunkLimits ? { chunkLimits: options.chunkLimits } : {}),
  });

  // ---- triggers: events -> keys ----
  let queue: WorkQueue | undefined;
  const enqueue = (key: string | undefined): void => {
    if (key !== undefined) queue?.add(key);
  };
  const enqueueAllRegistries = (): void => {
    for (const r of caches.registries.list()) enqueue(objectKey(r));
  };
  const secretIndex = new SecretIndex();
  caches.registries.on((e) => {
    if (e.type === 'added' || e.type === 'updated' || e.type === 'deleted') {
      enqueue(e.key);
      if (e.type !== 'updated' || e.object.metadata.generation !== e.previous.metadata.generation) enqueueAllRegistries();
    }
  });
  for (const informer of [caches.users, caches.grants] as Informer<RegistryUserResource | RepositoryGrantResource>[]) {
    informer.on((e) => {
      if (e.type === 'connected' || e.type === 'relisted' || e.type === 'error' || e.type === 'gaveUp') return;
      enqueue(registryKeyOf(e.object));
      if (e.type === 'updated') enqueue(registryKeyOf(e.previous));
    });
  }
  caches.users.on((e) => {
    if (e.type === 'added' || e.type === 'updated') secretIndex.setUser(e.object);
    else if (e.type === 'deleted') secretIndex.deleteUser(e.key);
  });
  caches.secretMetadata.on((e) => {
    if (e.type !== 'added' && e.type !== 'updated' && e.type !== 'deleted') return;
    for (const key of secretIndex.registriesFor(e.key)) enqueue(key);
  });
  caches.ownedSecrets.on((e) => {
    if (e.type === 'added' || e.type === 'updated' || e.type === 'deleted') enqueue(ownerRegistryKey(e.object));
  });
  caches.configMaps.on((e) => {
    if (e.type === 'added' || e.type === 'updated' || e.type === 'deleted') enqueue(ownerRegistryKey(e.object));
  });
  caches.namespaces.on((e) => {
    if (e.type !== 'added' && e.type !== 'updated' && e.type !== 'deleted') return;
    for (const r of caches.registries.list()) if (selectsNamespacesByLabel(r)) enqueue(objectKey(r));
  });

  // ---- controllers, only while leading ----
  let workers: Promise<void> | undefined;
  let keysController: RunningKeysController | undefined;
  let cancelSync: (() => void) | undefined;
  const startControllers = (): void => {
    const q = new WorkQueue();
    queue = q;
    leaderGauge.set(1);
    controller.startWriting();
    keysController = startKeysController({
      kc,
      client,
      log: log.child({ controller: 'keys' }),
      metrics,
      events: new EventRecorder(client, identity, log),
      ...(scope === undefined ? {} : { namespace: scope }),
      ...(options.keys ?? {}),
    });
    // Losing the Lease (or SIGTERM) before the caches synced must not wait for a sync that may never come.
    const cancelled = new Promise<void>((resolve) => (cancelSync = resolve));
    workers = (async () => {
      await Promise.race([Promise.all(all.map((i) => i.waitForSync())), cancelled]);
      if (queue !== q) return;
      enqueueAllRegistries();
      // Users and grants whose Registry is missing still get a status (RegistryNotFound).
      for (const o of [...caches.users.list(), ...caches.grants.list()]) enqueue(registryKeyOf(o));
      log.info({ registries: caches.registries.list().length }, 'controllers started');
      await runWorkers(
        q,
        options.workers ?? 2,
        async (key) => {
          try {
            const result = await controller.reconcile(key);
            reconciles.inc({ result: 'success' });
            return result;
          } catch (error) {
            reconciles.inc({ result: 'error' });
            throw error;
          }
        },
        log,
      );
    })();
  };
  const stopControllers = async (): Promise<void> => {
    const q = queue;
    queue = undefined;
    leaderGauge.set(0);
    controller.stopWriting();
    cancelSync?.();
    if (q) q.shutDown();
    const keys = keysController;
    keysController = undefined;
    await Promise.all([workers, keys?.stop()]);
    workers = undefined;
    log.info('controllers stopped');
  };

  for (const informer of all) informer.start();

  let elector: LeaderElector | undefined;
  if (options.leaderElect ?? true) {
    elector = new LeaderElector({
      client,
      namespace: options.leaseNamespace ?? podNamespace(),
      name: options.leaseName ?? 'portcullis-operator',
      identity,
      log,
      ...(options.leaseDurationMs ? { leaseDurationMs: options.leaseDurationMs } : {}),
      ...(options.renewDeadlineMs ? { renewDeadlineMs: options.renewDeadlineMs } : {}),
      ...(options.retryPeriodMs ? { retryPeriodMs: options.retryPeriodMs } : {}),
    });
    elector.start({
      onStartedLeading: startControllers,
      onStoppedLeading: stopControllers,
      onNewLeader: (holder) => log.info({ leader: holder }, 'leader observed'),
    });
  } else {
    startControllers();
  }

  let metricsServer: http.Server | undefined;
  if (options.metricsListen) {
    // Process and Node.js metrics (resident memory, heap, event-loop lag) only when served.
    collectDefaultMetrics({ register: metrics });
    const { host, port } = options.metricsListen;
    metricsServer = http.createServer((req, res) => {
      if (req.url === '/metrics') {
        void metrics.metrics().then((text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text));
      } else if (req.url === '/healthz') res.writeHead(200).end('ok');
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => metricsServer!.listen(port, host, resolve));
  }

  return {
    identity,
    isLeader: () => (elector ? elector.isLeader : true),
    async stop() {
      if (elector) await elector.stop();
      await stopControllers();
      await Promise.all(all.map((i) => i.stop()));
      await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
      client.close();
    },
  };
}


function logLifecycle<T>(log: Logger, resource: string, event: InformerEvent<T>): void {
  switch (event.type) {
    case 'connected':
      log.debug({ resource, resourceVersion: event.resourceVersion }, 'watch connected');
      return;
    case 'relisted':
      log.info({ resource, reason: event.reason, count: event.count }, 'listed');
      return;
    case 'error':
      log.warn({ resource, attempt: event.attempt, retryInMs: Math.round(event.retryInMs), err: event.error.message }, 'watch failed; retrying');
      return;
    case 'gaveUp':
      log.error({ resource, err: event.error.message }, 'watch gave up');
      return;
    default:
      return;
  }
}
