// Operator wiring: kubeconfig, logger, the shared caches (started at once, so a newly elected leader
// has warm caches), the triggers, leader election, and the two controllers — the Registry controller
// (snapshots, credentials, statuses) and the keys controller (signing keys, CA rotation, Deployment
// wiring) — which run only while this process holds the Lease. Informer events only enqueue keys; all
// logic lives in the reconciles. A third controller, maintenance, runs garbage-collection windows
// (controllers/maintenance/), and a fourth, retention, schedules RetentionPolicies as CronJobs
// (controllers/retention/). /metrics, /healthz and /readyz on --metrics-listen. With `activity`
// (--activity-url, --activity-key-file), the keys controller also wires each managed registry's
// notifications to the activity server.

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Registry as MetricsRegistry } from 'prom-client';
import { podNamespace } from '../kube/config.js';
import { loadConnection, type KubeConnection } from '../kube/connection.js';
import { KubeClient } from '../kube/request.js';
import { objectKey, registryKeyOf, splitKey } from '../policy/object-keys.js';
import type { ChunkLimits } from '../wire/chunked.js';
import { closeServer } from '../wire/close-server.js';
import { allInformers, createCaches, namespaceInfos, type OperatorCaches } from './caches.js';
import { secretNamespaces, servedNamespaces, servesNamespace } from './served-namespaces.js';
import { KeysController, type KeysControllerOptions } from './controllers/keys/controller.js';
import { MaintenanceController, type MaintenanceControllerOptions } from './controllers/maintenance/controller.js';
import { wireMaintenanceTriggers } from './controllers/maintenance/triggers.js';
import type { ActivityWiring } from './controllers/notifications.js';
import { RegistryController } from './controllers/registry.js';
import { OperatorLogMessages } from './log-messages.js';
import { RetentionScheduleController } from './controllers/retention/controller.js';
import { defaultRetentionImage } from './controllers/retention/image.js';
import { wireRetentionTriggers } from './controllers/retention/triggers.js';
import { healthReport } from './health.js';
import { LeaderElector } from '../kube/lease.js';
import { describeError, InFlight, runWorkers } from './reconciler.js';
import { SecretIndex, wireTriggers } from './triggers.js';
import { OwnWrites } from './own-writes.js';
import { WorkQueue } from './workqueue.js';
import { EventRecorder } from './writes/events.js';

export interface OperatorOptions {
  kubeConfig?: KubeConnection;
  /** Watch scope; undefined = all namespaces. */
  namespace?: string;
  /**
   * The namespaces that hold Registries, where the operator writes (--registry-namespaces): only there
   * are its labelled ConfigMaps and Secrets cached, and only Registries there are served. Undefined:
   * labelled objects are cached from the whole watch scope, wherever anyone labels them.
   */
  registryNamespaces?: readonly string[];
  /**
   * The only namespaces where scheduled RetentionPolicies get a CronJob, and the ServiceAccount and
   * RoleBinding it runs as (--retention-namespaces): a scheduled policy elsewhere is Ready=False,
   * RetentionNamespaceNotServed, and nothing is asked of the API server there. Undefined: any namespace
   * in the watch scope, so the operator needs the rights to create pods, through CronJobs, in all of them.
   */
  retentionNamespaces?: readonly string[];
  /**
   * The only namespaces, besides those holding Registries, whose Secrets the operator reads
   * (--secret-namespaces): their metadata is watched there alone, and a RegistryUser elsewhere is
   * Ready=False, SecretNamespaceNotServed. Needs registryNamespaces (or namespace). Undefined: Secrets
   * are read in the whole watch scope, so the operator needs the right to read every Secret there.
   */
  secretNamespaces?: readonly string[];
  leaderElect?: boolean;
  leaseNamespace?: string;
  leaseName?: string;
  identity?: string;
  /** Where to serve /metrics, /healthz and /readyz. */
  metricsListen?: { host: string; port: number };
  log?: Logger;
  workers?: number;
  /** Status writes in flight at most (default 16). */
  statusWriteConcurrency?: number;
  /** Status writes of a Registry after which, once all are done, it is reconciled once more (default 1,000). */
  statusesDrainedAfter?: number;
  bcryptCost?: number;
  chunkLimits?: ChunkLimits;
  resyncMs?: number;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** A reconcile running longer than this makes /healthz fail. Default 10 min. */
  wedgedAfterMs?: number;
  /** Signing-key controller tuning (tests shorten the rotation timings). */
  keys?: Pick<KeysControllerOptions, 'reloadDelaySeconds' | 'settingsOverrides' | 'rolloutPollMs' | 'now'>;
  /** The activity server's intake URL and the activity key: registries with a Deployment send it their events. */
  activity?: ActivityWiring;
  /** Garbage-collection window tuning (tests poll faster). */
  maintenance?: Pick<MaintenanceControllerOptions, 'pollMs' | 'now'>;
  /** The image of scheduled retention runs (the Portcullis image; `--retention-image`). */
  retentionImage?: string;
  /** The ClusterRole scheduled retention runs are bound to (`--retention-cluster-role`); default portcullis-retention. */
  retentionClusterRole?: string;
}

