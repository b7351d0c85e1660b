// Runs the built `portcullis` CLI (dist/, from `npm run build`) the way a user does.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, startProcess, waitFor, type ManagedProcess } from '../../local/process.js';
import { startRegistry, type RegistryOptions, type RunningRegistry } from '../../local/registry.js';
import type { TestTLS } from '../../local/tls.js';
import { repoRoot } from '../../local/tools.js';

export const cliPath = join(repoRoot, 'dist', 'bin', 'portcullis.js');

function ensureBuilt(): void {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run 'npm run build' (npm test does it in pretest)`);
}

export function portcullis(
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  ensureBuilt();
  return run(process.execPath, [cliPath, ...args], { env: options.env ?? process.env, ...(options.input === undefined ? {} : { input: options.input }) });
}

export interface RunningTokenServer {
  /** e.g. https://localhost:PORT */
  url: string;
  port: number;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** Starts `portcullis token-server ARGS --listen 127.0.0.1:0` and waits for its listening line. */
export async function startTokenServer(args: string[], options: { tls?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<RunningTokenServer> {
  ensureBuilt();
  const proc = startProcess('token-server', process.execPath, [cliPath, 'token-server', '--listen', '127.0.0.1:0', ...args], {
    env: options.env ?? process.env,
  });
  let port = 0;
  await waitFor(
    'token-server listening line',
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`token-server exited with ${proc.child.exitCode}`);
      const m = /listening on (?:https?:\/\/)?[^\s:]+:(\d+)/.exec(proc.output());
      if (m) port = Number(m[1]);
      return port > 0;
    },
    20_000,
    () => proc.output(),
  );
  return {
    url: `${options.tls ? 'https://localhost' : 'http://127.0.0.1'}:${port}`,
    port,
    process: proc,
    stop: () => proc.stop(),
  };
}

export interface CompiledSetup {
  server: RunningTokenServer;
  registry: RunningRegistry;
  stop(): Promise<void>;
}

/**
 * The setup without a cluster, as the README's "Without a cluster" runs it: `compile` of the manifests in
 * `dir/policy.yaml`, `keys init`, a token server over HTTPS from those directories, and a Distribution
 * registry (v3 unless `registryOptions.flavor` says otherwise, notifying `registryOptions.notifications` if given)
 * trusting the keys' bundle for `service`.
 */
export async function startCompiledSetup(
  dir: string,
  manifests: string,
  service: string,
  tls: TestTLS,
  registryOptions: Partial<Pick<RegistryOptions, 'flavor' | 'notifications'>> = {},
): Promise<CompiledSetup> {
  await writeFile(join(dir, 'policy.yaml'), manifests);
  const compiled = await portcullis(['compile', '-f', join(dir, 'policy.yaml'), '-o', join(dir, 'snapshot')]);
  if (compiled.code !== 0) throw new Error(`portcullis compile failed: ${compiled.stderr}${compiled.stdout}`);
  const keys = await portcullis(['keys', 'init', '--dir', join(dir, 'keys')]);
  if (keys.code !== 0) throw new Error(`portcullis keys init failed: ${keys.stderr}`);
  const server = await startTokenServer(
    ['--policy-dir', join(dir, 'snapshot'), '--keys-dir', join(dir, 'keys'), '--tls-cert', tls.serverCertPath, '--tls-key', tls.serverKeyPath],
    { tls: true },
  );
  try {
    const registry = await startRegistry({
      flavor: 'v3',
      ...registryOptions,
      tls: { cert: tls.serverCertPath, key: tls.serverKeyPath },
      auth: { realm: `${server.url}/token`, service, issuer: 'portcullis', rootCertBundle: join(dir, 'keys', 'bundle.pem') },
    });
    return {
      server,
      registry,
      stop: async () => {
        await registry.stop();
        await server.stop();
      },
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
