// A private containerd for the client matrix: Debian's containerd on its own socket, root and state
// directories, and `ctr` against it with the native snapshotter (works on any filesystem). ctr reads trust
// from a hosts directory (`--hosts-dir DIR`, local/trust-dir.ts), so nothing under /etc is touched.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, startProcess, waitFor, type ManagedProcess } from '../../local/process.js';
import { writeTrustDir } from '../../local/trust-dir.js';
import type { ClientResult } from './clients.js';

export interface RunningContainerd {
  /** Runs `ctr` against this containerd (its namespace `portcullis`). */
  ctr(args: string[]): Promise<ClientResult>;
  /** The `--hosts-dir` that trusts the test CA for the given hosts. */
  hostsDir: string;
  trust(host: string, caPath: string): Promise<void>;
  /** Imports an OCI layout as `name` (HOST/REPO:latest). */
  importLayout(layoutDir: string, name: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startContainerd(): Promise<RunningContainerd> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-containerd-'));
  const socket = join(dir, 'containerd.sock');
  const hostsDir = join(dir, 'certs.d');
  await mkdir(hostsDir);
  // Only what pushing and pulling images needs: no CRI, no metrics, no tracing.
  await writeFile(join(dir, 'config.toml'), 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n');
  const daemon: ManagedProcess = startProcess('containerd', '/usr/bin/containerd', [
    '--config',
    join(dir, 'config.toml'),
    '--root',
    join(dir, 'root'),
    '--state',
    join(dir, 'state'),
    '--address',
    socket,
  ]);
  const ctr = (args: string[]): Promise<ClientResult> => run('ctr', ['--address', socket, '--namespace', 'portcullis', ...args], { timeoutMs: 120_000 });
  const stop = async (): Promise<void> => {
    await daemon.stop(20_000);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'containerd answering',
      async () => {
        if (daemon.child.exitCode !== null) throw new Error(`containerd exited with ${daemon.child.exitCode}`);
        return (await ctr(['version'])).code === 0;
      },
      30_000,
      () => daemon.output(),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    ctr,
    hostsDir,
    async trust(host, caPath) {
      await writeTrustDir(hostsDir, host, caPath);
    },
    async importLayout(layoutDir, name) {
      const archive = join(dir, `${name.replace(/[^a-z0-9]/gi, '_')}.tar`);
      const tar = await run('tar', ['-C', layoutDir, '-cf', archive, '.']);
      if (tar.code !== 0) throw new Error(`tar failed: ${tar.stderr}`);
      const imported = await ctr(['images', 'import', '--snapshotter', 'native', '--base-name', name.replace(/:latest$/, ''), archive]);
      if (imported.code !== 0) throw new Error(`ctr images import failed: ${imported.stderr}`);
    },
    stop,
  };
}
