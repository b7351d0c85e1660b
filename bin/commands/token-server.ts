// `portcullis token-server --policy-dir DIR --keys-dir DIR --listen HOST:PORT [--tls-cert F --tls-key F]`:
// serves tokens from a snapshot directory (as `portcullis compile` or a mounted ConfigMap/Secret writes
// it) and a keys directory (`portcullis keys init`, or the mounted signing Secret).
// `portcullis token-server --registry NAMESPACE/NAME ...` reads the same from the operator's objects
// through the API instead (kubeconfig from KUBECONFIG or in-cluster), and keeps serving the last good
// generation while the API server is away. Prints one line `token-server listening on URL` when ready;
// SIGTERM closes it gracefully with exit status 0. With --workers N, N processes (node:cluster) share the
// socket and a primary supervises them (token-server/workers.ts).

import cluster from 'node:cluster';
import type { Command } from 'commander';
import { parseListenAddress, parseLogLevel, type ListenAddress } from '../flags.js';
import { parseDuration } from '../../policy/duration.js';
import { heapCompaction } from '../heap-compaction.js';
import { createLogger } from '../../token-server/logger.js';
import { TokenServerMetrics } from '../../token-server/metrics.js';
import { startServer } from '../../token-server/server.js';
import { directorySources } from '../../token-server/sources/directory.js';
import type { KeySource, PolicySource, Source } from '../../token-server/sources/types.js';
import type { KubeClient } from '../../kube/request.js';
import { parseTrustProxy, type TrustProxy } from '../../token-server/trust-proxy.js';
import { clusterMetricsText, runPrimary, shareWorkerMetrics } from '../../token-server/workers.js';

/** How long requests in flight may take to finish after SIGTERM. */
const SHUTDOWN_GRACE_MS = 10_000;

interface TokenServerFlags {
  policyDir?: string;
  keysDir?: string;
  registry?: string;
  credentialsDir?: string;
  listen: string;
  tlsCert?: string;
  tlsKey?: string;
  logLevel: string;
  refreshTokenTtl: string;
  trustProxy?: string;
  pollInterval: string;
  workers: string;
}

const MAX_WORKERS = 64;

