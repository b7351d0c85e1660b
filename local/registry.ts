// A real Distribution registry process for tests: Debian's 2.8 (`docker-registry`) or v3 built from
// its Go module, configured from options, on a free loopback port, restartable with new settings
// (the way a Deployment rollout replaces a pod that trusts a new certificate bundle). Storage is a
// temp directory, or an S3 bucket (local/s3.ts runs SeaweedFS for that).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, startProcess, waitFor, type ManagedProcess } from './process.js';
import { registry28Path, toolPath } from './tools.js';
import { IGNORED_MEDIA_TYPES } from '../wire/notification-endpoint.js';

export type RegistryFlavor = '2.8' | 'v3';

export interface RegistryAuthOptions {
  realm: string;
  service: string;
  issuer: string;
  /** PEM file of the CA certificate(s) trusted for token signatures. */
  rootCertBundle: string;
  /** v3 only: a JWKS file of trusted keys (alternative or addition to the bundle). */
  jwks?: string;
}

export interface RegistryOptions {
  flavor: RegistryFlavor;
  auth?: RegistryAuthOptions;
  tls?: { cert: string; key: string };
  /** Default true: tests exercise the `delete` action. */
  deleteEnabled?: boolean;
  /** Storage directory; default a temp dir removed on stop. Kept across restarts. */
  storageDir?: string;
  /** Report pushes, pulls and deletes to `url` (`portcullis activity`'s intake), with this bearer token. */
  notifications?: RegistryNotifications;
  /** More environment for the process: Distribution's REGISTRY_* overrides, as a pod's env sets them. */
  env?: Record<string, string>;
  /** Store in this S3 bucket instead of the filesystem. */
  s3?: RegistryS3Storage;
}

/** Distribution's `s3` driver settings (the same names on 2.8 and v3). */
export interface RegistryS3Storage {
  /** http://HOST:PORT of an S3-compatible server (http: secure false). */
  endpoint: string;
  bucket: string;
  region: string;
  accessKey: string;
  secretKey: string;
  rootDirectory?: string;
}

export interface RegistryNotifications {
  url: string;
  token: string;
}

export interface RunningRegistry {
  /** https://localhost:PORT with TLS, else http://127.0.0.1:PORT */
  url: string;
  /** localhost:PORT (TLS) or 127.0.0.1:PORT: the registry part of image references. */
  host: string;
  port: number;
  options: RegistryOptions;
  /** Stops the process and starts a new one on the same port and storage, with changed options. */
  restart(change?: Partial<RegistryOptions>): Promise<void>;
  /** How many processes have been started (1 + restarts). */
  starts(): number;
  logs(): string;
  stop(): Promise<void>;
}

function configFor(options: RegistryOptions, port: number, storageDir: string): Record<string, unknown> {
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: {
      ...(options.s3 ? { s3: s3DriverFor(options.s3) } : { filesystem: { rootdirectory: storageDir } }),
      delete: { enabled: options.deleteEnabled ?? true },
      cache: { blobdescriptor: 'inmemory' },
    },
    http: {
      addr: `127.0.0.1:${port}`,
      secret: 'portcullis-test-only',
      ...(options.tls ? { tls: { certificate: options.tls.cert, key: options.tls.key } } : {}),
    },
  };
  if (options.notifications) config.notifications = notificationsFor(options.notifications);
  if (options.auth) {
    config.auth = {
      token: {
        realm: options.auth.realm,
        service: options.auth.service,
        issuer: options.auth.issuer,
        rootcertbundle: options.auth.rootCertBundle,
        ...(options.auth.jwks ? { jwks: options.auth.jwks } : {}),
      },
    };
  }
  return config;
}

function s3DriverFor(s3: RegistryS3Storage): Record<string, unknown> {
  return {
    regionendpoint: s3.endpoint,
    bucket: s3.bucket,
    region: s3.region,
    accesskey: s3.accessKey,
    secretkey: s3.secretKey,
    forcepathstyle: true,
    secure: !s3.endpoint.startsWith('http://'),
    ...(s3.rootDirectory ? { rootdirectory: s3.rootDirectory } : {}),
  };
}

/**
 * Distribution's `notifications` section: one endpoint, 1 s timeout, the circuit breaker opening after 5
 * failures for 1 s (Distribution retries every envelope until it is accepted, so a restart of the
 * receiver loses nothing the registry still holds in memory). Blob events are dropped at the source as
 * the operator's endpoint does (2.8.2 and v3 both honour `ignore`).
 */
function notificationsFor(n: RegistryNotifications): Record<string, unknown> {
  return {
    endpoints: [
      {
        name: 'portcullis-activity',
        url: n.url,
        headers: { Authorization: [`Bearer ${n.token}`] },
        timeout: '1s',
        threshold: 5,
        backoff: '1s',
        ignore: { mediatypes: [...IGNORED_MEDIA_TYPES] },
      },
    ],
  };
}

export async function startRegistry(initial: RegistryOptions): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-registry-'));
  const storageDir = initial.storageDir ?? join(dir, 'storage');
  await mkdir(storageDir, { recursive: true });
  const port = await freePort();
  let options = initial;
  let proc: ManagedProcess | undefined;
  let count = 0;
  const tls = (): boolean => options.tls !== undefined;
  const url = (): string => (tls() ? `https://localhost:${port}` : `http://127.0.0.1:${port}`);
  const host = (): string => (tls() ? `localhost:${port}` : `127.0.0.1:${port}`);

  const launch = async (): Promise<void> => {
    count += 1;
    const configPath = join(dir, `config-${count}.yml`);
    await writeFile(configPath, stringify(configFor(options, port, storageDir)));
    const binary = options.flavor === '2.8' ? registry28Path : toolPath('registry-v3');
    const p = startProcess(`registry-${options.flavor}`, binary, ['serve', configPath], {
      // v3 reads OTEL settings from the environment; keep it from trying to export traces.
      env: { ...inheritedEnv(), OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_SDK_DISABLED: 'true', ...options.env },
    });
    proc = p;
    await waitFor(
      `registry ${options.flavor} on ${url()}`,
      async () => {
        if (p.child.exitCode !== null) throw new Error(`registry exited with ${p.child.exitCode}`);
        // Readiness: the API root answers (401 with token auth, 200 without).
        const status = await probe(`${url()}/v2/`, options.tls?.cert);
        return status === 200 || status === 401;
      },
      30_000,
      () => p.output(),
    );
  };

  await launch();
  return {
    get url() {
      return url();
    },
    get host() {
      return host();
    },
    port,
    get options() {
      return options;
    },
    async restart(change = {}) {
      await proc?.stop();
      options = { ...options, ...change };
      await launch();
    },
    starts: () => count,
    logs: () => proc?.output() ?? '',
    async stop() {
      await proc?.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The test process's environment less AWS_CA_BUNDLE: 2.8's AWS SDK panics at start when it is set and
 * the storage is S3, from the config file or from REGISTRY_STORAGE=s3 ("unable to load custom CA bundle,
 * HTTPClient's transport unsupported type"). No test registry talks to AWS itself.
 */
function inheritedEnv(): NodeJS.ProcessEnv {
  const { AWS_CA_BUNDLE: _dropped, ...rest } = process.env;
  return rest;
}

/** Status code of a GET, trusting nothing but reachability (the probe only needs the status). */
async function probe(target: string, _cert?: string): Promise<number> {
  const { request } = target.startsWith('https:') ? await import('node:https') : await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(target, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
