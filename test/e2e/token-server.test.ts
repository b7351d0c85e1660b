// The token server in front of real Distribution registries (2.8 and v3), used by real clients
// (crane and skopeo), with a policy compiled offline by `portcullis compile` from manifests.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  craneCatalog,
  craneDelete,
  craneDigest,
  cranePull,
  cranePush,
  skopeoDelete,
  skopeoInspectRaw,
  skopeoLogin,
  registryRefusal,
  skopeoPush,
  type ClientContext,
} from '../harness/clients.js';
import { httpsRequest } from '../../local/https.js';
import { buildImage } from '../../local/image.js';
import { waitFor } from '../../local/process.js';
import { portcullis, startTokenServer, type RunningTokenServer } from '../harness/portcullis.js';
import { startRegistry, type RegistryFlavor, type RunningRegistry } from '../../local/registry.js';
import { createTestTLS, type TestTLS } from '../../local/tls.js';

const SERVICE = 'registry.test';

const secret = (name: string, password: string) => `apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: registry}
stringData: {password: ${password}}
`;
const user = (name: string, groups: string[], disabled = false) => `apiVersion: portcullis.dev/v1alpha1
kind: RegistryUser
metadata: {name: ${name}, namespace: registry}
spec:
  registryRef: {name: main}
  passwordSecretRef: {name: ${name}-password}
  groups: [${groups.join(', ')}]
  disabled: ${disabled}
`;
const grant = (name: string, subjects: string, repositories: string[], actions: string[], catalog = false) => `apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: ${name}, namespace: registry}
spec:
  registryRef: {name: main}
  subjects: ${subjects}
  repositories: [${repositories.map((r) => `"${r}"`).join(', ')}]
  actions: [${actions.map((a) => `"${a}"`).join(', ')}]
  catalog: ${catalog}
`;

const PASSWORDS = { alice: 'alice-pw-1', paula: 'paula-pw-1', dave: 'dave-pw-1', root: 'root-pw-1', gina: 'gina-pw-1' };

function manifests(options: { daveDisabled: boolean; aliceDisabled?: boolean }): string {
  return [
    `apiVersion: portcullis.dev/v1alpha1
kind: Registry
metadata: {name: main, namespace: registry}
spec:
  service: ${SERVICE}
  issuer: portcullis-test
  tokenTTL: 5m
`,
    ...Object.entries(PASSWORDS).map(([n, p]) => secret(`${n}-password`, p)),
    user('alice', ['devs'], options.aliceDisabled ?? false),
    user('paula', ['readers']),
    user('dave', ['devs'], options.daveDisabled),
    user('root', ['admins']),
    user('gina', ['shippers']),
    grant('devs-write', '[{kind: Group, name: devs}]', ['team/*'], ['pull', 'push']),
    grant('paula-read', '[{kind: User, name: paula}]', ['team/*'], ['pull']),
    grant('shippers', '[{kind: Group, name: shippers}]', ['ship/**'], ['pull', 'push']),
    grant('personal', '[{kind: Authenticated}]', ['${user}/*'], ['pull', 'push']),
    grant('public-pull', '[{kind: Anonymous}]', ['public/**'], ['pull']),
    grant('admins', '[{kind: Group, name: admins}]', ['**'], ['*'], true),
  ].join('---\n');
}