export interface RunningOperator {
  readonly identity: string;
  isLeader(): boolean;
  /** What this process caches (read-only: tests and diagnostics look at what reached its memory). */
  readonly caches: OperatorCaches;
  /** Stops controllers, releases the Lease, stops informers. */
  stop(): Promise<void>;
}

export async function startOperator(options: OperatorOptions = {}): Promise<RunningOperator> {
  const log = options.log ?? pino({ name: 'portcullis-operator' });
  const kc = options.kubeConfig ?? (await loadConnection());
  const client = new KubeClient(kc);
  const identity = options.identity ?? `${hostname()}-${randomBytes(4).toString('hex')}`;
  const served = servedNamespaces(options.namespace, options.registryNamespaces);
  if (served === undefined && options.namespace === undefined) log.warn(OperatorLogMessages.ownedObjectsClusterWide);
  else if (served !== undefined) log.info({ registryNamespaces: served }, 'serving Registries and caching owned objects only in these namespaces');
  const retentionServed = servedNamespaces(options.namespace, options.retentionNamespaces, '--retention-namespaces');
  if (retentionServed === undefined && options.namespace === undefined) log.warn(OperatorLogMessages.retentionRunsAnyNamespace);
  else if (retentionServed !== undefined) log.info({ retentionNamespaces: retentionServed }, 'creating scheduled retention runs only in these namespaces');
  const secretsServed = secretNamespaces(options.namespace, options.secretNamespaces, served);
  if (secretsServed === undefined && options.namespace === undefined) log.info(OperatorLogMessages.secretsAnyNamespace);
  else if (secretsServed !== undefined) log.info({ secretNamespaces: secretsServed }, OperatorLogMessages.secretNamespaces);
  // A Registry elsewhere is refused by the Registry controller; the others leave it alone, as they could
  // neither read its objects from the caches nor (with the chart's RBAC) write them.
  const serves = (key: string): boolean => servesNamespace(served, splitKey(key).namespace);
  const caches = createCaches({
    kc,
    client,
    log,
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
    ...(served === undefined ? {} : { registryNamespaces: served }),
    ...(secretsServed === undefined ? {} : { secretNamespaces: secretsServed }),
    ...(options.resyncMs ? { resyncMs: options.resyncMs } : {}),
  });
  const informers = allInformers(caches);

  const metrics = new MetricsRegistry();
  const reconciles = new Counter({
    name: 'portcullis_operator_reconcile_total',
    help: 'Reconciles by controller and result',
    labelNames: ['controller', 'result'],
    registers: [metrics],
  });
  const leaderGauge = new Gauge({ name: 'portcullis_operator_leader', help: '1 while this process holds the Lease', registers: [metrics] });
  const inFlight = new InFlight();
  const events = new EventRecorder(client, identity, log);

  const ownWrites = new OwnWrites();
  // Which Registries each Secret's users belong to: the triggers' index, and the hashes pass's version.
  const secretIndex = new SecretIndex();
  const registryController = new RegistryController({
    client,
    ownWrites,
    passwordSecretsVersion: () => secretIndex.passwordSecretsVersion,
    caches,
    events,
    log,
    ...(options.bcryptCost !== undefined ? { bcryptCost: options.bcryptCost } : {}),
    ...(options.chunkLimits ? { chunkLimits: options.chunkLimits } : {}),
    ...(options.statusWriteConcurrency !== undefined ? { writeConcurrency: options.statusWriteConcurrency } : {}),
    // Status writes run after the reconcile: a failed one sends the Registry round again, with backoff.
    onStatusWriteFailed: (key, error) => {
      log.warn({ controller: 'registry', key, err: describeError(error) }, 'status write failed; reconciling again with backoff');
      queues?.registry.addRateLimited(key);
    },
    // A first start's answers to its status writes are taken in now, not by the next change's reconcile.
    onStatusesDrained: (key) => {
      log.debug({ controller: 'registry', key }, OperatorLogMessages.statusesDrained);
      queues?.registry.add(key);
    },
    ...(options.statusesDrainedAfter !== undefined ? { drainedAfter: options.statusesDrainedAfter } : {}),
    ...(served === undefined ? {} : { registryNamespaces: served }),
    ...(secretsServed === undefined ? {} : { secretNamespaces: secretsServed }),
  });
  let reportedDrops = 0;
  new Counter({
    name: 'portcullis_operator_events_dropped_total',
    help: 'Events not recorded because 1,000 were already waiting behind status writes (a first start at scale)',
    registers: [metrics],
    collect() {
      const dropped = registryController.droppedEvents;
      this.inc(dropped - reportedDrops);
      reportedDrops = dropped;
    },
  });
  const keysController = new KeysController({
    client,
    log: log.child({ controller: 'keys' }),
    metrics,
    events,
    ...(options.keys ?? {}),
    ...(options.activity === undefined ? {} : { activity: options.activity }),
  });

  const maintenanceController = new MaintenanceController({
    client,
    log: log.child({ controller: 'maintenance' }),
    events,
    retentionPolicies: () => caches.retentionPolicies.list(),
    namespaces: () => namespaceInfos(caches),
    configMaps: (key) => caches.configMaps.get(key),
    ...(options.maintenance ?? {}),
  });

  const retentionController = new RetentionScheduleController({
    client,
    caches,
    log: log.child({ controller: 'retention' }),
    image: options.retentionImage ?? defaultRetentionImage(),
    ...(options.retentionClusterRole === undefined ? {} : { clusterRole: options.retentionClusterRole }),
    ...(retentionServed === undefined ? {} : { retentionNamespaces: retentionServed }),
  });

  // Keys go to the queues of a leading replica; a follower's events fall on the floor (its caches stay warm).
  let queues: { registry: WorkQueue; keys: WorkQueue; maintenance: WorkQueue; retention: WorkQueue } | undefined;
  wireTriggers(
    caches,
    {
      registry: (key) => queues?.registry.add(key),
      keys: (key) => queues?.keys.add(key),
    },
    ownWrites,
    secretIndex,
  );
  wireMaintenanceTriggers(caches, (key) => queues?.maintenance.add(key));
  wireRetentionTriggers(caches, (key) => queues?.retention.add(key));

  // ---- controllers, only while leading ----
  let running: Promise<unknown> | undefined;
  let cancelSync: (() => void) | undefined;
  const startControllers = (): void => {
    const q = { registry: new WorkQueue(), keys: new WorkQueue(), maintenance: new WorkQueue(), retention: new WorkQueue() };
    queues = q;
    leaderGauge.set(1);
    registryController.startWriting();
    // Losing the Lease (or SIGTERM) before the caches synced must not wait for a sync that may never come.
    const cancelled = new Promise<void>((resolve) => (cancelSync = resolve));
    running = (async () => {
      await Promise.race([Promise.all([...informers.values()].map((i) => i.waitForSync())), cancelled]);
      if (queues !== q) return;
      for (const r of caches.registries.list()) {
        q.registry.add(objectKey(r));
        q.keys.add(objectKey(r));
        q.maintenance.add(objectKey(r));
      }
      // Users and grants whose Registry is missing still get a status (RegistryNotFound).
      for (const o of [...caches.users.list(), ...caches.grants.list()]) q.registry.add(registryKeyOf(o));
      for (const p of caches.retentionPolicies.list()) q.retention.add(objectKey(p));
      log.info({ registries: caches.registries.list().length }, 'controllers started');
      const common = { workers: options.workers ?? 2, log, counter: reconciles, inFlight };
      await Promise.all([
        runWorkers({ ...common, name: 'registry', queue: q.registry, reconcile: registryController.reconcile }),
        runWorkers({ ...common, name: 'keys', queue: q.keys, reconcile: async (key) => (serves(key) ? keysController.reconcile(key) : {}) }),
        runWorkers({
          ...common,
          name: 'maintenance',
          queue: q.maintenance,
          reconcile: async (key) => (serves(key) ? maintenanceController.reconcile(key) : {}),
        }),
        runWorkers({ ...common, name: 'retention', queue: q.retention, reconcile: retentionController.reconcile }),
      ]);
    })();
  };
  const stopControllers = async (): Promise<void> => {
    const q = queues;
    queues = undefined;
    leaderGauge.set(0);
    const writesEnded = registryController.stopWriting();
    cancelSync?.();
    q?.registry.shutDown();
    q?.keys.shutDown();
    q?.maintenance.shutDown();
    q?.retention.shutDown();
    await running;
    await writesEnded;
    running = undefined;
    log.info('controllers stopped');
  };

  // The URL only: the key stays out of every log line.
  if (options.activity !== undefined) log.info({ activityUrl: options.activity.url }, 'registries with a Deployment send their events to the activity server');
  for (const informer of informers.values()) informer.start();

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
    const report = () =>
      healthReport(new Map([...informers].map(([name, i]) => [name, i.health()])), inFlight, Date.now(), options.wedgedAfterMs ?? 10 * 60_000);
    metricsServer = http.createServer((req, res) => {
      if (req.url === '/metrics') {
        void metrics.metrics().then((text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text));
      } else if (req.url === '/healthz' || req.url === '/readyz') {
        const r = report();
        const ok = req.url === '/healthz' ? r.live : r.ready;
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok, problems: r.problems }));
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => metricsServer!.listen(port, host, resolve));
  }

  return {
    identity,
    caches,
    isLeader: () => (elector ? elector.isLeader : true),
    async stop() {
      if (elector) await elector.stop();
      await stopControllers();
      await Promise.all([...informers.values()].map((i) => i.stop()));
      if (metricsServer) await closeServer(metricsServer);
      client.close();
    },
  };
}
