// The client matrix: every client the tests can build or install here, against Distribution 2.8 and v3
// through Portcullis (the operator and a live token server under their ServiceAccounts, the examples
// applied). For each: a login the registry answers (where the client's login asks it), a push, a pull that
// gives back the same manifest digest, a push outside the grant, a wrong password and an anonymous pull of
// a public repository. Refusals are asserted on what each client prints, not on its exit status. docker
// and containerd run against private engines (test/harness/docker.ts, containerd.ts), podman with storage
// of its own (test/harness/podman.ts).
import { randomBytes } from 'node:crypto';
import { cp as copyDir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../../local/controlPlane.js';
import { buildImage, type BuiltImage } from '../../local/image.js';
import { startRegistry, type RegistryFlavor, type RunningRegistry } from '../../local/registry.js';
import {
  craneClient,
  cranePush,
  orasClient,
  regctlClient,
  skopeoClient,
  type ClientContext,
  type ClientResult,
  type MatrixClient,
} from '../harness/clients.js';
import { startContainerd, type RunningContainerd } from '../harness/containerd.js';
import { startDocker, type RunningDocker } from '../harness/docker.js';
import { podmanInstance, type Podman } from '../harness/podman.js';
import { writeTrustDir } from '../../local/trust-dir.js';
import { EXAMPLE_PASSWORDS, EXAMPLE_SERVICE, startExampleStack, type Stack } from '../harness/stack.js';

/**
 * What each client prints when the registry refuses it (README, Troubleshooting). A push outside the
 * grant: the token lacks push, so Distribution answers the client's first write-side request with 401
 * and `insufficient_scope`; crane and oras start with a HEAD (no body, so only the status shows), regctl
 * with a blob POST, skopeo reads the body's DENIED. A wrong password: the token server's 401.
 */
const REFUSALS: Record<string, { outside: RegExp; wrongPassword: RegExp }> = {
  crane: {
    outside: /manifests\/1: unexpected status code 401 Unauthorized/,
    wrongPassword: /UNAUTHORIZED: authentication failed: invalid username or password/,
  },
  skopeo: { outside: /denied: requested access to the resource is denied/, wrongPassword: /invalid username\/password/ },
  oras: {
    outside: /team-b\/oras\/manifests\/sha256:[0-9a-f]{64}": response status code 401: Unauthorized/,
    wrongPassword: /unauthorized: authentication failed: invalid username or password/,
  },
  regctl: { outside: /failed to send blob post, ref \S+\/team-b\/regctl:1: unauthorized/, wrongPassword: /failed to ping registry \S+: unauthorized/ },
};

const CLIENTS: MatrixClient[] = [craneClient, skopeoClient, orasClient, regctlClient];
const FLAVORS: RegistryFlavor[] = ['v3', '2.8'];
const text = (r: ClientResult): string => `${r.stdout}\n${r.stderr}`;
// The token server writes audit lines in batches (every 250 ms): a test waits for the line it asserts.
const AUDIT_FLUSH = { timeout: 5000, interval: 100 };

let dir: string;
let cp: ControlPlane;
let stack: Stack;
let image: BuiltImage;
const registries = new Map<RegistryFlavor, RunningRegistry>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-clients-'));
  ({ cp, stack } = await startExampleStack({ dir, operatorReplicas: 1 }));
  registries.set('v3', stack.registry);
  registries.set(
    '2.8',
    await startRegistry({
      flavor: '2.8',
      tls: { cert: stack.tls.serverCertPath, key: stack.tls.serverKeyPath },
      auth: { realm: `${stack.tokenUrl}/token`, service: EXAMPLE_SERVICE, issuer: 'portcullis', rootCertBundle: join(dir, 'bundle.pem') },
    }),
  );
  image = await buildImage(join(dir, 'image'));
  // Something public to pull anonymously: ci-bot may push public/**.
  for (const registry of registries.values()) {
    const pushed = await cranePush(image.layoutDir, `${registry.host}/public/hello:1`, {
      tls: stack.tls,
      auth: { username: 'ci-bot', password: EXAMPLE_PASSWORDS['ci-bot'] },
    });
    expect(pushed.code, pushed.stderr).toBe(0);
  }
});

