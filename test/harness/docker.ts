// A private Docker engine for the client matrix: Debian's dockerd on its own socket, data root and exec
// root (vfs storage, no bridge, no iptables: it only stores, pushes and pulls images here), and the docker
// CLI with a DOCKER_CONFIG of its own per test. The engine trusts a registry through
// /etc/docker/certs.d/HOST:PORT/ca.crt, the only place it reads: the harness writes that directory for the
// registries a test names and removes it again. A test that builds images asks for overlay2 storage: vfs
// copies the whole filesystem for every build step, which turns a Dockerfile build into many minutes.
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, startProcess, waitFor, type ManagedProcess } from '../../local/process.js';
import type { ClientResult } from './clients.js';

export interface RunningDocker {
  /** Runs the docker CLI against this engine with `config` as DOCKER_CONFIG. */
  docker(args: string[], config: string, input?: string, env?: NodeJS.ProcessEnv): Promise<ClientResult>;
  /** Makes the engine trust `caPath` for `host` (HOST:PORT). */
  trust(host: string, caPath: string): Promise<void>;
  /** Loads an OCI layout as `tag` (skopeo writes the docker-archive the engine loads). */
  load(layoutDir: string, tag: string): Promise<void>;
  stop(): Promise<void>;
}

const CERTS_D = '/etc/docker/certs.d';

export interface DockerOptions {
  /** Default vfs (works anywhere); overlay2 for builds, where /tmp is on a filesystem overlayfs accepts. */
  storageDriver?: 'vfs' | 'overlay2';
  /** HOST:PORT the engine speaks plain HTTP to (a registry on a node's NodePort, not on loopback). */
  insecureRegistries?: string[];
}

export async function startDocker(options: DockerOptions = {}): Promise<RunningDocker> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-docker-'));
  const socket = join(dir, 'docker.sock');
  const trusted: string[] = [];
  const daemon: ManagedProcess = startProcess('dockerd', '/usr/sbin/dockerd', [
    '--host',
    `unix://${socket}`,
    '--data-root',
    join(dir, 'data'),
    '--exec-root',
    join(dir, 'exec'),
    '--pidfile',
    join(dir, 'docker.pid'),
    '--storage-driver',
    options.storageDriver ?? 'vfs',
    '--bridge',
    'none',
    '--iptables=false',
    '--ip6tables=false',
    ...(options.insecureRegistries ?? []).flatMap((host) => ['--insecure-registry', host]),
  ]);
  const docker = (args: string[], config: string, input?: string, env: NodeJS.ProcessEnv = {}): Promise<ClientResult> =>
    run('docker', args, {
      env: { ...process.env, ...env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: config },
      timeoutMs: 900_000,
      ...(input === undefined ? {} : { input }),
    });
  const stop = async (): Promise<void> => {
    await daemon.stop(20_000);
    // dockerd leaves its network namespace file mounted under the exec root.
    const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '');
    for (const mount of mounts.filter((m) => m.startsWith(`${dir}/`)).reverse()) await run('umount', ['-l', mount]);
    for (const host of trusted) await rm(join(CERTS_D, host), { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const probe = await mkdtemp(join(dir, 'probe-'));
    await waitFor(
      'dockerd answering',
      async () => {
        if (daemon.child.exitCode !== null) throw new Error(`dockerd exited with ${daemon.child.exitCode}`);
        return (await docker(['version', '--format', '{{.Server.Version}}'], probe)).code === 0;
      },
      60_000,
      () => daemon.output(),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    docker,
    async trust(host, caPath) {
      await mkdir(join(CERTS_D, host), { recursive: true });
      await copyFile(caPath, join(CERTS_D, host, 'ca.crt'));
      trusted.push(host);
    },
    async load(layoutDir, tag) {
      const archive = join(dir, `${tag.replace(/[^a-z0-9]/gi, '_')}.tar`);
      const copied = await run('skopeo', ['copy', `oci:${layoutDir}:latest`, `docker-archive:${archive}:${tag}`], { timeoutMs: 60_000 });
      if (copied.code !== 0) throw new Error(`skopeo could not write a docker archive: ${copied.stderr}`);
      const loaded = await docker(['load', '-i', archive], dir);
      if (loaded.code !== 0) throw new Error(`docker load failed: ${loaded.stderr}`);
    },
    stop,
  };
}
