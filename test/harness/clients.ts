// Real registry clients with explicit credentials: crane (go-containerregistry), skopeo
// (containers/image), oras (oras-go) and regctl (regclient). Each call gets its own credential store,
// so tests never share a login, and returns exit code and output so tests can assert on refusals.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../local/process.js';
import type { TestTLS } from '../../local/tls.js';
import { toolPath } from '../../local/tools.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface ClientResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ClientContext {
  /** TLS trust for registry and token server; absent for plain-http registries. */
  tls?: TestTLS;
  /** Omit for anonymous access. */
  auth?: Credentials;
}

/**
 * The registry's own refusal in what a client printed, or undefined when it failed some other way (a TLS
 * error, a crash, a timeout) or did not fail. A push outside the grant is UNAUTHORIZED for crane
 * (Distribution answers 401 insufficient_scope when the token lacks the action) and "denied" for
 * skopeo; a pull without access likewise.
 */
export function registryRefusal(r: ClientResult): 'UNAUTHORIZED' | 'DENIED' | undefined {
  if (r.code === 0) return undefined;
  const text = `${r.stdout}\n${r.stderr}`;
  if (/\bDENIED\b|requested access to the resource is denied|: denied/i.test(text)) return 'DENIED';
  if (/\bUNAUTHORIZED\b|unauthorized: authentication required|invalid username\/password|authentication failed/i.test(text)) return 'UNAUTHORIZED';
  return undefined;
}

/** Runs `work` with a fresh directory of its own, removed afterwards (a client's config and credentials). */
async function inTempDir<T>(prefix: string, work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `portcullis-${prefix}-`));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes a DOCKER_CONFIG into `dir` holding `auth` for `host` (or nothing: anonymous). */
async function writeDockerConfig(dir: string, host: string, auth?: Credentials): Promise<void> {
  const auths = auth ? { [host]: { auth: Buffer.from(`${auth.username}:${auth.password}`).toString('base64') } } : {};
  await writeFile(join(dir, 'config.json'), JSON.stringify({ auths }), { mode: 0o600 });
}

function hostOf(ref: string): string {
  return ref.split('/')[0]!;
}

/** Runs crane with its own DOCKER_CONFIG; `--insecure` for plain-http registries. */
export async function crane(args: string[], ref: string, ctx: ClientContext = {}): Promise<ClientResult> {
  return inTempDir('client', async (config) => {
    await writeDockerConfig(config, hostOf(ref), ctx.auth);
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: config, ...(ctx.tls?.env ?? {}) };
    const insecure = ctx.tls ? [] : ['--insecure'];
    return run(toolPath('crane'), [...args, ...insecure], { env, timeoutMs: 60_000 });
  });
}

export function cranePush(layoutDir: string, ref: string, ctx: ClientContext = {}): Promise<ClientResult> {
  return crane(['push', layoutDir, ref], ref, ctx);
}

/** The manifest digest of `ref` as the registry reports it. */
export function craneDigest(ref: string, ctx: ClientContext = {}): Promise<ClientResult> {
  return crane(['digest', ref], ref, ctx);
}

/** Pulls `ref` into an OCI layout directory (fetches manifest and every blob). */
export function cranePull(ref: string, destDir: string, ctx: ClientContext = {}): Promise<ClientResult> {
  return crane(['pull', '--format=oci', ref, destDir], ref, ctx);
}

export function craneDelete(refWithDigest: string, ctx: ClientContext = {}): Promise<ClientResult> {
  return crane(['delete', refWithDigest], refWithDigest, ctx);
}

export function craneCatalog(host: string, ctx: ClientContext = {}): Promise<ClientResult> {
  return crane(['catalog', host], host, ctx);
}

function skopeoTls(prefix: '' | 'src-' | 'dest-', ctx: ClientContext): string[] {
  return ctx.tls ? [`--${prefix}cert-dir=${ctx.tls.certDir}`] : [`--${prefix}tls-verify=false`];
}

function skopeoCreds(prefix: '' | 'src-' | 'dest-', ctx: ClientContext): string[] {
  return ctx.auth ? [`--${prefix}creds=${ctx.auth.username}:${ctx.auth.password}`] : [`--${prefix}no-creds`];
}

async function skopeo(args: string[]): Promise<ClientResult> {
  // An empty auth file keeps skopeo from reading a login left by anything else on the machine.
  return inTempDir('skopeo', async (dir) => {
    await writeFile(join(dir, 'auth.json'), '{}');
    return run('skopeo', args, { env: { ...process.env, REGISTRY_AUTH_FILE: join(dir, 'auth.json') }, timeoutMs: 60_000 });
  });
}

export function skopeoPush(layoutDir: string, ref: string, ctx: ClientContext = {}): Promise<ClientResult> {
  return skopeo(['copy', ...skopeoTls('dest-', ctx), ...skopeoCreds('dest-', ctx), `oci:${layoutDir}:latest`, `docker://${ref}`]);
}

export function skopeoPull(ref: string, layoutDir: string, ctx: ClientContext = {}): Promise<ClientResult> {
  return skopeo(['copy', ...skopeoTls('src-', ctx), ...skopeoCreds('src-', ctx), `docker://${ref}`, `oci:${layoutDir}:latest`]);
}