afterAll(async () => {
  await registries.get('2.8')?.stop();
  await stack?.stop();
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.each(FLAVORS)('Distribution %s', (flavor) => {
  describe.each(CLIENTS.map((c) => [c.name, c] as const))('%s', (name, client) => {
    const host = () => registries.get(flavor)!.host;
    const alice = (): ClientContext & { auth: { username: string; password: string } } => ({
      tls: stack.tls,
      auth: { username: 'alice', password: EXAMPLE_PASSWORDS.alice },
    });
    const repo = `team-a/${name}-${flavor.replace('.', '')}`;

    it('logs in, pushes within the grant, and pulls back the same manifest', async () => {
      if (client.login) {
        const login = await client.login(host(), alice());
        expect(login.code, text(login)).toBe(0);
      }
      const pushed = await client.push(image.layoutDir, `${host()}/${repo}:1`, alice());
      expect(pushed.code, text(pushed)).toBe(0);
      const digest = await client.digest(`${host()}/${repo}:1`, alice());
      expect(digest.stdout.trim(), text(digest)).toBe(image.digest);
      const layout = join(dir, `pulled-${name}-${flavor}`);
      const pulled = await client.pull(`${host()}/${repo}:1`, layout, alice());
      expect(pulled.code, text(pulled)).toBe(0);
      const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      expect(index.manifests.map((m) => m.digest)).toContain(image.digest);
    });

    it('is refused a push outside the grant, and says so', async () => {
      const refused = await client.push(image.layoutDir, `${host()}/team-b/${name}:1`, alice());
      expect(refused.code).not.toBe(0);
      expect(text(refused)).toMatch(REFUSALS[name]!.outside);
      // The refusal is the registry's: nothing was stored under team-b.
      const lookup = await client.digest(`${host()}/team-b/${name}:1`, { tls: stack.tls, auth: { username: 'ci-bot', password: EXAMPLE_PASSWORDS['ci-bot'] } });
      expect(lookup.code).not.toBe(0);
    });

    it('is refused with a wrong password, at login or at the first request', async () => {
      const wrong = { tls: stack.tls, auth: { username: 'alice', password: 'not-her-password' } };
      const refused = client.login ? await client.login(host(), wrong) : await client.push(image.layoutDir, `${host()}/${repo}:2`, wrong);
      expect(refused.code).not.toBe(0);
      expect(text(refused)).toMatch(REFUSALS[name]!.wrongPassword);
    });

    it('pulls a public repository anonymously', async () => {
      const digest = await client.digest(`${host()}/public/hello:1`, { tls: stack.tls });
      expect(digest.stdout.trim(), text(digest)).toBe(image.digest);
    });
  });
});

// docker: its own engine (Debian's dockerd 20.10, the CLI on PATH), which logs in with GET and
// `offline_token`, keeps the refresh token as its identity token, and then pushes and pulls with POST
// `grant_type=refresh_token`: the flow no other client here uses.
describe.each(FLAVORS)('docker against Distribution %s', (flavor) => {
  let engine: RunningDocker;
  let config: string;
  const host = () => registries.get(flavor)!.host;
  const ref = (repo: string) => `${host()}/${repo}:1`;

  beforeAll(async () => {
    engine = await startDocker();
    await engine.trust(host(), stack.tls.caCertPath);
    config = await mkdtemp(join(dir, `docker-config-${flavor}-`));
  });
  afterAll(async () => {
    await engine?.stop();
  });

  it('logs in, keeps a refresh token instead of the password, pushes and pulls back the same image', async () => {
    const login = await engine.docker(['login', host(), '-u', 'alice', '--password-stdin'], config, EXAMPLE_PASSWORDS.alice);
    expect(login.code, text(login)).toBe(0);
    const stored = JSON.parse(await readFile(join(config, 'config.json'), 'utf8')) as { auths: Record<string, { identitytoken?: string; auth?: string }> };
    expect(stored.auths[host()]?.identitytoken).toBeTruthy();
    expect(JSON.stringify(stored)).not.toContain(Buffer.from(`alice:${EXAMPLE_PASSWORDS.alice}`).toString('base64'));

    await engine.load(image.layoutDir, ref('team-a/docker'));
    const pushed = await engine.docker(['push', ref('team-a/docker')], config);
    expect(pushed.code, text(pushed)).toBe(0);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
    const registryDigest = await craneClient.digest(ref('team-a/docker'), { tls: stack.tls, auth: { username: 'alice', password: EXAMPLE_PASSWORDS.alice } });
    expect(registryDigest.stdout.trim()).toBe(digest);
    // The push went through the refresh-token grant (POST), as the audit line says. Audit lines are
    // written in batches (every 250 ms), so the line may come a moment after the push returns.
    await expect.poll(() => stack.tokenServer.output(), AUDIT_FLUSH).toMatch(/"user":"alice"[^\n]*"grantType":"refresh_token"/);

    const id = (await engine.docker(['image', 'inspect', '--format', '{{.Id}}', ref('team-a/docker')], config)).stdout.trim();
    expect((await engine.docker(['rmi', ref('team-a/docker')], config)).code).toBe(0);
    const pulled = await engine.docker(['pull', ref('team-a/docker')], config);
    expect(pulled.code, text(pulled)).toBe(0);
    expect((await engine.docker(['image', 'inspect', '--format', '{{.Id}}', ref('team-a/docker')], config)).stdout.trim()).toBe(id);
  });

  it('is refused a push outside the grant, and says so', async () => {
    await engine.load(image.layoutDir, ref('team-b/docker'));
    const refused = await engine.docker(['push', ref('team-b/docker')], config);
    expect(refused.code).not.toBe(0);
    expect(text(refused)).toMatch(/denied: requested access to the resource is denied/);
  });

  it('is refused a login with a wrong password', async () => {
    const other = await mkdtemp(join(dir, `docker-wrong-${flavor}-`));
    const refused = await engine.docker(['login', host(), '-u', 'alice', '--password-stdin'], other, 'not-her-password');
    expect(refused.code).not.toBe(0);
    expect(text(refused)).toMatch(/unauthorized: authentication failed: invalid username or password/);
  });

  it('pulls a public repository anonymously', async () => {
    const anonymous = await mkdtemp(join(dir, `docker-anonymous-${flavor}-`));
    const pulled = await engine.docker(['pull', `${host()}/public/hello:1`], anonymous);
    expect(pulled.code, text(pulled)).toBe(0);
    expect(pulled.stdout).toContain(`Digest: ${image.digest}`);
  });
});

// containerd: ctr with its own containerd. It asks POST /token (grant_type=password) first and, refused,
// asks again with GET: one wrong password must count as one attempt.
describe.each(FLAVORS)('containerd (ctr) against Distribution %s', (flavor) => {
  let engine: RunningContainerd;
  const host = () => registries.get(flavor)!.host;
  const name = (repo: string) => `${host()}/${repo}:latest`;
  const remote = (user: string, password: string) => ['--hosts-dir', engine.hostsDir, '--user', `${user}:${password}`];

  beforeAll(async () => {
    engine = await startContainerd();
    await engine.trust(host(), stack.tls.caCertPath);
  });
  afterAll(async () => {
    await engine?.stop();
  });

  it('pushes within the grant with a password grant over POST, and pulls back the same manifest', async () => {
    await engine.importLayout(image.layoutDir, name('team-a/ctr'));
    const pushed = await engine.ctr(['images', 'push', ...remote('alice', EXAMPLE_PASSWORDS.alice), name('team-a/ctr')]);
    expect(pushed.code, text(pushed)).toBe(0);
    await expect.poll(() => stack.tokenServer.output(), AUDIT_FLUSH).toMatch(/"user":"alice"[^\n]*"grantType":"password"/);
    expect((await engine.ctr(['images', 'rm', name('team-a/ctr')])).code).toBe(0);
    const pulled = await engine.ctr(['images', 'pull', '--snapshotter', 'native', ...remote('alice', EXAMPLE_PASSWORDS.alice), name('team-a/ctr')]);
    expect(pulled.code, text(pulled)).toBe(0);
    const listed = await engine.ctr(['images', 'ls']);
    expect(listed.stdout).toMatch(new RegExp(`${name('team-a/ctr')}\\s+\\S+\\s+${image.digest}`));
  });

  it('is refused a push outside the grant, and says so', async () => {
    await engine.importLayout(image.layoutDir, name('team-b/ctr'));
    const refused = await engine.ctr(['images', 'push', ...remote('alice', EXAMPLE_PASSWORDS.alice), name('team-b/ctr')]);
    expect(refused.code).not.toBe(0);
    expect(text(refused)).toMatch(/ctr: server message: insufficient_scope: authorization failed/);
  });

  it('a wrong password is refused, and its POST-then-GET counts once', async () => {
    const user = `ctr-typo-${flavor.replace('.', '')}`;
    const refused = await engine.ctr(['images', 'pull', '--snapshotter', 'native', ...remote(user, 'not-a-password'), `${host()}/public/hello:1`]);
    expect(refused.code).not.toBe(0);
    expect(text(refused)).toMatch(/failed to fetch oauth token: unexpected status: 401 Unauthorized/);
    const auditOf = () =>
      stack.tokenServer
        .output()
        .split('\n')
        .filter((l) => l.includes(`"user":"${user}"`));
    // The first request is checked (and counted); its retry is answered alike without a second check.
    await expect.poll(() => auditOf().length, AUDIT_FLUSH).toBeGreaterThanOrEqual(2);
    const audit = auditOf();
    expect(audit.filter((l) => l.includes('counted once'))).toHaveLength(audit.length - 1);
  });

  it('pulls a public repository anonymously', async () => {
    const pulled = await engine.ctr(['images', 'pull', '--snapshotter', 'native', '--hosts-dir', engine.hostsDir, `${host()}/public/hello:1`]);
    expect(pulled.code, text(pulled)).toBe(0);
    expect((await engine.ctr(['images', 'ls'])).stdout).toContain(image.digest);
  });
});

// podman: daemonless, with storage and an auth file of its own, trusting the CA through --cert-dir.
describe.each(FLAVORS)('podman against Distribution %s', (flavor) => {
  let p: Podman;
  let certDir: string;
  let imageId: string;
  let layout: string | undefined;
  const host = () => registries.get(flavor)!.host;
  const ref = (repo: string) => `${host()}/${repo}:1`;

  beforeAll(async () => {
    p = await podmanInstance();
    certDir = join(dir, `podman-certs-${flavor}`);
    await writeTrustDir(certDir, host(), stack.tls.caCertPath);
    // podman names an image pulled from a layout after its path, which must be lowercase.
    layout = join(tmpdir(), `portcullis-podman-layout-${randomBytes(4).toString('hex')}`);
    await copyDir(image.layoutDir, layout, { recursive: true });
    const loaded = await p.podman(['pull', `oci:${layout}:latest`]);
    expect(loaded.code, text(loaded)).toBe(0);
    imageId = loaded.stdout.trim().split('\n').pop()!;
  });
  afterAll(async () => {
    await p?.close();
    if (layout) await rm(layout, { recursive: true, force: true });
  });
  const tls = () => ['--cert-dir', join(certDir, host())];

  it('logs in, pushes within the grant, and pulls back the same manifest', async () => {
    const login = await p.podman(['login', ...tls(), '-u', 'alice', '--password-stdin', host()], EXAMPLE_PASSWORDS.alice);
    expect(login.code, text(login)).toBe(0);
    const digestFile = join(dir, `podman-digest-${flavor}`);
    const pushed = await p.podman(['push', ...tls(), '--digestfile', digestFile, imageId, ref('team-a/podman')]);
    expect(pushed.code, text(pushed)).toBe(0);
    const digest = (await readFile(digestFile, 'utf8')).trim();
    const registryDigest = await craneClient.digest(ref('team-a/podman'), { tls: stack.tls, auth: { username: 'alice', password: EXAMPLE_PASSWORDS.alice } });
    expect(registryDigest.stdout.trim()).toBe(digest);
    const pulled = await p.podman(['pull', ...tls(), ref('team-a/podman')]);
    expect(pulled.code, text(pulled)).toBe(0);
    // The pulled manifest is the pushed one (the image itself was already in this storage).
    const repoDigests = await p.podman(['image', 'inspect', '--format', '{{range .RepoDigests}}{{.}} {{end}}', ref('team-a/podman')]);
    expect(repoDigests.stdout.split(/\s+/)).toContain(`${host()}/team-a/podman@${digest}`);
  });

  it('is refused a push outside the grant, and says so', async () => {
    const refused = await p.podman(['push', ...tls(), imageId, ref('team-b/podman')]);
    expect(refused.code).not.toBe(0);
    expect(text(refused)).toMatch(/denied: requested access to the resource is denied/);
  });

  it('is refused a login with a wrong password', async () => {
    const other = await podmanInstance();
    try {
      const refused = await other.podman(['login', ...tls(), '-u', 'alice', '--password-stdin', host()], 'not-her-password');
      expect(refused.code).not.toBe(0);
      expect(text(refused)).toMatch(/invalid username\/password/);
    } finally {
      await other.close();
    }
  });

  it('pulls a public repository anonymously', async () => {
    const anonymous = await podmanInstance();
    try {
      const pulled = await anonymous.podman(['pull', ...tls(), `${host()}/public/hello:1`]);
      expect(pulled.code, text(pulled)).toBe(0);
      expect((await anonymous.podman(['image', 'inspect', '--format', '{{.Digest}}', `${host()}/public/hello:1`])).stdout.trim()).toBe(image.digest);
    } finally {
      await anonymous.close();
    }
  });
});
