// `portcullis operator [--namespace NS] [--registry-namespaces NS,NS] [--retention-namespaces NS,NS] [--secret-namespaces NS,NS] [--leader-elect] [--lease-namespace NS] [--metrics-listen HOST:PORT]
// [--activity-url URL --activity-key-file FILE] [--retention-image IMAGE]
// [--retention-cluster-role NAME]`: runs the operator against the cluster in KUBECONFIG (or in-cluster). Controllers run only while this process holds the Lease. SIGTERM/SIGINT stop the
// controllers, release the Lease (so a peer takes over at once) and exit 0. The activity key is read
// once, at start: a new key takes a restart (the chart rolls the operator with it).

import type { Command } from 'commander';
import { parseBcryptCost } from '../../policy/password-hash.js';
import { parseListenAddress, parseLogLevel, parseNamespaceList, type ListenAddress } from '../flags.js';
import { heapCompaction } from '../heap-compaction.js';
import { watchGcPauses } from '../gc-pauses.js';
import { OperatorLogMessages } from '../../operator/log-messages.js';
import { readActivityKey } from '../../wire/activity-key.js';
import { parseActivityUrl } from '../../wire/notification-endpoint.js';
import type { ActivityWiring } from '../../operator/controllers/notifications.js';
import { pino } from 'pino';

interface OperatorFlags {
  namespace?: string;
  registryNamespaces?: string;
  retentionNamespaces?: string;
  secretNamespaces?: string;
  leaderElect: boolean;
  leaseNamespace?: string;
  leaseName: string;
  metricsListen?: string;
  logLevel: string;
  bcryptCost?: string;
  activityUrl?: string;
  activityKeyFile?: string;
  retentionImage?: string;
  retentionClusterRole?: string;
}

