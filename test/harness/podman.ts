// podman (Debian's 4.3) for the client matrix: daemonless, with storage of its own per test (vfs, a
// private root and run root), its own auth file, and the test CA through `--cert-dir`. Nothing it does
// reads or writes the machine's podman state.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../local/process.js';
import type { ClientResult } from './clients.js';

export interface Podman {
  /** Runs podman with this instance's storage and auth file; `input` goes to stdin. */
  podman(args: string[], input?: string): Promise<ClientResult>;
  authFile: string;
  close(): Promise<void>;
}

export async function podmanInstance(): Promise<Podman> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-podman-'));
  const authFile = join(dir, 'auth.json');
  // An empty auth file of its own: podman reads only this one (and refuses a path that does not exist).
  await writeFile(authFile, '{}', { mode: 0o600 });
  const global = [
    '--root',
    join(dir, 'root'),
    '--runroot',
    join(dir, 'run'),
    '--storage-driver',
    'vfs',
    '--cgroup-manager',
    'cgroupfs',
    '--events-backend',
    'none',
  ];
  return {
    authFile,
    podman: (args, input) =>
      run('podman', [...global, ...args], {
        env: { ...process.env, REGISTRY_AUTH_FILE: authFile, XDG_RUNTIME_DIR: join(dir, 'xdg'), HOME: dir },
        timeoutMs: 120_000,
        ...(input === undefined ? {} : { input }),
      }),
    close: async () => {
      await run('podman', [...global, 'system', 'reset', '--force'], { timeoutMs: 60_000 }).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