interface TokenResponse {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

async function call(url: string, ca: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<TokenResponse> {
  const res = await httpsRequest(url, ca, options);
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(res.text) as Record<string, unknown>;
  } catch {
    body = { raw: res.text };
  }
  return { status: res.status, body, headers: res.headers };
}

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const as = (name: keyof typeof PASSWORDS, tls: TestTLS): ClientContext => ({ tls, auth: { username: name, password: PASSWORDS[name] } });

describe('token server e2e', () => {
  let dir: string;
  let tls: TestTLS;
  let ca: string;
  let server: RunningTokenServer;
  let policyDir: string;
  let manifestPath: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-token-e2e-'));
    tls = await createTestTLS(join(dir, 'tls'));
    ca = await readFile(tls.caCertPath, 'utf8');
    manifestPath = join(dir, 'policy.yaml');
    policyDir = join(dir, 'snapshot');
    await writeFile(manifestPath, manifests({ daveDisabled: true }));
    const compiled = await portcullis(['compile', '-f', manifestPath, '-o', policyDir]);
    expect(compiled.code, compiled.stderr + compiled.stdout).toBe(0);
    const keys = await portcullis(['keys', 'init', '--dir', join(dir, 'keys')]);
    expect(keys.code, keys.stderr).toBe(0);
    server = await startTokenServer(
      ['--policy-dir', policyDir, '--keys-dir', join(dir, 'keys'), '--tls-cert', tls.serverCertPath, '--tls-key', tls.serverKeyPath],
      { tls: true },
    );
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  describe.each<RegistryFlavor>(['2.8', 'v3'])('with Distribution %s', (flavor) => {
    let registry: RunningRegistry;
    beforeAll(async () => {
      registry = await startRegistry({
        flavor,
        tls: { cert: tls.serverCertPath, key: tls.serverKeyPath },
        auth: { realm: `${server.url}/token`, service: SERVICE, issuer: 'portcullis-test', rootCertBundle: join(dir, 'keys', 'bundle.pem') },
      });
    });
    afterAll(async () => {
      await registry?.stop();
    });
    const ref = (repo: string) => `${registry.host}/${repo}:latest`;

    it('a user granted push on team/* pushes and pulls team/app with crane and skopeo, and cannot push other/app', async () => {
      const image = await buildImage(join(dir, `${flavor}-team-app`));
      const pushed = await cranePush(image.layoutDir, ref('team/app'), as('alice', tls));
      expect(pushed.code, pushed.stderr).toBe(0);
      const pulled = await cranePull(ref('team/app'), join(dir, `${flavor}-pulled`), as('alice', tls));
      expect(pulled.code, pulled.stderr).toBe(0);
      const other = await buildImage(join(dir, `${flavor}-team-app-2`));
      const bySkopeo = await skopeoPush(other.layoutDir, ref('team/app2'), as('alice', tls));
      expect(bySkopeo.code, bySkopeo.stderr).toBe(0);
      expect((await skopeoInspectRaw(ref('team/app2'), as('alice', tls))).code).toBe(0);
      const denied = await cranePush(image.layoutDir, ref('other/app'), as('alice', tls));
      expect(registryRefusal(denied), denied.stderr).toBe('UNAUTHORIZED');
      const deniedSkopeo = await skopeoPush(image.layoutDir, ref('other/app'), as('alice', tls));
      expect(registryRefusal(deniedSkopeo), deniedSkopeo.stderr).toBe('DENIED');
    });

    it('a pull-only user pulls and is denied push', async () => {
      expect((await craneDigest(ref('team/app'), as('paula', tls))).code).toBe(0);
      const image = await buildImage(join(dir, `${flavor}-paula`));
      const crane = await cranePush(image.layoutDir, ref('team/app'), as('paula', tls));
      expect(registryRefusal(crane), crane.stderr).toBe('UNAUTHORIZED');
      const skopeo = await skopeoPush(image.layoutDir, ref('team/app'), as('paula', tls));
      expect(registryRefusal(skopeo), skopeo.stderr).toBe('DENIED');
    });

    it('a group grant on ship/** works at any depth', async () => {
      const image = await buildImage(join(dir, `${flavor}-ship`));
      const r = await cranePush(image.layoutDir, ref('ship/a/b/c'), as('gina', tls));
      expect(r.code, r.stderr).toBe(0);
    });

    it('a disabled user is denied even where a grant names their group', async () => {
      const r = await craneDigest(ref('team/app'), as('dave', tls));
      expect(registryRefusal(r), r.stderr).toBe('UNAUTHORIZED');
      const login = await skopeoLogin(registry.host, as('dave', tls) as ClientContext & { auth: { username: string; password: string } });
      expect(registryRefusal(login), login.stderr).toBe('UNAUTHORIZED');
    });

    it('${user}/* lets each user push only under their own name', async () => {
      const image = await buildImage(join(dir, `${flavor}-personal`));
      expect((await cranePush(image.layoutDir, ref('alice/tool'), as('alice', tls))).code).toBe(0);
      const other = await cranePush(image.layoutDir, ref('paula/tool'), as('alice', tls));
      expect(registryRefusal(other), other.stderr).toBe('UNAUTHORIZED');
      expect((await cranePush(image.layoutDir, ref('paula/tool'), as('paula', tls))).code).toBe(0);
    });

    it('anonymous clients pull public/** with no credentials and cannot push', async () => {
      const image = await buildImage(join(dir, `${flavor}-public`));
      expect((await cranePush(image.layoutDir, ref('public/lib/base'), as('root', tls))).code).toBe(0);
      const anon = await craneDigest(ref('public/lib/base'), { tls });
      expect(anon.code, anon.stderr).toBe(0);
      expect(anon.stdout.trim()).toBe(image.digest);
      const anonPush = await cranePush(image.layoutDir, ref('public/lib/other'), { tls });
      expect(registryRefusal(anonPush), anonPush.stderr).toBe('UNAUTHORIZED');
      const anonPull = await craneDigest(ref('team/app'), { tls });
      expect(registryRefusal(anonPull), anonPull.stderr).toBe('UNAUTHORIZED');
    });

    it('a wrong password fails login', async () => {
      const login = await skopeoLogin(registry.host, { tls, auth: { username: 'alice', password: 'wrong' } });
      expect(registryRefusal(login), login.stderr).toBe('UNAUTHORIZED');
      const ok = await skopeoLogin(registry.host, as('alice', tls) as ClientContext & { auth: { username: string; password: string } });
      expect(ok.code, ok.stderr).toBe(0);
    });

    it('the catalog lists repositories only for subjects with catalog access', async () => {
      const root = await craneCatalog(registry.host, as('root', tls));
      expect(root.code, root.stderr).toBe(0);
      expect(root.stdout.split('\n')).toContain('team/app');
      const alice = await craneCatalog(registry.host, as('alice', tls));
      expect(registryRefusal(alice), alice.stderr).toBe('UNAUTHORIZED');
    });

    it('manifest delete works only with the delete action', async () => {
      const image = await buildImage(join(dir, `${flavor}-delete`));
      expect((await cranePush(image.layoutDir, ref('team/doomed'), as('alice', tls))).code).toBe(0);
      const byDigest = `${registry.host}/team/doomed@${image.digest}`;
      const craneRefused = await craneDelete(byDigest, as('alice', tls));
      expect(registryRefusal(craneRefused), craneRefused.stderr).toBe('UNAUTHORIZED');
      const skopeoRefused = await skopeoDelete(byDigest, as('alice', tls));
      expect(registryRefusal(skopeoRefused), skopeoRefused.stderr).toBe('UNAUTHORIZED');
      const deleted = await craneDelete(byDigest, as('root', tls));
      expect(deleted.code, deleted.stderr).toBe(0);
      const gone = await craneDigest(byDigest, as('root', tls));
      expect(gone.code).not.toBe(0);
      expect(gone.stderr).toMatch(/MANIFEST_UNKNOWN|NOT_FOUND/);
    });
  });

  describe('protocol over the wire', () => {
    const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
    const post = (fields: Record<string, string>) =>
      call(`${server.url}/token`, ca, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form(fields) });

    it('the refresh-token flow works, and is refused once the user is disabled in a new snapshot', async () => {
      const login = await post({
        grant_type: 'password',
        username: 'alice',
        password: PASSWORDS.alice,
        access_type: 'offline',
        client_id: 'e2e',
        service: SERVICE,
        scope: 'repository:team/app:pull',
      });
      expect(login.status).toBe(200);
      const refreshToken = login.body.refresh_token as string;
      expect(typeof refreshToken).toBe('string');
      const refreshed = await post({
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        client_id: 'e2e',
        service: SERVICE,
        scope: 'repository:team/app:pull,push',
      });
      expect(refreshed.status).toBe(200);
      expect(refreshed.body.scope).toBe('repository:team/app:pull,push');

      await writeFile(manifestPath, manifests({ daveDisabled: true, aliceDisabled: true }));
      const recompiled = await portcullis(['compile', '-f', manifestPath, '-o', policyDir]);
      expect(recompiled.code, recompiled.stderr).toBe(0);
      await waitFor(
        'the token server to load the new snapshot',
        async () => (await post({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'e2e', service: SERVICE })).status === 401,
        10_000,
        () => server.process.output(),
      );
      // and put alice back for anything that runs after
      await writeFile(manifestPath, manifests({ daveDisabled: true }));
      expect((await portcullis(['compile', '-f', manifestPath, '-o', policyDir])).code).toBe(0);
    });

    it.each([
      ['a bad scope', '/token?service=registry.test&scope=repository:Bad Name:pull', {}, 400],
      ['a scope with no actions part', '/token?service=registry.test&scope=repository', {}, 400],
      ['a bad Basic header', '/token?service=registry.test', { authorization: 'Basic !!!notbase64' }, 400],
      ['an unknown auth scheme', '/token?service=registry.test', { authorization: 'Digest x' }, 400],
      ['a huge header', '/token?service=registry.test', { 'x-filler': 'a'.repeat(20_000) }, 431],
      ['an unknown service', '/token?service=nope.example', {}, 400],
      ['100 scopes', `/token?service=registry.test&${Array.from({ length: 100 }, (_, i) => `scope=repository:r${i}:pull`).join('&')}`, {}, 400],
      ['a wrong password', '/token?service=registry.test', { authorization: basic('alice', 'nope') }, 401],
      ['an unknown user', '/token?service=registry.test', { authorization: basic('nobody', 'nope') }, 401],
      ['an account that is not the user', '/token?service=registry.test&account=root', { authorization: basic('alice', PASSWORDS.alice) }, 400],
    ] as const)('%s gets a 4xx with the registry JSON error, and the server keeps serving', async (_name, path, headers, status) => {
      const res = await call(`${server.url}${path}`, ca, { headers: { ...headers } });
      expect(res.status).toBe(status);
      if (status !== 431) {
        expect(res.headers['content-type']).toMatch(/application\/json/);
        expect(Array.isArray(res.body.errors)).toBe(true);
      }
      if (status === 401) expect(res.headers['www-authenticate']).toMatch(/^Basic realm=/);
      const ok = await call(`${server.url}/token?service=${SERVICE}&scope=repository:public/x:pull`, ca);
      expect(ok.status).toBe(200);
    });
  });

  it('serves Prometheus metrics with the token outcomes and the process figures', async () => {
    expect((await call(`${server.url}/token?service=${SERVICE}&scope=repository:public/x:pull`, ca)).status).toBe(200);
    const res = (await httpsRequest(`${server.url}/metrics`, ca)).text;
    expect(res).toMatch(/^portcullis_token_requests_total\{outcome="issued"\} [1-9]/m);
    expect(res).toMatch(/^process_resident_memory_bytes [1-9]/m);
    expect(res).toMatch(/^nodejs_heap_size_used_bytes [1-9]/m);
  });

  it('users imported from an htpasswd file log in with their old passwords', async () => {
    // htpasswd -B writes $2y$ hashes; make them the way it does (bcrypt, cost 5) with known passwords.
    const bcrypt = await import('bcrypt');
    const lines = await Promise.all(
      [
        ['migrated-1', 'old-password-1'],
        ['Migrated.Two', 'old password 2'],
      ].map(async ([u, p]) => `${u}:${(await bcrypt.hash(p!, 5)).replace(/^\$2b\$/, '$2y$')}`),
    );
    const htpasswdPath = join(dir, 'htpasswd');
    await writeFile(htpasswdPath, `${lines.join('\n')}\n`);
    const imported = await portcullis(['import', 'htpasswd', htpasswdPath, '--registry', 'registry/legacy']);
    expect(imported.code, imported.stderr).toBe(0);
    const legacy = join(dir, 'legacy');
    await writeFile(
      join(dir, 'legacy.yaml'),
      `${imported.stdout}---
apiVersion: portcullis.dev/v1alpha1
kind: Registry
metadata: {name: legacy, namespace: registry}
spec: {service: legacy.test}
`,
    );
    const compiled = await portcullis(['compile', '-f', join(dir, 'legacy.yaml'), '-o', legacy]);
    expect(compiled.code, compiled.stderr + compiled.stdout).toBe(0);
    const legacyServer = await startTokenServer(
      ['--policy-dir', legacy, '--keys-dir', join(dir, 'keys'), '--tls-cert', tls.serverCertPath, '--tls-key', tls.serverKeyPath],
      { tls: true },
    );
    try {
      for (const [user, password, status] of [
        ['migrated-1', 'old-password-1', 200],
        ['Migrated.Two', 'old password 2', 200],
        ['migrated-1', 'old password 2', 401],
      ] as const) {
        const res = await call(`${legacyServer.url}/token?service=legacy.test`, ca, { headers: { authorization: basic(user, password) } });
        expect(res.status, `${user}`).toBe(status);
      }
    } finally {
      await legacyServer.stop();
    }
  });
});