export function register(program: Command): void {
  program
    .command('token-server')
    .description('serve Docker Registry v2 tokens from a policy snapshot and keys (directories, or live from the cluster with --registry)')
    .option('--policy-dir <dir>', 'directory holding snapshot.json (and credentials.json)')
    .option('--keys-dir <dir>', 'directory holding signing.json')
    .option('--registry <namespace/name>', 'read the policy and keys of this Registry live from the cluster instead of directories')
    .option('--credentials-dir <dir>', 'directory holding credentials.json (default: --policy-dir)')
    .option('--listen <host:port>', 'address to listen on', '0.0.0.0:5001')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM; reloaded when it changes)')
    .option('--tls-key <file>', 'private key for --tls-cert (PEM)')
    .option('--log-level <level>', 'trace, debug, info, warn, error or fatal', 'info')
    .option('--refresh-token-ttl <duration>', 'lifetime of refresh tokens (offline tokens)', '720h')
    .option(
      '--trust-proxy <hops|CIDRs>',
      'take the client address from X-Forwarded-For: the number of proxies in front (e.g. 1), or their addresses/CIDRs (e.g. 10.0.0.0/8)',
    )
    .option('--poll-interval <duration>', 'how often input files are re-read in case a change was not noticed', '5s')
    .option('--workers <n>', 'processes serving the listening socket (node:cluster): one per CPU the pod is given', '1')
    .action(async (flags: TokenServerFlags) => {
      let listen: ListenAddress;
      let logLevel: string;
      let refreshTokenTTLSeconds: number;
      let pollIntervalMs: number;
      let trustProxy: TrustProxy | undefined;
      try {
        trustProxy = flags.trustProxy === undefined ? undefined : parseTrustProxy(flags.trustProxy);
        listen = parseListenAddress(flags.listen);
        logLevel = parseLogLevel(flags.logLevel);
        refreshTokenTTLSeconds = parseDuration(flags.refreshTokenTtl);
        pollIntervalMs = parseDuration(flags.pollInterval) * 1000;
      } catch (err) {
        program.error((err as Error).message);
      }
      if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) program.error('--tls-cert and --tls-key go together');
      if (!/^\d{1,2}$/.test(flags.workers) || Number(flags.workers) < 1 || Number(flags.workers) > MAX_WORKERS) {
        program.error(`--workers must be a whole number from 1 to ${MAX_WORKERS}, not ${JSON.stringify(flags.workers)}`);
      }
      const workers = Number(flags.workers);
      const inWorker = workers > 1 && cluster.isWorker;

      const fromDirs = flags.policyDir !== undefined || flags.keysDir !== undefined;
      if (fromDirs === (flags.registry !== undefined)) program.error('give either --policy-dir and --keys-dir, or --registry NAMESPACE/NAME');
      if (fromDirs && (flags.policyDir === undefined || flags.keysDir === undefined)) program.error('--policy-dir and --keys-dir go together');
      const registryRef = flags.registry === undefined ? undefined : /^([a-z0-9][a-z0-9-]{0,62})\/([a-z0-9][a-z0-9.-]{0,252})$/.exec(flags.registry);
      if (flags.registry !== undefined && !registryRef) program.error(`--registry must be NAMESPACE/NAME, not ${JSON.stringify(flags.registry)}`);

      const logger = createLogger(logLevel);
      if (workers > 1 && cluster.isPrimary) {
        // The primary loads nothing: each worker runs this same command and reads the policy and keys itself.
        process.exitCode = await runPrimary({
          workers,
          logger,
          tls: flags.tlsCert !== undefined,
          shutdownGraceMs: SHUTDOWN_GRACE_MS,
          onListening: (url) => process.stdout.write(`token-server listening on ${url} (${workers} workers)\n`),
        });
        logger.flush();
        return;
      }
      // Made before the first load, so the growth that load causes counts.
      const compaction = heapCompaction({ onCompacted: (figures) => logger.info(figures, 'heap compacted after a policy load') });
      let sources: { policy: PolicySource; keys: KeySource; close(): unknown };
      // ServiceAccount logins need the cluster (TokenReview): the same connection as --registry, or from
      // directories the in-cluster ServiceAccount or KUBECONFIG when there is one, made on first use.
      let kubeClient: Promise<KubeClient | undefined> | undefined;
      const clusterClient = (): Promise<KubeClient | undefined> => {
        kubeClient ??= (async () => {
          if (registryRef === undefined && !process.env.KUBECONFIG && !process.env.KUBERNETES_SERVICE_HOST) return undefined;
          const [{ loadConnection }, { KubeClient: Client }] = await Promise.all([import('../../kube/connection.js'), import('../../kube/request.js')]);
          return new Client(await loadConnection());
        })().catch((err: unknown) => {
          logger.error({ reason: (err as Error).message }, 'no cluster connection for ServiceAccount logins');
          return undefined;
        });
        return kubeClient;
      };
      // Before the app subscribes (at build), a failed first load is worth a line of its own.
      const reportRejected = (name: string, source: Source<unknown>) =>
        source.onRejected((reason) => logger.error({ source: name, reason }, `${name} not loaded`));
      if (registryRef) {
        // Loaded only here; kube/connection.ts reads the common kubeconfigs without client-node, whose
        // import alone is ~66 MB of RSS.
        const [{ loadConnection }, { kubernetesSources }] = await Promise.all([
          import('../../kube/connection.js'),
          import('../../token-server/sources/kubernetes.js'),
        ]);
        const kubeConfig = await loadConnection();
        const live = kubernetesSources({ kubeConfig, namespace: registryRef[1]!, registry: registryRef[2]!, log: logger });
        const offs = [reportRejected('policy', live.policy), reportRejected('keys', live.keys)];
        try {
          await live.start();
        } catch (err) {
          program.error(`token-server: cannot read Registry ${flags.registry} from the cluster: ${(err as Error).message}`);
        }
        for (const off of offs) off();
        sources = live;
      } else {
        const dirs = directorySources({
          policyDir: flags.policyDir!,
          keysDir: flags.keysDir!,
          ...(flags.credentialsDir === undefined ? {} : { credentialsDir: flags.credentialsDir }),
          pollIntervalMs: Math.max(1000, pollIntervalMs),
        });
        for (const [name, source] of [
          ['policy', dirs.policy],
          ['keys', dirs.keys],
        ] as const) {
          const off = reportRejected(name, source);
          await source.start();
          off();
        }
        sources = dirs;
      }
      compaction.afterLoad();
      sources.policy.onChange(() => compaction.afterLoad());
      const metrics = new TokenServerMetrics(() => new Date()).withProcessMetrics();
      if (inWorker) shareWorkerMetrics(metrics.registry);
      try {
        const server = await startServer({
          app: {
            policy: sources.policy,
            keys: sources.keys,
            logger,
            refreshTokenTTLSeconds,
            ...(trustProxy === undefined ? {} : { trustProxy }),
            metrics,
            kubeClient: clusterClient,
            ...(inWorker ? { metricsText: () => clusterMetricsText() } : {}),
          },
          shutdownGraceMs: SHUTDOWN_GRACE_MS,
          host: listen.host,
          port: listen.port,
          ...(flags.tlsCert !== undefined && flags.tlsKey !== undefined ? { tls: { certFile: flags.tlsCert, keyFile: flags.tlsKey } } : {}),
          onClosed: async () => {
            compaction.stop();
            await sources.close();
            (await kubeClient)?.close();
          },
        });
        if (!inWorker) process.stdout.write(`token-server listening on ${server.url}\n`);
        await server.closed;
        logger.flush();
        process.exitCode = 0;
      } catch (err) {
        void sources.close();
        program.error(`token-server: ${(err as Error).message}`);
      }
    });
}
