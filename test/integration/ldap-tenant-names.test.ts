// A tenant must not take a directory user's name away. A Registry delegates namespace team-a and logs
// people in from a real slapd; team-a creates a RegistryUser called `dana`, a directory user's name, and
// claims the directory's group for it. The policy is compiled from manifests as `portcullis compile` does,
// and the token server is the real app (inject, no sockets), so routing, both caches, the budgets and the
// refusals are the ones a client meets. Each password gets exactly its own source's identity and grants;
// a RegistryUser of the Registry's own namespace still shadows the directory (the owner's choice).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compileManifests } from '../../bin/commands/compile.js';
import { LDAP_PASSWORDS, startSlapd, type RunningSlapd } from '../../local/slapd.js';
import { parseCredentials, parseSnapshot } from '../../policy/snapshot-format.js';
import { assemble, type AppOptions } from '../../token-server/app.js';
import { clientKey } from '../../token-server/client-key.js';
import type { AppContext } from '../../token-server/context.js';
import { buildPolicyState } from '../../token-server/sources/policy-state.js';
import type { KeyState, PolicyState } from '../../token-server/sources/types.js';
import { CREDENTIALS_FILE, SNAPSHOT_FILE } from '../../wire/files.js';
import { ldapRegistryManifests } from '../support/ldap-manifests.js';
import { basic, captureLogger, keysForFile, MemorySource } from '../support/token-server-fixtures.js';

const SERVICE = 'registry.tenant-names.test';
const TENANT_PASSWORD = 'team-a-dana-password';
const OWNER_FAY_PASSWORD = 'fay-registryuser-password';
const keys = keysForFile(new Date());

function manifests(slapd: RunningSlapd, tenantPassword: string): string {
  return `${ldapRegistryManifests(slapd, SERVICE, ['timeout: 2s'])}---
apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: ldap-dev, namespace: registry}
spec: {registryRef: {name: main}, subjects: [{kind: Group, name: "ldap:dev"}], repositories: ["dev/**"], actions: [pull, push]}
---
apiVersion: v1
kind: Secret
metadata: {name: fay-password, namespace: registry}
stringData: {password: ${OWNER_FAY_PASSWORD}}
---
apiVersion: portcullis.dev/v1alpha1
kind: RegistryUser
metadata: {name: fay, namespace: registry}
spec: {registryRef: {name: main}, passwordSecretRef: {name: fay-password}, groups: [builders]}
---
apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: builders, namespace: registry}
spec: {registryRef: {name: main}, subjects: [{kind: Group, name: builders}], repositories: ["builds/**"], actions: [pull]}
---
apiVersion: v1
kind: Secret
metadata: {name: dana-password, namespace: team-a}
stringData: {password: ${tenantPassword}}
---
apiVersion: portcullis.dev/v1alpha1
kind: RegistryUser
metadata: {name: dana, namespace: team-a}
spec: {registryRef: {name: main, namespace: registry}, passwordSecretRef: {name: dana-password}, groups: ["ldap:dev"]}
---
apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: dana, namespace: team-a}
spec: {registryRef: {name: main, namespace: registry}, subjects: [{kind: User, name: dana}], repositories: ["team-a/**"], actions: [pull, push]}
`;
}

let slapd: RunningSlapd;
let dir: string;
const apps: FastifyInstance[] = [];

async function compiledPolicy(tenantPassword = TENANT_PASSWORD): Promise<PolicyState> {
  const out = join(dir, `out-${tenantPassword}`);
  await writeFile(join(dir, 'policy.yaml'), manifests(slapd, tenantPassword));
  const outcome = await compileManifests({ files: [join(dir, 'policy.yaml')], outDir: out, cost: 4 });
  if (outcome.exitCode !== 0) throw new Error(`compile: ${outcome.err.join('\n')}`);
  const snapshot = parseSnapshot(await readFile(join(out, SNAPSHOT_FILE), 'utf8'));
  const credentials = parseCredentials(await readFile(join(out, CREDENTIALS_FILE), 'utf8'));
  return buildPolicyState(snapshot, credentials, new Date());
}