export function register(program: Command): void {
  program
    .command('operator')
    .description('reconcile Registry, RegistryUser and RepositoryGrant objects into snapshots and credentials')
    .option('--namespace <ns>', 'watch only this namespace (default: all namespaces)')
    .option(
      '--registry-namespaces <ns,ns>',
      'the namespaces that hold Registries (where the operator writes): its own ConfigMaps and Secrets are cached only there, and Registries elsewhere are refused (default: every namespace in scope)',
    )
    .option(
      '--retention-namespaces <ns,ns>',
      'the only namespaces where scheduled RetentionPolicies get a CronJob (and its ServiceAccount and RoleBinding); a scheduled policy elsewhere is refused (default: every namespace in scope)',
    )
    .option(
      '--secret-namespaces <ns,ns>',
      "the only namespaces, besides those where Registries are served, whose Secrets are read (RegistryUsers' password Secrets); a user elsewhere is refused (default: every namespace in scope)",
    )
    .option('--leader-elect', 'hold a Lease and run controllers only while holding it (default)', true)
    .option('--no-leader-elect', 'run controllers without leader election (one replica only)')
    .option('--lease-namespace <ns>', 'namespace of the Lease (default: the pod namespace, else "default")')
    .option('--lease-name <name>', 'name of the Lease', 'portcullis-operator')
    .option('--metrics-listen <host:port>', 'serve /metrics and /healthz on this address')
    .option('--log-level <level>', 'trace, debug, info, warn, error or fatal', 'info')
    .option('--bcrypt-cost <n>', 'bcrypt cost for plain passwords (default 10)')
    .option('--activity-url <url>', "the activity server's intake base URL: registries with a Deployment send it their events")
    .option('--activity-key-file <file>', 'the activity key (the Secret the activity server mounts); with --activity-url')
    .option('--retention-image <image>', 'the image of scheduled RetentionPolicy runs (default: the Portcullis image of this version)')
    .option('--retention-cluster-role <name>', 'the ClusterRole scheduled RetentionPolicy runs are bound to', 'portcullis-retention')
    .action(async (flags: OperatorFlags) => {
      let bcryptCost: number | undefined;
      let metricsListen: ListenAddress | undefined;
      let logLevel: string;
      let activity: ActivityWiring | undefined;
      let registryNamespaces: string[] | undefined;
      let retentionNamespaces: string[] | undefined;
      let secretNamespaces: string[] | undefined;
      try {
        registryNamespaces = flags.registryNamespaces === undefined ? undefined : parseNamespaceList(flags.registryNamespaces, '--registry-namespaces');
        retentionNamespaces = flags.retentionNamespaces === undefined ? undefined : parseNamespaceList(flags.retentionNamespaces, '--retention-namespaces');
        secretNamespaces = flags.secretNamespaces === undefined ? undefined : parseNamespaceList(flags.secretNamespaces, '--secret-namespaces');
        logLevel = parseLogLevel(flags.logLevel);
        if ((flags.activityUrl === undefined) !== (flags.activityKeyFile === undefined)) {
          throw new Error('--activity-url and --activity-key-file go together: give both or neither');
        }
        if (flags.activityUrl !== undefined && flags.activityKeyFile !== undefined) {
          activity = { url: parseActivityUrl(flags.activityUrl), key: await readActivityKey(flags.activityKeyFile) };
        }
        bcryptCost = flags.bcryptCost === undefined ? undefined : parseBcryptCost(flags.bcryptCost);
        metricsListen = flags.metricsListen === undefined ? undefined : parseListenAddress(flags.metricsListen, '--metrics-listen');
      } catch (error) {
        program.error((error as Error).message);
      }
      const log = pino({ name: 'portcullis-operator', level: logLevel });
      // The operator's large loads (the first lists and compile, a first start's status writes) have no
      // single end, so the process is looked at every 15 s; heap-compaction.ts pauses only after growth.
      const compaction = heapCompaction({ onCompacted: (figures) => log.info(figures, OperatorLogMessages.heapCompacted) });
      const compactionCheck = setInterval(() => compaction.afterLoad(), 15_000).unref();
      // At debug, collections pausing the process long enough to slow a reconcile, and the time they took
      // per second (bench:operator reads both).
      const stopGcWatch = log.isLevelEnabled('debug')
        ? watchGcPauses({
            minPauseMs: 50,
            onPause: (pause) => log.debug(pause, OperatorLogMessages.gcPause),
            onSecond: (second) => log.debug(second, OperatorLogMessages.gcTime),
          })
        : () => undefined;
      let operator;
      try {
        // Loaded when run, so other commands do not pay for the Kubernetes client.
        const { startOperator } = await import('../../operator/main.js');
        operator = await startOperator({
          log,
          leaderElect: flags.leaderElect,
          leaseName: flags.leaseName,
          ...(flags.namespace ? { namespace: flags.namespace } : {}),
          ...(registryNamespaces ? { registryNamespaces } : {}),
          ...(retentionNamespaces ? { retentionNamespaces } : {}),
          ...(secretNamespaces ? { secretNamespaces } : {}),
          ...(flags.leaseNamespace ? { leaseNamespace: flags.leaseNamespace } : {}),
          ...(metricsListen ? { metricsListen } : {}),
          ...(bcryptCost !== undefined ? { bcryptCost } : {}),
          ...(activity ? { activity } : {}),
          ...(flags.retentionImage ? { retentionImage: flags.retentionImage } : {}),
          ...(flags.retentionClusterRole ? { retentionClusterRole: flags.retentionClusterRole } : {}),
        });
      } catch (error) {
        program.error(`operator: ${(error as Error).message}`);
      }
      process.stdout.write(`operator started as ${operator.identity}\n`);
      // The operator's own timers are unref'd (a pending requeue must not delay shutdown), so while
      // the API server is unreachable nothing else holds the event loop: without this handle the
      // process would exit (status 13, unsettled top-level await) instead of waiting to reconnect.
      const keepAlive = setInterval(() => undefined, 1 << 30);
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          log.info({ signal }, 'shutting down');
          clearInterval(keepAlive);
          clearInterval(compactionCheck);
          compaction.stop();
          stopGcWatch();
          resolve();
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      await operator.stop();
      log.flush();
      process.exitCode = 0;
      // Sockets of the watch connections may linger; nothing is left to do.
      process.exit(0);
    });
}
