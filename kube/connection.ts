// The connection to the API server for long-running components (operator, token server), without
// client-node: importing @kubernetes/client-node costs ~66 MB of RSS (measured: a bare node 40 MB, with
// the import 106 MB), more than the token server's whole data at 10,000 users. The common cases are read
// here: a kubeconfig whose user has a client certificate, a token (or token file) or a basic password,
// and the in-cluster ServiceAccount. Anything else (exec plugins, auth providers, proxies, several
// KUBECONFIG files to merge) is handed to client-node, imported only then.

import { readFileSync, existsSync } from 'node:fs';
import type https from 'node:https';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

/** What KubeClient needs of a kubeconfig; client-node's KubeConfig has the same two methods. */
export interface KubeConnection {
  getCurrentCluster(): { server: string } | null;
  /** Sets TLS material and credentials on `opts`; called before every request (tokens rotate). */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** A token file is read again after this long: projected ServiceAccount tokens rotate hourly. */
const TOKEN_REREAD_MS = 60_000;

interface NamedEntry<T> {
  name?: string;
  cluster?: T;
  user?: T;
  context?: T;
}

interface ClusterEntry {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'tls-server-name'?: string;
  'proxy-url'?: string;
}

interface UserEntry {
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
  exec?: unknown;
  'auth-provider'?: unknown;
}

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: NamedEntry<{ cluster?: string; user?: string }>[];
  clusters?: NamedEntry<ClusterEntry>[];
  users?: NamedEntry<UserEntry>[];
}

/** TLS material, fixed for the process, and where the credentials come from. */
interface Settings {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecure?: boolean;
  servername?: string;
  token?: string;
  tokenFile?: string;
  basic?: string;
}

class StaticConnection implements KubeConnection {
  private tokenRead: { token: string; at: number } | undefined;

  constructor(
    private readonly settings: Settings,
    private readonly clock: () => number = Date.now,
  ) {}

  getCurrentCluster(): { server: string } {
    return { server: this.settings.server };
  }

  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const s = this.settings;
    if (s.ca) opts.ca = s.ca;
    if (s.cert) opts.cert = s.cert;
    if (s.key) opts.key = s.key;
    if (s.insecure) opts.rejectUnauthorized = false;
    if (s.servername) opts.servername = s.servername;
    const token = s.token ?? this.fileToken();
    if (token) opts.headers = { ...opts.headers, Authorization: `Bearer ${token}` };
    if (s.basic) opts.auth = s.basic;
    return Promise.resolve();
  }

  private fileToken(): string | undefined {
    const file = this.settings.tokenFile;
    if (!file) return undefined;
    const now = this.clock();
    if (!this.tokenRead || now - this.tokenRead.at >= TOKEN_REREAD_MS) this.tokenRead = { token: readFileSync(file, 'utf8').trim(), at: now };
    return this.tokenRead.token;
  }
}

/** The settings of `path`'s current context, or undefined when they need client-node. */
export function kubeconfigSettings(path: string): Settings | undefined {
  const config = (parse(readFileSync(path, 'utf8')) ?? {}) as KubeconfigFile;
  const named = <T>(list: NamedEntry<T>[] | undefined, name: string | undefined, field: 'cluster' | 'user' | 'context'): T | undefined =>
    list?.find((e) => e.name === name)?.[field];
  const context = named(config.contexts, config['current-context'], 'context');
  const cluster = named(config.clusters, context?.cluster, 'cluster');
  // Left to client-node, which says what is wrong with it in its own words.
  if (!context || !cluster?.server) return undefined;
  const user = named(config.users, context.user, 'user') ?? {};
  if (user.exec !== undefined || user['auth-provider'] !== undefined || cluster['proxy-url'] !== undefined) return undefined;
  // Relative paths in a kubeconfig are relative to the file.
  const file = (p: string): Buffer => readFileSync(isAbsolute(p) ? p : join(dirname(path), p));
  const material = (data: string | undefined, p: string | undefined): Buffer | undefined =>
    data !== undefined ? Buffer.from(data, 'base64') : p !== undefined ? file(p) : undefined;
  const ca = material(cluster['certificate-authority-data'], cluster['certificate-authority']);
  const cert = material(user['client-certificate-data'], user['client-certificate']);
  const key = material(user['client-key-data'], user['client-key']);
  return {
    server: cluster.server,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(cluster['insecure-skip-tls-verify'] ? { insecure: true } : {}),
    ...(cluster['tls-server-name'] ? { servername: cluster['tls-server-name'] } : {}),
    ...(user.token ? { token: user.token } : {}),
    ...(user.tokenFile ? { tokenFile: isAbsolute(user.tokenFile) ? user.tokenFile : join(dirname(path), user.tokenFile) } : {}),
    ...(user.username !== undefined && user.password !== undefined ? { basic: `${user.username}:${user.password}` } : {}),
  };
}

/** The in-cluster ServiceAccount's settings, or undefined outside a cluster. */
export function inClusterSettings(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): Settings | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port || !existsSync(join(dir, 'token'))) return undefined;
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(join(dir, 'ca.crt')),
    tokenFile: join(dir, 'token'),
  };
}

/**
 * KUBECONFIG (one file), else ~/.kube/config, else the in-cluster ServiceAccount, the order client-node's
 * loadFromDefault follows; client-node itself for whatever this file does not read.
 */
export async function loadConnection(env: NodeJS.ProcessEnv = process.env, serviceAccountDir = SERVICE_ACCOUNT_DIR): Promise<KubeConnection> {
  const fromEnv = env.KUBECONFIG?.split(':').filter(Boolean) ?? [];
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  const path = fromEnv.length > 0 ? fromEnv : existsSync(home) ? [home] : [];
  let settings: Settings | undefined;
  if (path.length === 1) settings = kubeconfigSettings(path[0]!);
  else if (path.length === 0) settings = inClusterSettings(env, serviceAccountDir);
  if (settings) return new StaticConnection(settings);
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  // Several files to merge: client-node reads KUBECONFIG itself (process.env, which `env` defaults to).
  if (path.length === 1) kc.loadFromFile(path[0]!);
  else kc.loadFromDefault();
  return kc;
}

/** For tests: a connection from settings, with a clock for the token file's re-read. */
export function connectionFrom(settings: Settings, clock?: () => number): KubeConnection {
  return new StaticConnection(settings, clock);
}
