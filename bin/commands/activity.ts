// `portcullis activity --database URL --activity-key-file FILE --events-listen HOST:PORT [--retain 90d]
// [--retain-rows N]`: the activity server. Takes each Registry's Distribution notifications on
// POST /events/{namespace}/{name} (plain HTTP, inside the cluster; the token is derived from the
// activity key), keeps the manifest events in SQLite or PostgreSQL, and removes old ones at start and
// hourly. With --listen (and --tls-cert/--tls-key) it also serves the aggregated API activity.portcullis.dev
// over TLS (activity/apiserver/), reading Registries and Namespaces and asking SubjectAccessReviews with
// its kubeconfig (KUBECONFIG or in-cluster). Prints `activity events listening on URL` (and `activity api
// listening on URL`) when ready; SIGTERM finishes the requests in flight,
// writes what is queued and exits 0. When a kubeconfig is at hand (KUBECONFIG, ~/.kube/config or the
// in-cluster ServiceAccount) it also delivers RegistryWebhooks (activity/webhooks/); --no-webhooks turns
// that off.

import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseDuration } from '../../policy/duration.js';
import { readActivityKey } from '../../wire/activity-key.js';
import type { ActivityConfig, ServerStarter } from '../../activity/main.js';
import { parseListenAddress, parseLogLevel } from '../flags.js';

interface ActivityFlags {
  database: string;
  activityKeyFile: string;
  eventsListen: string;
  retain: string;
  retainRows?: string;
  logLevel: string;
  listen?: string;
  tlsCert?: string;
  tlsKey?: string;
  webhooks: boolean;
  webhookAllowLinkLocal?: boolean;
  webhookLease?: string;
}

/** Where a kubeconfig could come from; `exists` is for tests. */
export function kubeConfigAvailable(env: NodeJS.ProcessEnv, exists: (path: string) => boolean = existsSync): boolean {
  if (env.KUBECONFIG !== undefined && env.KUBECONFIG !== '') return true;
  if (exists(join(homedir(), '.kube', 'config'))) return true;
  return env.KUBERNETES_SERVICE_HOST !== undefined && exists('/var/run/secrets/kubernetes.io/serviceaccount/token');
}

export interface ApiListener {
  host: string;
  port: number;
  tls: { certFile: string; keyFile: string };
}

/** The aggregated API's listener: only with --listen, which needs --tls-cert and --tls-key (the kube-apiserver speaks only TLS to it). */
export function parseApiListener(flags: Pick<ActivityFlags, 'listen' | 'tlsCert' | 'tlsKey'>): ApiListener | undefined {
  if (flags.listen === undefined) {
    if (flags.tlsCert !== undefined || flags.tlsKey !== undefined) throw new Error('--tls-cert and --tls-key are for the API listener: give --listen too');
    return undefined;
  }
  if (flags.tlsCert === undefined || flags.tlsKey === undefined)
    throw new Error('--listen serves the aggregated API over TLS only: give --tls-cert and --tls-key');
  return { ...parseListenAddress(flags.listen), tls: { certFile: flags.tlsCert, keyFile: flags.tlsKey } };
}

/**
 * `--retain`: a Go-style duration (policy/duration.ts), or whole days (`90d`), which retention is
 * usually counted in and Go durations lack; `0` keeps events forever. Returns milliseconds or undefined.
 */
export function parseRetention(value: string): number | undefined {
  const days = /^(\d{1,5})d$/.exec(value);
  const seconds = days ? Number(days[1]) * 86_400 : parseDuration(value);
  return seconds === 0 ? undefined : seconds * 1000;
}

