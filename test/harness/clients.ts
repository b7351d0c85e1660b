// Real registry clients with explicit credentials: crane (go-containerregistry) and skopeo
// (containers/image). Each call gets its own credential store, so tests never share a login,
// and returns exit code and output so tests can assert on denials.
import { mkdtemp, writeFile } from 'node:fs/promises';
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

/** A fresh DOCKER_CONFIG directory holding `auth` for `host` (or nothing: anonymous). */
async function dockerConfig(host: string, auth?: Credentials): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-client-'));
  const auths = auth ? { [host]: { auth: Buffer.from(`${auth.username}:${auth.password}`).toString('base64') } } : {};
  await writeFile(join(dir, 'config.json'), JSON.stringify({ auths }), { mode: 0o600 });
  return dir;
}

function hostOf(ref: string): string {
  return ref.split('/')[0]!;
}

/** Runs crane with its own DOCKER_CONFIG; `--insecure` for plain-http registries. */
export async function crane(args: string[], ref: string, ctx: ClientContext = {}): Promise<ClientResult> {
  const config = await dockerConfig(hostOf(ref), ctx.auth);
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: config, ...(ctx.tls?.env ?? {}) };
  const insecure = ctx.tls ? [] : ['--insecure'];
  return run(toolPath('crane'), [...args, ...insecure], { env, timeoutMs: 60_000 });
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
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-skopeo-'));
  await writeFile(join(dir, 'auth.json'), '{}');
  return run('skopeo', args, { env: { ...process.env, REGISTRY_AUTH_FILE: join(dir, 'auth.json') }, timeoutMs: 60_000 });
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