/** `skopeo inspect --raw` output is the manifest bytes; its digest identifies what was pulled. */
export function skopeoInspectRaw(ref: string, ctx: ClientContext = {}): Promise<ClientResult> {
  return skopeo(['inspect', '--raw', ...skopeoTls('', ctx), ...skopeoCreds('', ctx), `docker://${ref}`]);
}

export function skopeoDelete(ref: string, ctx: ClientContext = {}): Promise<ClientResult> {
  return skopeo(['delete', ...skopeoTls('', ctx), ...skopeoCreds('', ctx), `docker://${ref}`]);
}

export function skopeoLogin(host: string, ctx: ClientContext & { auth: Credentials }): Promise<ClientResult> {
  return skopeo(['login', ...skopeoTls('', ctx), '-u', ctx.auth.username, '-p', ctx.auth.password, host]);
}

/** What a client did: login, push an OCI layout, pull one back, tell a manifest's digest. */
export interface MatrixClient {
  name: string;
  /** Undefined for clients whose login does not ask the registry (crane writes its config only). */
  login?: (host: string, ctx: ClientContext & { auth: Credentials }) => Promise<ClientResult>;
  push(layoutDir: string, ref: string, ctx: ClientContext): Promise<ClientResult>;
  pull(ref: string, layoutDir: string, ctx: ClientContext): Promise<ClientResult>;
  digest(ref: string, ctx: ClientContext): Promise<ClientResult>;
}

/** oras with a home and registry config of its own; credentials on the command line, as CI scripts pass them. */
function oras(args: (home: string) => string[]): Promise<ClientResult> {
  return inTempDir('oras', (home) => run(toolPath('oras'), args(home), { env: { ...process.env, HOME: home, DOCKER_CONFIG: home }, timeoutMs: 60_000 }));
}

function orasRemote(side: '' | 'from-' | 'to-', ctx: ClientContext, config: string): string[] {
  return [
    // oras speaks plain HTTP to `localhost` unless told otherwise, explicitly.
    ...(ctx.tls ? [`--${side}ca-file`, ctx.tls.caCertPath, `--${side}plain-http=false`] : [`--${side}plain-http`]),
    `--${side}registry-config`,
    config,
    ...(ctx.auth ? [`--${side}username`, ctx.auth.username, `--${side}password`, ctx.auth.password] : []),
  ];
}

export const orasClient: MatrixClient = {
  name: 'oras',
  login: (host, ctx) => oras((home) => ['login', host, ...orasRemote('', ctx, join(home, 'config.json'))]),
  push: (layoutDir, ref, ctx) => oras((home) => ['cp', '--from-oci-layout', `${layoutDir}:latest`, ref, ...orasRemote('to-', ctx, join(home, 'config.json'))]),
  pull: (ref, layoutDir, ctx) => oras((home) => ['cp', ref, '--to-oci-layout', `${layoutDir}:latest`, ...orasRemote('from-', ctx, join(home, 'config.json'))]),
  digest: (ref, ctx) => oras((home) => ['resolve', ref, ...orasRemote('', ctx, join(home, 'config.json'))]),
};

/**
 * regctl with a configuration of its own (REGCTL_CONFIG): the CA set for the host, then a login when
 * credentials are given, then the command, all in one fresh configuration.
 */
function regctl(host: string, ctx: ClientContext, args: string[]): Promise<ClientResult> {
  return inTempDir('regctl', async (home) => {
    const env = { ...process.env, HOME: home, DOCKER_CONFIG: home, REGCTL_CONFIG: join(home, 'config.json') };
    const bin = toolPath('regctl');
    const tlsArgs = ctx.tls ? ['--cacert', await readFile(ctx.tls.caCertPath, 'utf8')] : ['--tls', 'disabled'];
    const set = await run(bin, ['registry', 'set', host, ...tlsArgs], { env, timeoutMs: 30_000 });
    if (set.code !== 0) return set;
    if (ctx.auth) {
      const login = await run(bin, ['registry', 'login', host, '-u', ctx.auth.username, '-p', ctx.auth.password], { env, timeoutMs: 30_000 });
      if (login.code !== 0 || args.length === 0) return login;
    }
    return run(bin, args, { env, timeoutMs: 60_000 });
  });
}

export const regctlClient: MatrixClient = {
  name: 'regctl',
  login: (host, ctx) => regctl(host, ctx, []),
  push: (layoutDir, ref, ctx) => regctl(hostOf(ref), ctx, ['image', 'copy', `ocidir://${layoutDir}:latest`, ref]),
  pull: (ref, layoutDir, ctx) => regctl(hostOf(ref), ctx, ['image', 'copy', ref, `ocidir://${layoutDir}:latest`]),
  digest: (ref, ctx) => regctl(hostOf(ref), ctx, ['image', 'digest', ref]),
};

export const craneClient: MatrixClient = {
  name: 'crane',
  push: cranePush,
  pull: cranePull,
  digest: craneDigest,
};

export const skopeoClient: MatrixClient = {
  name: 'skopeo',
  login: skopeoLogin,
  push: skopeoPush,
  pull: skopeoPull,
  digest: async (ref, ctx) => {
    const raw = await skopeoInspectRaw(ref, ctx);
    return raw.code === 0 ? { ...raw, stdout: `sha256:${createHash('sha256').update(raw.stdout).digest('hex')}\n` } : raw;
  },
};