interface Server {
  app: FastifyInstance;
  ctx: AppContext;
  policy: MemorySource<PolicyState>;
  log: ReturnType<typeof captureLogger>;
}

async function server(extra: Partial<AppOptions> = {}): Promise<Server> {
  const policy = new MemorySource<PolicyState>(await compiledPolicy());
  const log = captureLogger();
  const { app, ctx } = await assemble({ policy, keys: new MemorySource<KeyState>({ set: keys.set, loadedAt: new Date() }), logger: log.logger, ...extra });
  apps.push(app);
  return { app, ctx, policy, log };
}

const SCOPES = ['dev/app', 'team-a/app', 'builds/app'].map((r) => `scope=repository:${r}:pull,push`).join('&');

function token(s: Server, username: string, password: string, remoteAddress = '127.0.0.1'): Promise<LightMyRequestResponse> {
  return s.app.inject({ method: 'GET', url: `/token?service=${SERVICE}&${SCOPES}`, remoteAddress, headers: { authorization: basic(username, password) } });
}

/** repository -> the actions the token grants, from a 200 answer; throws on any other. */
function granted(res: LightMyRequestResponse): Record<string, string[]> {
  if (res.statusCode !== 200) throw new Error(`expected a token, got ${res.statusCode} ${res.body}`);
  const claims = decodeJwt<{ access?: { name: string; actions: string[] }[] }>(res.json<{ token: string }>().token);
  return Object.fromEntries((claims.access ?? []).map((a) => [a.name, [...a.actions].sort()]));
}

