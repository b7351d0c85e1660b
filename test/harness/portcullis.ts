// Runs the built `portcullis` CLI (dist/, from `npm run build`) the way a user does.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run, startProcess, waitFor, type ManagedProcess } from '../../local/process.js';
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
