// The container image, built and run for real: the Dockerfile as it stands, built by a private Docker
// engine (Debian's dockerd, legacy builder: the `# syntax=` line needs a frontend image from a registry
// these machines cannot reach, and the legacy builder reads it as a comment) on a node:24-bookworm-slim
// made locally by test/env/base-image.sh when it cannot be pulled. Then `portcullis operator` and
// `portcullis token-server` run from it as the chart runs them (uid 65532, read-only root filesystem; host
// network here) against a real control plane, and crane pushes through them to a real registry; and
// `portcullis activity` runs from it on SQLite in a tmpfs (better-sqlite3 compiled by node-gyp in the
// build stage, for the image's Node 24) and stores the registry's push notifications.
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { exampleManifests, publishedBundle } from '../../local/demo.js';
import { buildImage } from '../../local/image.js';
import { freePort, waitFor } from '../../local/process.js';
import { startRegistry, type RunningRegistry } from '../../local/registry.js';
import { createTestTLS, type TestTLS } from '../../local/tls.js';
import { repoRoot, versions } from '../../local/tools.js';
import { notificationToken } from '../../wire/notification-token.js';
import { cranePush, registryRefusal } from '../harness/clients.js';
import { keepPortcullisImage, portcullisImageKey } from '../harness/cluster-images.js';
import { startDocker, type RunningDocker } from '../harness/docker.js';
import { applyClusterBase, EXAMPLE_PASSWORDS, EXAMPLE_SERVICE } from '../harness/stack.js';

const IMAGE = 'portcullis:test';