const DIRECTORY_DANA = { 'dev/app': ['pull', 'push'] };
const TENANT_DANA = { 'team-a/app': ['pull', 'push'] };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-tenant-names-'));
  slapd = await startSlapd();
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});
afterAll(async () => {
  await slapd?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("a tenant's RegistryUser named like a directory user", () => {
  it('does not lock the directory user out: dana gets her token with her directory grants', async () => {
    const s = await server();
    expect(granted(await token(s, 'dana', LDAP_PASSWORDS.dana))).toEqual(DIRECTORY_DANA);
  });

  it("gives each password its own identity, fresh or cached: the tenant's only its confined grants, the directory's only hers", async () => {
    const s = await server();
    for (let round = 0; round < 2; round++) {
      // The tenant's user claims ldap:dev, which only counts inside team-a's prefixes.
      expect(granted(await token(s, 'dana', TENANT_PASSWORD))).toEqual(TENANT_DANA);
      expect(granted(await token(s, 'dana', LDAP_PASSWORDS.dana))).toEqual(DIRECTORY_DANA);
    }
    const metrics = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('portcullis_identity_checks_total{source="ldap",result="ok"} 1');
    expect(metrics).toContain('portcullis_identity_checks_total{source="ldap",result="cached"} 1');
    expect(s.log.text()).not.toContain(TENANT_PASSWORD);
    expect(s.log.text()).not.toContain(LDAP_PASSWORDS.dana);
  });

  it("a directory success stops answering once the tenant's password is the same one: that password is then the RegistryUser's, as uncached", async () => {
    const s = await server();
    expect(granted(await token(s, 'dana', LDAP_PASSWORDS.dana))).toEqual(DIRECTORY_DANA);
    s.policy.set(await compiledPolicy(LDAP_PASSWORDS.dana));
    expect(granted(await token(s, 'dana', LDAP_PASSWORDS.dana))).toEqual(TENANT_DANA);
  });

  it('a wrong password gets the 401 any wrong password gets, and each attempt counts once against the budget', async () => {
    const s = await server({ limits: { failuresPerAccountAndAddress: 3, failuresPerAddress: 100 } });
    const unknown = await token(s, 'nobody-here', 'whatever');
    const owners = await token(s, 'fay', 'not-the-password');
    expect(unknown.statusCode).toBe(401);
    for (const attempt of ['wrong-1', 'wrong-2']) {
      const res = await token(s, 'dana', attempt);
      expect(res.statusCode).toBe(401);
      expect(res.body).toBe(unknown.body);
      expect(res.body).toBe(owners.body);
      expect(res.headers['www-authenticate']).toBe(unknown.headers['www-authenticate']);
    }
    // Two failures of a budget of three: counted twice each, this one would be refused.
    expect(granted(await token(s, 'dana', LDAP_PASSWORDS.dana))).toEqual(DIRECTORY_DANA);
    expect((await token(s, 'dana', 'wrong-3')).statusCode).toBe(401);
    expect((await token(s, 'dana', 'wrong-4')).statusCode).toBe(429);
  });

  it("the tenant's own login does not exempt guesses at the directory user from the address budget", async () => {
    // Known clients skip the address budget. Counted under the name both share, a tenant logging in with
    // its own password would make every later guess at dana's directory password from here skip it too.
    const s = await server({ limits: { failuresPerAccountAndAddress: 100, failuresPerAddress: 3 } });
    expect(granted(await token(s, 'dana', TENANT_PASSWORD))).toEqual(TENANT_DANA);
    for (const guess of ['guess-1', 'guess-2', 'guess-3']) expect((await token(s, 'dana', guess)).statusCode).toBe(401);
    const refused = await token(s, 'dana', 'guess-4');
    expect(refused.statusCode).toBe(429);
    expect(refused.json().errors[0].code).toBe('TOOMANYREQUESTS');
  });

  it('counts an IPv6 client by its /64: guesses from one address of it throttle another address of it, not another /64', async () => {
    const s = await server({ limits: { failuresPerAccountAndAddress: 2, failuresPerAddress: 100 } });
    expect((await token(s, 'dana', 'wrong-1', '2001:db8:77:1::1')).statusCode).toBe(401);
    expect((await token(s, 'dana', 'wrong-2', '2001:db8:77:1::2')).statusCode).toBe(401);
    const neighbour = await token(s, 'dana', LDAP_PASSWORDS.dana, '2001:db8:77:1:ffff::3');
    expect(neighbour.statusCode, neighbour.body).toBe(429);
    // The same wrong password again from elsewhere in the /64 is a repeat, answered before the budget.
    expect((await token(s, 'dana', 'wrong-1', '2001:db8:77:1::4')).statusCode).toBe(401);
    expect(granted(await token(s, 'dana', LDAP_PASSWORDS.dana, '2001:db8:77:2::1'))).toEqual(DIRECTORY_DANA);
    const metrics = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('portcullis_identity_checks_total{source="ldap",result="refused"} 2');
    // The audit lines name each address whole.
    expect(s.log.lines.filter((l) => l.audit === 'refused').map((l) => l.client)).toEqual([
      '2001:db8:77:1::1',
      '2001:db8:77:1::2',
      '2001:db8:77:1:ffff::3',
      '2001:db8:77:1::4',
    ]);
  });

  it("the directory's place is the attempt's from its turn's start: another check taking the client's places during bcrypt cannot turn it away", async () => {
    // Asked for after bcrypt, the place could be gone (the client's own ServiceAccount reviews): a quick
    // 429 after the hash rejected the password, a tenant-held name's alone and a free answer about the
    // tenant's password. Here another check of the same client asks for its one place during bcrypt.
    const turnedAway: unknown[] = [];
    const s: Server = await server({
      limits: { failuresPerAccountAndAddress: 2, failuresPerAddress: 100 },
      remoteCheckQueue: { perClient: 1 },
      comparePassword: (password, hash) => {
        s.ctx.remoteChecks.run(clientKey('127.0.0.1'), () => Promise.resolve()).catch((error: unknown) => turnedAway.push(error));
        return bcrypt.compare(password, hash);
      },
    });
    expect((await token(s, 'dana', 'guess-1')).statusCode).toBe(401);
    expect((await token(s, 'dana', 'guess-2')).statusCode).toBe(401);
    expect(turnedAway).toHaveLength(2);
    // Both counted: the right one is now over the budget, as any third guess is.
    expect((await token(s, 'dana', TENANT_PASSWORD)).statusCode).toBe(429);
    expect(s.log.lines.filter((l) => l.reason === 'too many failed attempts')).toHaveLength(1);
  });

  it('with no room for a directory check, every login is a 429 before anything is checked or counted, the right password too', async () => {
    const s = await server({ limits: { failuresPerAccountAndAddress: 2, failuresPerAddress: 100 }, remoteCheckQueue: { perClient: 0 } });
    for (const [user, password] of [
      ['dana', 'guess-1'],
      ['dana', 'guess-2'],
      ['fay', 'guess-3'],
      ['nobody-at-all', 'guess-4'],
      ['dana', TENANT_PASSWORD],
    ]) {
      expect((await token(s, user!, password!)).statusCode, user).toBe(429);
    }
    const metrics = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).not.toMatch(/^portcullis_password_comparisons_total\{/m);
    expect(metrics).toContain('portcullis_password_checks_refused_total{reason="queue"} 5');
    expect(s.log.lines.filter((l) => l.reason === 'too many failed attempts')).toHaveLength(0);
  });

  it("while the directory is down: the tenant's password still works, dana's and wrong ones get 503 and count; back up, dana logs in", async () => {
    const s = await server({ limits: { failuresPerAccountAndAddress: 2, failuresPerAddress: 100 } });
    await slapd.stop();
    try {
      // Guesses first: a verified password is cached, and a cached one is never throttled.
      expect((await token(s, 'dana', 'guess-1', '10.0.0.9')).statusCode).toBe(503);
      expect((await token(s, 'dana', 'guess-2', '10.0.0.9')).statusCode).toBe(503);
      expect((await token(s, 'dana', TENANT_PASSWORD, '10.0.0.9')).statusCode).toBe(429);
      // A directory user's attempts count too: given back, the third would be a 503 here and a 429 above.
      expect((await token(s, 'erik', 'guess-1', '10.0.0.10')).statusCode).toBe(503);
      expect((await token(s, 'erik', 'guess-2', '10.0.0.10')).statusCode).toBe(503);
      expect((await token(s, 'erik', LDAP_PASSWORDS.erik, '10.0.0.10')).statusCode).toBe(429);
      expect(granted(await token(s, 'dana', TENANT_PASSWORD))).toEqual(TENANT_DANA);
      const down = await token(s, 'dana', LDAP_PASSWORDS.dana);
      expect(down.statusCode).toBe(503);
      expect(down.body).not.toContain('"token"');
    } finally {
      await slapd.start();
    }
    expect(granted(await token(s, 'dana', LDAP_PASSWORDS.dana))).toEqual(DIRECTORY_DANA);
  });
});

describe("a RegistryUser of the Registry's own namespace", () => {
  it("still shadows the directory user of the same name (the owner's choice): only its own password logs in", async () => {
    const s = await server();
    expect(granted(await token(s, 'fay', OWNER_FAY_PASSWORD))).toEqual({ 'builds/app': ['pull'] });
    expect((await token(s, 'fay', LDAP_PASSWORDS.fay)).statusCode).toBe(401);
    const metrics = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).not.toContain('portcullis_identity_checks_total{source="ldap"');
  });

  it('shadows it under every other spelling the directory matches to that entry (a case variant)', async () => {
    const s = await server();
    // slapd's uid matching ignores case: FAY finds uid=fay. Before: 200 with the directory fay's identity.
    const variant = await token(s, 'FAY', LDAP_PASSWORDS.fay);
    expect(variant.statusCode).toBe(401);
    expect(variant.body).not.toContain('"token"');
    const metrics = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).not.toContain('portcullis_identity_checks_total{source="ldap",result="ok"}');
    // A tenant's RegistryUser shadows nothing: DANA (a tenant-held name) still reaches the directory's dana.
    expect(granted(await token(s, 'DANA', LDAP_PASSWORDS.dana))).toEqual(DIRECTORY_DANA);
  });
});
