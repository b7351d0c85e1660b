// The client matrix: every client the tests can build or install here, against Distribution 2.8 and v3
// through Portcullis (the operator and a live token server under their ServiceAccounts, the examples
// applied). For each: a login the registry answers (where the client's login asks it), a push, a pull that
// gives back the same manifest digest, a push outside the grant, a wrong password and an anonymous pull of
// a public repository. Refusals are asserted on what each client prints, not on its exit status.
// docker, podman and containerd need daemons these machines do not install: see the closing notes.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
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