/** `--retain-rows`: a positive whole number. */
export function parseRetainRows(value: string): number {
  const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--retain-rows must be a positive whole number, not ${JSON.stringify(value)}`);
  return n;
}

/** The aggregated API as one more listener of the activity process, on its store and logger. */
function apiServer(listener: ApiListener): ServerStarter {
  return async (ctx) => {
    // Loaded only with --listen: client-node's config module is large and the intake alone needs no cluster.
    const [{ startActivityApi }, { loadKubeConfig }] = await Promise.all([import('../../activity/apiserver/server.js'), import('../../kube/config.js')]);
    return startActivityApi({ ...listener, kubeConfig: await loadKubeConfig(), store: ctx.store, logger: ctx.logger });
  };
}

export function register(program: Command): void {
  program
    .command('activity')
    .description('take registry notifications and keep an audit trail of pushes, pulls and deletes (SQLite or PostgreSQL)')
    // From the environment too, so a PostgreSQL password stays out of the process's arguments.
    .addOption(
      new Option('--database <url>', 'event store: sqlite:/absolute/path.db or postgres://user:password@host:port/database')
        .env('PORTCULLIS_ACTIVITY_DATABASE')
        .makeOptionMandatory(),
    )
    .requiredOption('--activity-key-file <file>', 'the activity key (each Registry notification token is derived from it)')
    .option('--events-listen <host:port>', 'address of the notification intake (plain HTTP; also /healthz and /metrics)', '0.0.0.0:8080')
    .option('--retain <duration>', 'remove events older than this (e.g. 90d, 720h; 0 keeps them)', '90d')
    .option('--retain-rows <n>', 'keep at most this many events (the oldest go first)')
    .option('--log-level <level>', 'trace, debug, info, warn, error or fatal', 'info')
    .option('--listen <host:port>', 'address of the aggregated API activity.portcullis.dev (HTTPS; needs --tls-cert and --tls-key)')
    .option('--tls-cert <file>', "the API listener's certificate (PEM; valid for the APIService's Service name; reloaded when it changes)")
    .option('--tls-key <file>', 'private key for --tls-cert (PEM)')
    .option('--no-webhooks', 'do not deliver RegistryWebhooks (on by default when a kubeconfig or the in-cluster ServiceAccount is available)')
    .option('--webhook-allow-link-local', 'let webhooks reach link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10); refused by default')
    .option('--webhook-lease <namespace/name>', 'deliver webhooks only while holding this Lease (several replicas on one PostgreSQL store; the chart sets it)')
    .action(async (flags: ActivityFlags) => {
      let events: { host: string; port: number };
      let logLevel: string;
      let maxAgeMs: number | undefined;
      let maxRows: number | undefined;
      let activityKey: Buffer;
      let api: ApiListener | undefined;
      let lease: { namespace: string; name: string } | undefined;
      try {
        lease = flags.webhookLease === undefined ? undefined : parseLeaseName(flags.webhookLease);
        api = parseApiListener(flags);
        events = parseListenAddress(flags.eventsListen, '--events-listen');
        logLevel = parseLogLevel(flags.logLevel);
        maxAgeMs = parseRetention(flags.retain);
        maxRows = flags.retainRows === undefined ? undefined : parseRetainRows(flags.retainRows);
        activityKey = await readActivityKey(flags.activityKeyFile);
      } catch (err) {
        program.error((err as Error).message);
      }
      // Loaded only here: the stores bring native SQLite and the PostgreSQL client, which the other
      // commands (the kubelet's credential provider among them) should not load.
      const [{ startActivity }, { createLogger }] = await Promise.all([import('../../activity/main.js'), import('../../activity/logger.js')]);
      const logger = createLogger(logLevel);
      let webhooks: ActivityConfig['webhooks'];
      if (flags.webhooks && kubeConfigAvailable(process.env)) {
        const [{ loadKubeConfig }, { KubeClient }] = await Promise.all([import('../../kube/config.js'), import('../../kube/request.js')]);
        webhooks = {
          client: new KubeClient(await loadKubeConfig()),
          allowLinkLocal: flags.webhookAllowLinkLocal === true,
          ...(lease === undefined ? {} : { lease }),
        };
      } else if (flags.webhooks) {
        logger.info('no kubeconfig or in-cluster ServiceAccount: RegistryWebhooks are not delivered');
      }
      let running;
      try {
        running = await startActivity({
          databaseUrl: flags.database,
          storeThread: true,
          activityKey,
          events,
          retention: { ...(maxAgeMs === undefined ? {} : { maxAgeMs }), ...(maxRows === undefined ? {} : { maxRows }) },
          logger,
          ...(api === undefined ? {} : { servers: [apiServer(api)] }),
          ...(webhooks === undefined ? {} : { webhooks }),
        });
      } catch (err) {
        // openEventStore's and listen's errors never carry the database password.
        program.error(`activity: ${(err as Error).message}`);
      }
      process.stdout.write(`activity events listening on ${running.eventsUrl}\n`);
      const apiUrl = running.servers.find((server) => server.name === 'api')?.url;
      if (apiUrl !== undefined) process.stdout.write(`activity api listening on ${apiUrl}\n`);
      try {
        await running.closed;
        process.exitCode = 0;
      } catch (err) {
        logger.error({ reason: (err as Error).message }, 'activity did not stop cleanly');
        process.exitCode = 1;
      }
      webhooks?.client.close();
      logger.flush();
    });
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** `namespace/name` of the webhook Lease, refused with the flag's name when it cannot be one. */
export function parseLeaseName(value: string): { namespace: string; name: string } {
  const [namespace, name, ...rest] = value.split('/');
  if (namespace === undefined || name === undefined || rest.length > 0 || !DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(name)) {
    throw new Error(`--webhook-lease must be namespace/name (a Lease's), not ${JSON.stringify(value)}`);
  }
  return { namespace, name };
}
