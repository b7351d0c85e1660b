// LDAP users and groups end to end: a real slapd, a policy compiled by `portcullis compile` (the bind
// password travels from its Secret into credentials.json only), the token server from those files, a real
// Distribution v3 and crane. Group "dev" of the directory may pull and push dev/** only; nested groups
// count; removing a user from the group takes effect within the cache TTL; while slapd is down, logins
// still in the cache keep working and new ones get a clean 503, never a grant. Namespace team-a, which the
// Registry delegates, holds a RegistryUser named erik: the directory's erik keeps his name and his grants,
// the tenant's erik gets team-a's repositories only.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsRequest } from '../../local/https.js';
import type { RunningRegistry } from '../../local/registry.js';
import { createTestTLS, type TestTLS } from '../../local/tls.js';
import { cranePush, registryRefusal, type ClientContext } from '../harness/clients.js';
import { buildImage, type BuiltImage } from '../../local/image.js';
import { startCompiledSetup, type CompiledSetup, type RunningTokenServer } from '../harness/portcullis.js';
import { LDAP_PASSWORDS, LDAP_SERVICE_PASSWORD, LDAP_SUFFIX, startSlapd, type RunningSlapd } from '../../local/slapd.js';
import { leakedParts } from '../support/assert.js';
import { ldapRegistryManifests } from '../support/ldap-manifests.js';

const SERVICE = 'registry.ldap.test';
const TENANT_ERIK_PASSWORD = 'team-a-erik-password';
const CACHE_TTL_SECONDS = 3;

function manifests(slapd: RunningSlapd): string {
  const grant = (name: string, subject: string, repositories: string, actions: string) => `apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: ${name}, namespace: registry}
spec: {registryRef: {name: main}, subjects: [${subject}], repositories: [${repositories}], actions: [${actions}]}
`;
  return [
    ldapRegistryManifests(slapd, SERVICE, [`cacheTTL: ${CACHE_TTL_SECONDS}s`]),
    `apiVersion: v1
kind: Secret
metadata: {name: alice-password, namespace: registry}
stringData: {password: alice-builtin-password}
`,
    `apiVersion: portcullis.dev/v1alpha1
kind: RegistryUser
metadata: {name: alice, namespace: registry}
spec: {registryRef: {name: main}, passwordSecretRef: {name: alice-password}, groups: [dev]}
`,
    `apiVersion: v1
kind: Secret
metadata: {name: erik-password, namespace: team-a}
stringData: {password: ${TENANT_ERIK_PASSWORD}}
`,
    `apiVersion: portcullis.dev/v1alpha1
kind: RegistryUser
metadata: {name: erik, namespace: team-a}
spec: {registryRef: {name: main, namespace: registry}, passwordSecretRef: {name: erik-password}, groups: ["ldap:dev"]}
`,
    `apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: erik, namespace: team-a}
spec: {registryRef: {name: main, namespace: registry}, subjects: [{kind: User, name: erik}], repositories: ["team-a/**"], actions: [pull, push]}
`,
    grant('ldap-dev', '{kind: Group, name: "ldap:dev"}', '"dev/**"', 'pull, push'),
    grant('ldap-ops', '{kind: Group, name: "ldap:ops"}', '"ops/**"', 'pull, push'),
    grant('builtin-dev', '{kind: Group, name: dev}', '"builtin/**"', 'pull, push'),
  ].join('---\n');
}

