// A Docker-style trust directory for a registry on `localhost`: DIR/HOST:PORT/ca.crt, which docker,
// podman and skopeo (`--cert-dir DIR/HOST:PORT`) read, plus the hosts.toml containerd's `--hosts-dir DIR`
// needs: with only a ca.crt, containerd speaks plain HTTP to `localhost`.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function writeTrustDir(dir: string, host: string, caPath: string): Promise<void> {
  const hostDir = join(dir, host);
  await mkdir(hostDir, { recursive: true });
  await copyFile(caPath, join(hostDir, 'ca.crt'));
  await writeFile(
    join(hostDir, 'hosts.toml'),
    `server = "https://${host}"\n\n[host."https://${host}"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = "${join(hostDir, 'ca.crt')}"\n`,
  );
}
