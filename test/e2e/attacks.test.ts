// The tenant-isolation review's findings as attacks on the real thing: a real API server, the operator and
// the live token server under deploy/rbac's ServiceAccounts, Distribution v3 trusting the operator's
// bundle, and crane as the client. Each attack worked before the fix; each is asserted by the refusal
// itself (the registry's UNAUTHORIZED/DENIED in what crane printed, the missing action in the token, the
// status condition), and beside it stands the legitimate request that must still work.
import bcrypt from 'bcrypt';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError, KubeClient, objectPath, Resources } from '../../kube/request.js';
import { craneCatalog, cranePush, registryRefusal, type ClientContext } from '../harness/clients.js';
import { kubectl, type ControlPlane } from '../../local/controlPlane.js';
import { httpsRequest } from '../../local/https.js';
import { buildImage, type BuiltImage } from '../../local/image.js';
import { waitFor } from '../../local/process.js';
import { startTokenServer } from '../harness/portcullis.js';
import { EXAMPLE_PASSWORDS, EXAMPLE_SERVICE, startExampleStack, type Stack } from '../harness/stack.js';
import { repoRoot } from '../../local/tools.js';

let cp: ControlPlane;
let dir: string;
let stack: Stack;
let image: BuiltImage;
let ca: Buffer;