describe('LDAP identity source e2e', () => {
  let dir: string;
  let tls: TestTLS;
  let ca: string;
  let slapd: RunningSlapd;
  let setup: CompiledSetup;
  let server: RunningTokenServer;
  let registry: RunningRegistry;
  let image: BuiltImage;
  const ref = (repo: string) => `${registry.host}/${repo}:latest`;
  const as = (username: string, password: string): ClientContext => ({ tls, auth: { username, password } });
  const token = (username: string, password: string) =>
    httpsRequest(`${server.url}/token?service=${SERVICE}&scope=repository:dev/app:pull,push`, ca, {
      headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` },
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-ldap-e2e-'));
    tls = await createTestTLS(join(dir, 'tls'));
    ca = await readFile(tls.caCertPath, 'utf8');
    slapd = await startSlapd();
    setup = await startCompiledSetup(dir, manifests(slapd), SERVICE, tls);
    ({ server, registry } = setup);
    image = await buildImage(join(dir, 'image'));
  });
  afterAll(async () => {
    await setup?.stop();
    await slapd?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the bind password out of the snapshot and in the credentials file only', async () => {
    const snapshot = await readFile(join(dir, 'snapshot', 'snapshot.json'), 'utf8');
    expect(leakedParts(snapshot, LDAP_SERVICE_PASSWORD)).toEqual([]);
    expect(await readFile(join(dir, 'snapshot', 'credentials.json'), 'utf8')).toContain(LDAP_SERVICE_PASSWORD);
  });

  it('a member of the directory group dev pushes dev/app and is refused ops/app', async () => {
    const pushed = await cranePush(image.layoutDir, ref('dev/app'), as('dana', LDAP_PASSWORDS.dana));
    expect(pushed.code, pushed.stderr).toBe(0);
    const refused = await cranePush(image.layoutDir, ref('ops/app'), as('dana', LDAP_PASSWORDS.dana));
    expect(registryRefusal(refused), refused.stderr).toBe('UNAUTHORIZED');
  });

  it('a member of a group inside dev counts as dev (nested groups)', async () => {
    const pushed = await cranePush(image.layoutDir, ref('dev/nested'), as('erik', LDAP_PASSWORDS.erik));
    expect(pushed.code, pushed.stderr).toBe(0);
  });

  it("a tenant's RegistryUser named erik takes nothing from the directory's erik, nor he from it", async () => {
    const directory = await cranePush(image.layoutDir, ref('dev/erik'), as('erik', LDAP_PASSWORDS.erik));
    expect(directory.code, directory.stderr).toBe(0);
    const directoryOnTenant = await cranePush(image.layoutDir, ref('team-a/erik'), as('erik', LDAP_PASSWORDS.erik));
    expect(registryRefusal(directoryOnTenant), directoryOnTenant.stderr).toBe('UNAUTHORIZED');
    const tenant = await cranePush(image.layoutDir, ref('team-a/erik'), as('erik', TENANT_ERIK_PASSWORD));
    expect(tenant.code, tenant.stderr).toBe(0);
    // It claims ldap:dev, which counts inside team-a's prefixes only.
    const tenantOnDev = await cranePush(image.layoutDir, ref('dev/erik'), as('erik', TENANT_ERIK_PASSWORD));
    expect(registryRefusal(tenantOnDev), tenantOnDev.stderr).toBe('UNAUTHORIZED');
    const wrong = await token('erik', 'neither-password');
    expect(wrong.status).toBe(401);
    expect(wrong.text).toBe((await token('nobody-here', 'whatever')).text);
  });

  it('the directory group dev is not the built-in group dev, and the built-in user still logs in', async () => {
    const ldapUser = await cranePush(image.layoutDir, ref('builtin/app'), as('dana', LDAP_PASSWORDS.dana));
    expect(registryRefusal(ldapUser), ldapUser.stderr).toBe('UNAUTHORIZED');
    const builtin = await cranePush(image.layoutDir, ref('builtin/app'), as('alice', 'alice-builtin-password'));
    expect(builtin.code, builtin.stderr).toBe(0);
    const builtinOnLdapGrant = await cranePush(image.layoutDir, ref('dev/alice'), as('alice', 'alice-builtin-password'));
    expect(registryRefusal(builtinOnLdapGrant), builtinOnLdapGrant.stderr).toBe('UNAUTHORIZED');
  });

  it('a wrong password, an unknown name, the empty password and a filter injection are refused alike', async () => {
    const answers = await Promise.all([
      token('fay', 'not-fays-password'),
      token('nobody-here', 'whatever'),
      token('dana', ''),
      token('*', LDAP_PASSWORDS.dana),
      token('dana)(uid=*', LDAP_PASSWORDS.dana),
    ]);
    for (const a of answers) {
      expect(a.status).toBe(401);
      expect(a.text).toBe(answers[0].text);
    }
  });

  it('a user removed from the group in the directory loses the grant within the cache TTL', async () => {
    expect((await cranePush(image.layoutDir, ref('dev/fay'), as('fay', LDAP_PASSWORDS.fay))).code).not.toBe(0);
    await slapd.modify(`dn: cn=dev,ou=groups,${LDAP_SUFFIX}\nchangetype: modify\nadd: member\nmember: uid=fay,ou=people,${LDAP_SUFFIX}\n`);
    // fay's earlier login is cached without dev: it takes effect once the cache entry expires.
    await new Promise((r) => setTimeout(r, (CACHE_TTL_SECONDS + 0.5) * 1000));
    expect((await cranePush(image.layoutDir, ref('dev/fay'), as('fay', LDAP_PASSWORDS.fay))).code).toBe(0);
    await slapd.modify(`dn: cn=dev,ou=groups,${LDAP_SUFFIX}\nchangetype: modify\ndelete: member\nmember: uid=fay,ou=people,${LDAP_SUFFIX}\n`);
    await new Promise((r) => setTimeout(r, (CACHE_TTL_SECONDS + 0.5) * 1000));
    const removed = await cranePush(image.layoutDir, ref('dev/fay'), as('fay', LDAP_PASSWORDS.fay));
    expect(registryRefusal(removed), removed.stderr).toBe('UNAUTHORIZED');
  });

  it('while slapd is down: a cached login still works, a new one gets 503 and no token, and the cache does not outlive its TTL', async () => {
    expect((await token('dana', LDAP_PASSWORDS.dana)).status).toBe(200);
    await slapd.stop();
    try {
      const cached = await token('dana', LDAP_PASSWORDS.dana);
      expect(cached.status).toBe(200);
      const fresh = await token('erik', LDAP_PASSWORDS.erik);
      expect(fresh.status).toBe(503);
      expect(JSON.parse(fresh.text)).toMatchObject({ errors: [{ code: 'UNAVAILABLE' }] });
      expect(fresh.text).not.toContain('"token"');
      await new Promise((r) => setTimeout(r, (CACHE_TTL_SECONDS + 0.5) * 1000));
      expect((await token('dana', LDAP_PASSWORDS.dana)).status).toBe(503);
    } finally {
      await slapd.start();
    }
    expect((await token('erik', LDAP_PASSWORDS.erik)).status).toBe(200);
  });
});
