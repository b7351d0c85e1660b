// `portcullis activity` as a process, from dist/ the way a user runs it: on a port chosen once, so it can
// be stopped (SIGTERM) and started again where the registries keep posting.
import { freePort, startProcess, waitFor, type ManagedProcess } from '../../local/process.js';
import { cliPath } from './portcullis.js';

export interface ActivityProcessOptions {
  /** sqlite:/abs/path.db or a postgres:// URL. */
  database: string;
  activityKeyFile: string;
  extraArgs?: string[];
}

export interface RunningActivityProcess {
  /** http://127.0.0.1:PORT, the same across restarts. */
  url: string;
  /** The current process. */
  process(): ManagedProcess;
  /** Everything every process printed so far. */
  output(): string;
  /** SIGTERM; resolves with the exit code (null when a signal ended it). */
  stop(): Promise<number | null>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

export async function startActivityProcess(options: ActivityProcessOptions): Promise<RunningActivityProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let current: ManagedProcess | undefined;
  let earlier = '';
  const start = async (): Promise<void> => {
    if (current !== undefined) earlier += current.output();
    // A PostgreSQL URL (with its password) goes through the environment, as the chart passes it; SQLite by flag.
    const viaEnv = options.database.startsWith('postgres');
    const database = viaEnv ? [] : ['--database', options.database];
    const args = ['activity', ...database, '--activity-key-file', options.activityKeyFile, '--events-listen', `127.0.0.1:${port}`];
    const proc = startProcess('activity', process.execPath, [cliPath, ...args, ...(options.extraArgs ?? [])], {
      env: viaEnv ? { ...process.env, PORTCULLIS_ACTIVITY_DATABASE: options.database } : process.env,
    });
    current = proc;
    await waitFor(
      'activity listening line',
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`activity exited with ${proc.child.exitCode}`);
        return proc.output().includes(`activity events listening on ${url}`);
      },
      20_000,
      () => proc.output(),
    );
  };
  await start();
  return {
    url,
    process: () => current!,
    output: () => earlier + (current?.output() ?? ''),
    async stop() {
      const proc = current!;
      await proc.stop();
      return proc.child.exitCode;
    },
    start,
  };
}