describe('the container image, built with a real Docker engine and run', () => {
  let dir: string;
  let engine: RunningDocker;
  let config: string;
  let cp: ControlPlane;
  let tls: TestTLS;
  let registry: RunningRegistry | undefined;
  const containers: string[] = [];
  const docker = (args: string[], env?: NodeJS.ProcessEnv) => engine.docker(args, config, undefined, env);
  const logs = async () => (await Promise.all(containers.map(async (c) => `--- ${c} ---\n${(await docker(['logs', '--tail', '40', c])).stderr}`))).join('\n');

  /** A kubeconfig of a ServiceAccount the container user (65532) can read, and the CA it names, as mounts. */
  async function mountsFor(namespace: string, name: string): Promise<string[]> {
    const kubeconfig = await cp.kubeconfigForServiceAccount(namespace, name);
    const copy = join(dir, `${name}.kubeconfig`);
    await copyFile(kubeconfig.path, copy);
    await chmod(copy, 0o644);
    const ca = /certificate-authority: (\S+)/.exec(await readFile(copy, 'utf8'))?.[1];
    return ['-v', `${copy}:/kube/config:ro`, '-e', 'KUBECONFIG=/kube/config', ...(ca === undefined ? [] : ['-v', `${ca}:${ca}:ro`])];
  }

  async function runContainer(name: string, mounts: string[], args: string[]): Promise<void> {
    const started = await docker(['run', '-d', '--name', name, '--network', 'host', '--read-only', '--user', '65532:65532', ...mounts, IMAGE, ...args]);
    expect(started.code, started.stderr).toBe(0);
    containers.push(name);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-image-'));
    engine = await startDocker({ storageDriver: 'overlay2' });
    config = join(dir, 'docker-config');
    const rootfs = join(repoRoot, '.tools', `node-image-${versions().NODE_IMAGE_VERSION}`, 'rootfs.tar');
    const imported = await docker(['import', '--change', 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt', rootfs, 'node:24-bookworm-slim']);
    expect(imported.code, imported.stderr).toBe(0);
    cp = await startControlPlane();
    tls = await createTestTLS(join(dir, 'tls'));
  }, 600_000);

  afterAll(async () => {
    for (const c of containers) await docker(['rm', '-f', c]);
    await registry?.stop();
    await cp?.stop();
    await engine?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('builds from the Dockerfile as it stands, and says how large the image is', async () => {
    const key = await portcullisImageKey();
    const started = Date.now();
    const built = await docker(['build', '--network', 'host', '-t', IMAGE, repoRoot], { DOCKER_BUILDKIT: '0' });
    expect(built.code, built.stdout.slice(-3000) + built.stderr).toBe(0);
    const size = Number((await docker(['image', 'inspect', '--format', '{{.Size}}', IMAGE])).stdout.trim());
    const base = Number((await docker(['image', 'inspect', '--format', '{{.Size}}', 'node:24-bookworm-slim'])).stdout.trim());
    process.stdout.write(
      `[measured] image ${IMAGE}: ${(size / 1e6).toFixed(0)} MB (base ${(base / 1e6).toFixed(0)} MB, Portcullis adds ${((size - base) / 1e6).toFixed(0)} MB); built in ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
    );
    const user = await docker(['image', 'inspect', '--format', '{{.Config.User}}', IMAGE]);
    expect(user.stdout.trim()).toBe('65532:65532');
    // test/cluster runs this same image on a real node later in `npm test`: kept for it under the key of
    // the sources it was built from, so a run builds the image once.
    await keepPortcullisImage((args, env) => docker(args, env), IMAGE, key);
  }, 900_000);

  it('runs the operator and the token server from the image (uid 65532, read-only root): crane pushes as granted', async () => {
    await applyClusterBase(cp);
    const manifests = await exampleManifests();
    await waitFor('examples applied', async () => (await kubectl(cp, ['apply', '-f', '-'], manifests)).code === 0, 30_000);

    await runContainer('operator', await mountsFor('portcullis-system', 'portcullis-operator'), [
      'operator',
      '--lease-namespace',
      'portcullis-system',
      '--registry-namespaces',
      'registry',
    ]);
    const bundle = await publishedBundle(cp, () => '(see the operator container log)');
    await writeFile(join(dir, 'bundle.pem'), bundle);

    await chmod(tls.serverKeyPath, 0o644); // the container user reads the test key through the mount
    const port = await freePort();
    await runContainer(
      'token-server',
      [
        ...(await mountsFor('registry', 'portcullis-token-server')),
        '-v',
        `${tls.serverCertPath}:/tls/tls.crt:ro`,
        '-v',
        `${tls.serverKeyPath}:/tls/tls.key:ro`,
      ],
      ['token-server', '--registry', 'registry/main', '--listen', `127.0.0.1:${port}`, '--tls-cert', '/tls/tls.crt', '--tls-key', '/tls/tls.key'],
    );
    registry = await startRegistry({
      flavor: 'v3',
      tls: { cert: tls.serverCertPath, key: tls.serverKeyPath },
      auth: { realm: `https://localhost:${port}/token`, service: EXAMPLE_SERVICE, issuer: 'portcullis', rootCertBundle: join(dir, 'bundle.pem') },
    });
    const image = await buildImage(join(dir, 'sample'));
    const alice = { tls, auth: { username: 'alice', password: EXAMPLE_PASSWORDS.alice } };
    let pushed = await cranePush(image.layoutDir, `${registry.host}/team-a/app:1`, alice);
    await waitFor(
      'a push through the containers',
      async () => (pushed = await cranePush(image.layoutDir, `${registry!.host}/team-a/app:1`, alice)).code === 0,
      60_000,
      () => pushed.stderr,
    );
    const bob = { tls, auth: { username: 'bob', password: EXAMPLE_PASSWORDS.bob } };
    const refused = await cranePush(image.layoutDir, `${registry.host}/team-a/app:2`, bob);
    expect(registryRefusal(refused), refused.stderr).toBe('UNAUTHORIZED');
  }, 300_000);

  it("runs the activity server from the image (native SQLite on a tmpfs): the registry's push is stored", async () => {
    const key = randomBytes(32);
    await writeFile(join(dir, 'activity-key'), key.toString('base64'), { mode: 0o644 });
    const port = await freePort();
    await runContainer(
      'activity',
      ['-v', `${join(dir, 'activity-key')}:/keys/activity-key:ro`, '--tmpfs', '/data:rw,uid=65532,gid=65532,mode=0700'],
      [
        'activity',
        '--database',
        'sqlite:/data/activity.db',
        '--activity-key-file',
        '/keys/activity-key',
        '--events-listen',
        `127.0.0.1:${port}`,
        '--no-webhooks',
      ],
    );
    // The intake listens only once the store is open: a 200 means the native module loaded in the image.
    await waitFor(
      'activity /healthz',
      async () =>
        (await fetch(`http://127.0.0.1:${port}/healthz`)
          .then((r) => r.status)
          .catch(() => 0)) === 200,
      60_000,
      () => '',
    );

    // The key as the container read it (base64 text, as the chart's Secret holds it).
    const token = notificationToken(Buffer.from(key.toString('base64')), { namespace: 'registry', name: 'main' });
    await registry!.restart({ notifications: { url: `http://127.0.0.1:${port}/events/registry/main`, token } });
    const image = await buildImage(join(dir, 'activity-sample'));
    const pushed = await cranePush(image.layoutDir, `${registry!.host}/team-a/app:3`, { tls, auth: { username: 'alice', password: EXAMPLE_PASSWORDS.alice } });
    expect(pushed.code, pushed.stderr).toBe(0);
    const stored = /portcullis_activity_registry_events_total\{[^}]*registry="registry\/main"[^}]*action="push"[^}]*outcome="stored"[^}]*\} ([1-9]\d*)/;
    let metrics = '';
    await waitFor(
      'the push stored',
      async () => stored.test((metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())),
      60_000,
      () => `${metrics}\n${registry!.logs()}`,
    );
  }, 180_000);

  it('every container stops cleanly on SIGTERM (docker stop)', async () => {
    for (const name of ['activity', 'token-server', 'operator']) {
      const stopped = await docker(['stop', '--time', '20', name]);
      expect(stopped.code, stopped.stderr).toBe(0);
      const exit = await docker(['inspect', '--format', '{{.State.ExitCode}}', name]);
      expect(exit.stdout.trim(), await logs()).toBe('0');
    }
  });
});