async function must(args: string[], input?: string): Promise<string> {
  const r = await kubectl(cp, args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

interface Status {
  conditions?: { type: string; status: string; reason: string; message: string }[];
}
async function condition(kind: string, ns: string, name: string, type = 'Ready') {
  const r = await kubectl(cp, ['get', kind, name, '-n', ns, '-o', 'json']);
  if (r.code !== 0) return undefined;
  return ((JSON.parse(r.stdout) as { status?: Status }).status?.conditions ?? []).find((c) => c.type === type);
}
async function waitForReason(kind: string, ns: string, name: string, reason: string, type = 'Ready') {
  await waitFor(
    `${kind} ${ns}/${name} ${type} reason ${reason}`,
    async () => (await condition(kind, ns, name, type))?.reason === reason,
    30_000,
    () => stack.logs(),
  );
}

/** Several objects as one `kubectl apply -f -` input. */
const list = (...items: unknown[]): string => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

/** A RegistryUser with its password Secret. */
function user(ns: string, name: string, password: string, spec: Record<string, unknown> = {}): string {
  const registryRef = ns === 'registry' ? { name: 'main' } : { name: 'main', namespace: 'registry' };
  return list(
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-password`, namespace: ns }, stringData: { password } },
    {
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'RegistryUser',
      metadata: { name, namespace: ns },
      spec: { registryRef, passwordSecretRef: { name: `${name}-password` }, ...spec },
    },
  );
}

const as = (username: string, password: string): ClientContext => ({ tls: stack.tls, auth: { username, password } });
const ref = (repo: string) => `${stack.registry.host}/${repo}:latest`;
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const token = (query: string, headers: Record<string, string> = {}) =>
  httpsRequest(`${stack.tokenUrl}/token?service=${EXAMPLE_SERVICE}&${query}`, ca, { headers });
const post = (fields: Record<string, string>) =>
  httpsRequest(`${stack.tokenUrl}/token`, ca, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-attacks-'));
  ({ cp, stack } = await startExampleStack({ dir, operatorReplicas: 1, controlPlane: { auditLog: 'secret-reads' } }));
  ca = await readFile(stack.tls.caCertPath);
  image = await buildImage(join(dir, 'image'));
  // team-b's namespace, labelled like team-a's, so the Registry's delegation admits it too.
  await must(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-b', labels: { team: 'b' } } }));
});

afterAll(async () => {
  await stack?.stop();
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a delegated namespace reaches nothing outside its prefixes', () => {
  it('a tenant user claiming group team-b cannot push, pull or delete team-b/app; team-b itself can', async () => {
    await must(['apply', '-f', '-'], user('team-a', 'mallory', 'mallory-password-1', { groups: ['team-b'] }));
    await waitForReason('registryuser', 'team-a', 'mallory', 'Compiled');
    expect(await stack.granted('mallory', 'mallory-password-1', 'team-b/app')).toEqual([]);
    const pushed = await cranePush(image.layoutDir, ref('team-b/app'), as('mallory', 'mallory-password-1'));
    expect(registryRefusal(pushed), pushed.stderr).toBe('UNAUTHORIZED');
    // The examples' bob is in group team-b in the Registry's own namespace: the grant works for him.
    expect(await stack.granted('bob', EXAMPLE_PASSWORDS.bob, 'team-b/app')).toEqual(['pull', 'push', 'delete']);
  });

  it('a tenant user named library cannot push library/alpine through ${user}/*; ci-bot can', async () => {
    await must(['apply', '-f', '-'], user('team-a', 'library', 'library-password-1'));
    await waitForReason('registryuser', 'team-a', 'library', 'Compiled');
    expect(await stack.granted('library', 'library-password-1', 'library/alpine')).toEqual([]);
    const pushed = await cranePush(image.layoutDir, ref('library/alpine'), as('library', 'library-password-1'));
    expect(registryRefusal(pushed), pushed.stderr).toBe('UNAUTHORIZED');
    const legit = await cranePush(image.layoutDir, ref('library/alpine'), as('ci-bot', EXAMPLE_PASSWORDS['ci-bot']));
    expect(legit.code, legit.stderr).toBe(0);
  });

  it("a tenant cannot take over the admin's ci-bot: the Registry's own namespace keeps the name, the squatter reports UsernameConflict", async () => {
    await must(['apply', '-f', '-'], user('team-a', 'squatter', 'squatter-password-1', { username: 'ci-bot' }));
    await waitForReason('registryuser', 'team-a', 'squatter', 'UsernameConflict');
    expect((await condition('registryuser', 'team-a', 'squatter'))?.message).toContain('registry/ci-bot');
    // While the admin's ci-bot is away, the squatter holds the name, but only within team-a/**...
    await must(['delete', 'registryuser', 'ci-bot', '-n', 'registry']);
    await waitForReason('registryuser', 'team-a', 'squatter', 'Compiled');
    expect(await stack.granted('ci-bot', 'squatter-password-1', 'library/base')).toEqual([]);
    const offline = await token('offline_token=true&scope=repository:team-a/x:pull', { authorization: basic('ci-bot', 'squatter-password-1') });
    expect(offline.status).toBe(200);
    const squattersRefresh = (JSON.parse(offline.text) as { refresh_token: string }).refresh_token;
    // ...and when the admin recreates ci-bot, the admin's wins whatever the age, and the squatter's session ends.
    await must(['apply', '-f', join(repoRoot, 'examples', 'users.yaml')]);
    await waitForReason('registryuser', 'team-a', 'squatter', 'UsernameConflict');
    await waitFor(
      'admin ci-bot back',
      async () => (await stack.granted('ci-bot', EXAMPLE_PASSWORDS['ci-bot'], 'library/base')).includes('push'),
      30_000,
      () => stack.logs(),
    );
    expect(await stack.granted('ci-bot', 'squatter-password-1', 'team-a/x')).toEqual([]);
    const refreshed = await post({ grant_type: 'refresh_token', refresh_token: squattersRefresh, client_id: 'attack', service: EXAMPLE_SERVICE });
    expect(refreshed.status).toBe(401);
    expect((JSON.parse(refreshed.text) as { errors: { code: string }[] }).errors[0]?.code).toBe('UNAUTHORIZED');
  });

  it('a grant in team-a cannot give anonymous users the catalog (CatalogNotDelegated)', async () => {
    const grant = {
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'RepositoryGrant',
      metadata: { name: 'leak', namespace: 'team-a' },
      spec: {
        registryRef: { name: 'main', namespace: 'registry' },
        subjects: [{ kind: 'Anonymous' }],
        repositories: ['team-a/x'],
        actions: ['pull'],
        catalog: true,
      },
    };
    await must(['apply', '-f', '-'], JSON.stringify(grant));
    await waitForReason('repositorygrant', 'team-a', 'leak', 'CatalogNotDelegated');
    const anonymous = await craneCatalog(stack.registry.host, { tls: stack.tls });
    expect(registryRefusal(anonymous), anonymous.stderr).toBe('UNAUTHORIZED');
    const admin = await craneCatalog(stack.registry.host, as('ci-bot', EXAMPLE_PASSWORDS['ci-bot']));
    expect(admin.code, admin.stderr).toBe(0);
  });

  it("a tenant's own robot still pushes within its prefix", async () => {
    await must(['apply', '-f', '-'], user('team-a', 'team-a-builder', 'builder-password-1'));
    const grant = {
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'RepositoryGrant',
      metadata: { name: 'builder', namespace: 'team-a' },
      spec: {
        registryRef: { name: 'main', namespace: 'registry' },
        subjects: [{ kind: 'User', name: 'team-a-builder' }],
        repositories: ['team-a/**'],
        actions: ['pull', 'push'],
      },
    };
    await must(['apply', '-f', '-'], JSON.stringify(grant));
    await waitForReason('repositorygrant', 'team-a', 'builder', 'Compiled');
    await waitFor(
      'builder may push',
      async () => (await stack.granted('team-a-builder', 'builder-password-1', 'team-a/tool')).includes('push'),
      30_000,
      () => stack.logs(),
    );
    const pushed = await cranePush(image.layoutDir, ref('team-a/tool'), as('team-a-builder', 'builder-password-1'));
    expect(pushed.code, pushed.stderr).toBe(0);
    const outside = await cranePush(image.layoutDir, ref('team-b/tool'), as('team-a-builder', 'builder-password-1'));
    expect(registryRefusal(outside), outside.stderr).toBe('UNAUTHORIZED');
  });
});

describe('keys and secrets stay with the process that needs them', () => {
  let tokenServerClient: KubeClient;
  beforeAll(async () => {
    tokenServerClient = new KubeClient((await cp.kubeconfigForServiceAccount('registry', 'portcullis-token-server')).kubeConfig);
  });
  afterAll(() => tokenServerClient?.close());
  const status = async (p: Promise<unknown>) =>
    p.then(
      () => 200,
      (e: unknown) => (e instanceof KubeApiError ? e.code : -1),
    );

  it.each([
    ['the CA Secret (the CA private key)', 'portcullis-main-ca'],
    ["a user's password Secret", 'ci-bot-password'],
    ['the hash bookkeeping', 'portcullis-main-hash-sources'],
  ])('the token server cannot read %s, by get or by a list of that name', async (_what, name) => {
    expect(await status(tokenServerClient.get(objectPath(Resources.secrets, 'registry', name)))).toBe(403);
    expect(await status(tokenServerClient.get('/api/v1/namespaces/registry/secrets', { fieldSelector: `metadata.name=${name}` }))).toBe(403);
  });

  it('the token server cannot list Secrets, and can read exactly what it signs and verifies with', async () => {
    expect(await status(tokenServerClient.get('/api/v1/namespaces/registry/secrets'))).toBe(403);
    expect(await status(tokenServerClient.get(objectPath(Resources.secrets, 'registry', 'portcullis-main-signing')))).toBe(200);
    expect(await status(tokenServerClient.get(objectPath(Resources.secrets, 'registry', 'portcullis-main-credentials')))).toBe(200);
  });

  it('the operator never reads the Secret of a user its Registry does not admit, and does read an admitted one', async () => {
    await must(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'outsider' } }));
    await must(['apply', '-f', '-'], user('outsider', 'intruder', 'intruder-password-1'));
    await must(['apply', '-f', '-'], user('team-a', 'insider', 'insider-password-1'));
    await waitForReason('registryuser', 'outsider', 'intruder', 'NamespaceNotAllowed');
    await waitForReason('registryuser', 'team-a', 'insider', 'Compiled');
    const events = (await readFile(cp.auditLogPath!, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { verb: string; user: { username: string }; objectRef?: { resource?: string; namespace?: string; name?: string } });
    const operatorRead = (ns: string, name: string) =>
      events.some(
        (e) =>
          e.verb === 'get' &&
          e.user.username === 'system:serviceaccount:portcullis-system:portcullis-operator' &&
          e.objectRef?.resource === 'secrets' &&
          e.objectRef.namespace === ns &&
          e.objectRef.name === name,
      );
    expect(operatorRead('team-a', 'insider-password')).toBe(true);
    expect(operatorRead('outsider', 'intruder-password')).toBe(false);
  });
});

describe('revocation lasts', () => {
  async function refreshTokenOf(username: string, password: string): Promise<string> {
    const r = await post({
      grant_type: 'password',
      username,
      password,
      access_type: 'offline',
      client_id: 'attack',
      service: EXAMPLE_SERVICE,
      scope: 'repository:team-a/app:pull',
    });
    expect(r.status, r.text).toBe(200);
    return (JSON.parse(r.text) as { refresh_token: string }).refresh_token;
  }
  const redeem = (refreshToken: string) =>
    post({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'attack', service: EXAMPLE_SERVICE, scope: 'repository:team-a/app:pull' });

  it('a refresh token stays dead after its user is disabled and enabled again', async () => {
    const refreshToken = await refreshTokenOf('alice', EXAMPLE_PASSWORDS.alice);
    expect((await redeem(refreshToken)).status).toBe(200);
    await must(['patch', 'registryuser', 'alice', '-n', 'registry', '--type=merge', '-p', '{"spec":{"disabled":true}}']);
    await waitForReason('registryuser', 'registry', 'alice', 'UserDisabled');
    await must(['patch', 'registryuser', 'alice', '-n', 'registry', '--type=merge', '-p', '{"spec":{"disabled":false}}']);
    await waitForReason('registryuser', 'registry', 'alice', 'Compiled');
    await waitFor(
      'alice logs in again',
      async () => (await stack.granted('alice', EXAMPLE_PASSWORDS.alice, 'team-a/app')).includes('pull'),
      30_000,
      () => stack.logs(),
    );
    const r = await redeem(refreshToken);
    expect(r.status).toBe(401);
    expect((JSON.parse(r.text) as { errors: { code: string }[] }).errors[0]?.code).toBe('UNAUTHORIZED');
  });

  it('a refresh token stays dead after its user is deleted and recreated with the same Secret (an htpasswd hash, so the same credential)', async () => {
    const hash = await bcrypt.hash('reborn-password-1', 4);
    const reborn = {
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'RegistryUser',
      metadata: { name: 'reborn', namespace: 'registry' },
      spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: 'reborn-password', key: 'htpasswd' }, groups: ['team-a'] },
    };
    await must(
      ['apply', '-f', '-'],
      list({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'reborn-password', namespace: 'registry' }, stringData: { htpasswd: hash } }, reborn),
    );
    await waitForReason('registryuser', 'registry', 'reborn', 'Compiled');
    const refreshToken = await refreshTokenOf('reborn', 'reborn-password-1');
    expect((await redeem(refreshToken)).status).toBe(200);
    await must(['delete', 'registryuser', 'reborn', '-n', 'registry']);
    await waitFor(
      'reborn gone',
      async () => (await stack.granted('reborn', 'reborn-password-1', 'team-a/app')).length === 0,
      30_000,
      () => stack.logs(),
    );
    await must(['apply', '-f', '-'], JSON.stringify(reborn));
    await waitFor(
      'reborn back',
      async () => (await stack.granted('reborn', 'reborn-password-1', 'team-a/app')).includes('pull'),
      30_000,
      () => stack.logs(),
    );
    const r = await redeem(refreshToken);
    expect(r.status).toBe(401);
    expect((JSON.parse(r.text) as { errors: { code: string }[] }).errors[0]?.code).toBe('UNAUTHORIZED');
  });

  it('a younger Registry claiming the same service from a namespace that sorts first takes nothing over, and both say so', async () => {
    await must(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'aaa' } }));
    await must(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'portcullis.dev/v1alpha1',
        kind: 'Registry',
        metadata: { name: 'main', namespace: 'aaa' },
        spec: { service: EXAMPLE_SERVICE },
      }),
    );
    await waitForReason('registry', 'aaa', 'main', 'ServiceConflict');
    await waitForReason('registry', 'registry', 'main', 'ServiceConflict', 'Conflicted');
    expect((await condition('registry', 'registry', 'main'))?.status).toBe('True');
    // The original keeps publishing: a revocation made now still takes effect.
    expect(await stack.granted('bob', EXAMPLE_PASSWORDS.bob, 'team-b/app')).toContain('push');
    await must(['patch', 'registryuser', 'bob', '-n', 'registry', '--type=merge', '-p', '{"spec":{"disabled":true}}']);
    await waitFor(
      'bob revoked',
      async () => (await stack.granted('bob', EXAMPLE_PASSWORDS.bob, 'team-b/app')).length === 0,
      30_000,
      () => stack.logs(),
    );
    // And when the usurper goes, the conflict clears.
    await must(['delete', 'registry', 'main', '-n', 'aaa']);
    await waitFor(
      'Conflicted cleared',
      async () => (await condition('registry', 'registry', 'main', 'Conflicted')) === undefined,
      30_000,
      () => stack.logs(),
    );
  });
});

describe('guessing passwords does not work and reveals nothing', () => {
  // Last in the file: these use up the budgets of 127.0.0.1, where every other test's client is too.
  it('a $2y$31$ hash in a Secret is refused (InvalidCredential), and logins against it answer at once instead of hanging', async () => {
    const hash = `$2y$31$${'A'.repeat(53)}`;
    await must(
      ['apply', '-f', '-'],
      list(
        { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'slow-password', namespace: 'registry' }, stringData: { htpasswd: `slow:${hash}` } },
        {
          apiVersion: 'portcullis.dev/v1alpha1',
          kind: 'RegistryUser',
          metadata: { name: 'slow', namespace: 'registry' },
          spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: 'slow-password', key: 'htpasswd' } },
        },
      ),
    );
    await waitForReason('registryuser', 'registry', 'slow', 'InvalidCredential');
    expect((await condition('registryuser', 'registry', 'slow'))?.message).toMatch(/bcrypt cost 31, outside the accepted 4\.\.14/);
    const r = await httpsRequest(`${stack.tokenUrl}/token?service=${EXAMPLE_SERVICE}`, ca, {
      headers: { authorization: basic('slow', 'anything') },
      timeoutMs: 10_000,
    });
    expect(r.status).toBe(401);
  });

  it('an unknown user and a wrong password get the same answer', async () => {
    const unknown = await token('scope=repository:team-b/app:pull', { authorization: basic('nobody-at-all', 'x') });
    const wrong = await token('scope=repository:team-b/app:pull', { authorization: basic('ci-bot', 'x') });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(unknown.text).toBe(wrong.text);
    const shape = (h: Record<string, unknown>) =>
      Object.keys(h)
        .filter((k) => k !== 'date')
        .sort()
        .map((k) => `${k}: ${k === 'content-length' ? '' : String(h[k])}`);
    expect(shape(unknown.headers)).toEqual(shape(wrong.headers));
  });

  it('200 concurrent wrong passwords for one account from one address: at most the budget is checked, the rest get 429', async () => {
    await must(['apply', '-f', '-'], user('registry', 'victim', 'victim-password-1'));
    await waitForReason('registryuser', 'registry', 'victim', 'Compiled');
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => token('scope=repository:team-a/app:pull', { authorization: basic('victim', `guess-${i}`) })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    // The default budget is 10 failures per account and address per minute.
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(10);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(190);
    const throttled = responses.find((r) => r.status === 429)!;
    expect(throttled.headers['retry-after']).toMatch(/^\d+$/);
    expect((JSON.parse(throttled.text) as { errors: { code: string }[] }).errors[0]?.code).toBe('TOOMANYREQUESTS');
  });

  it('behind one trusted proxy hop (--trust-proxy 1), a client cannot pick its address, and other clients behind the proxy are unaffected', async () => {
    const proxied = await startTokenServer(
      ['--registry', 'registry/main', '--tls-cert', stack.tls.serverCertPath, '--tls-key', stack.tls.serverKeyPath, '--trust-proxy', '1'],
      { tls: true, env: { ...process.env, KUBECONFIG: (await cp.kubeconfigForServiceAccount('registry', 'portcullis-token-server')).path } },
    );
    try {
      const url = `${proxied.url}/token?service=${EXAMPLE_SERVICE}`;
      await waitFor(
        'proxied token server ready',
        async () => (await httpsRequest(url, ca)).status === 200,
        30_000,
        () => proxied.process.output(),
      );
      // The proxy appends the real client (203.0.113.5) after whatever the client itself sent.
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        const r = await httpsRequest(url, ca, { headers: { authorization: basic(`spray-${i}`, 'x'), 'x-forwarded-for': `198.51.100.${i}, 203.0.113.5` } });
        statuses.push(r.status);
      }
      expect(statuses).toContain(429);
      const other = await httpsRequest(url, ca, {
        headers: { authorization: basic('ci-bot', EXAMPLE_PASSWORDS['ci-bot']), 'x-forwarded-for': '203.0.113.77' },
      });
      expect(other.status).toBe(200);
    } finally {
      await proxied.stop();
    }
  });

  it('a client rotating X-Forwarded-For is still one address to the limits (no --trust-proxy)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await httpsRequest(`${stack.tokenUrl}/token?service=${EXAMPLE_SERVICE}`, ca, {
        headers: { authorization: basic(`spray-${i}`, 'x'), 'x-forwarded-for': `198.51.100.${i}` },
      });
      statuses.push(r.status);
    }
    expect(statuses).toContain(429);
  });
});
