// The LDAP identity source against a real OpenLDAP slapd: search-then-bind over ldaps:// and StartTLS,
// groups (nested or not), the attacks a directory login invites (filter injection, the empty-password
// "unauthenticated bind", a wrong CA), and an outage: never a grant, `unavailable` rather than "wrong
// password", and back to work when slapd returns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LdapDirectory } from '../../token-server/identity/ldap.js';
import type { IdentityCheck } from '../../token-server/identity/types.js';
import type { LdapPolicy } from '../../policy/types.js';
import { LDAP_PASSWORDS, LDAP_SERVICE_DN, LDAP_SERVICE_PASSWORD, LDAP_SUFFIX, startSlapd, type RunningSlapd } from '../../local/slapd.js';
import { createCA } from '../../local/pki.js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let slapd: RunningSlapd;
const open: LdapDirectory[] = [];

function directory(overrides: Partial<LdapPolicy> = {}, bindPassword = LDAP_SERVICE_PASSWORD): LdapDirectory {
  const policy: LdapPolicy = {
    url: slapd.ldapsUrl,
    startTLS: false,
    insecureNoTLS: false,
    certificateAuthority: slapd.caPem,
    bindDN: LDAP_SERVICE_DN,
    userSearch: { baseDN: `ou=people,${LDAP_SUFFIX}`, filter: '(uid={username})', scope: 'sub' },
    groupSearch: { baseDN: `ou=groups,${LDAP_SUFFIX}`, filter: '(member={dn})', scope: 'sub', nameAttribute: 'cn', nested: true },
    usernamePrefix: 'ldap:',
    groupPrefix: 'ldap:',
    authenticated: false,
    cacheTTLSeconds: 60,
    timeoutSeconds: 2,
    ...overrides,
  };
  const d = new LdapDirectory(policy, bindPassword, () => new Date());
  open.push(d);
  return d;
}

function identityOf(check: IdentityCheck): { username: string; groups: string[] } {
  if (!('ok' in check) || !check.ok) throw new Error(`expected a verified identity, got ${JSON.stringify(check)}`);
  return { username: check.identity.username, groups: check.identity.groups };
}

beforeAll(async () => {
  slapd = await startSlapd();
});
afterAll(async () => {
  await Promise.all(open.map((d) => d.close()));
  await slapd?.close();
});

describe('LDAP search-then-bind against slapd', () => {
  it('verifies a user over ldaps:// and finds its groups, nested ones included', async () => {
    const d = directory();
    expect(identityOf(await d.login('dana', LDAP_PASSWORDS.dana))).toEqual({ username: 'ldap:dana', groups: ['ldap:dev'] });
    expect(identityOf(await d.login('erik', LDAP_PASSWORDS.erik))).toEqual({ username: 'ldap:erik', groups: ['ldap:dev', 'ldap:frontend'] });
  });

  it('without nested groups, only the direct ones', async () => {
    const d = directory({ groupSearch: { baseDN: `ou=groups,${LDAP_SUFFIX}`, filter: '(member={dn})', scope: 'sub', nameAttribute: 'cn', nested: false } });
    expect(identityOf(await d.login('erik', LDAP_PASSWORDS.erik)).groups).toEqual(['ldap:frontend']);
  });

  it('verifies a name beyond ASCII and finds its group through its DN, as the directory spells them', async () => {
    expect(identityOf(await directory().login('josé', LDAP_PASSWORDS['josé']))).toEqual({ username: 'ldap:josé', groups: ['ldap:équipe'] });
  });

  it('works over ldap:// upgraded with StartTLS', async () => {
    const d = directory({ url: slapd.ldapUrl, startTLS: true });
    expect(identityOf(await d.login('fay', LDAP_PASSWORDS.fay))).toEqual({ username: 'ldap:fay', groups: ['ldap:ops'] });
  });

  it.each([
    ['a wrong password', 'dana', 'not-her-password', 'wrong password'],
    ['an unknown user', 'nobody', 'whatever', 'unknown user'],
    ['the empty password (an unauthenticated bind slapd would accept)', 'dana', '', 'empty password'],
    ['a wildcard as the login name', '*', LDAP_PASSWORDS.dana, 'unknown user'],
    ['a filter injection in the login name', 'dana)(uid=*', LDAP_PASSWORDS.dana, 'unknown user'],
    ['the service account logging in as a user', 'portcullis', LDAP_SERVICE_PASSWORD, 'unknown user'],
  ])('refuses %s', async (_name, username, password, reason) => {
    expect(await directory().login(username, password)).toEqual({ ok: false, reason });
  });

  it('is unavailable, never a refusal of the password, when the directory cannot be trusted or bound', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-otherca-'));
    try {
      const other = await createCA(dir, 'other');
      const wrongCa = await directory({ certificateAuthority: await readFile(other.certPath, 'utf8') }).login('dana', LDAP_PASSWORDS.dana);
      expect(wrongCa).toHaveProperty('unavailable');
      const wrongBind = await directory({}, 'not-the-bind-password').login('dana', LDAP_PASSWORDS.dana);
      expect(wrongBind).toHaveProperty('unavailable', expect.stringContaining('refused the service account'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says unavailable while slapd is down and recovers on the pooled connections when it is back', async () => {
    const d = directory();
    expect(identityOf(await d.login('dana', LDAP_PASSWORDS.dana)).username).toBe('ldap:dana');
    await slapd.stop();
    try {
      expect(await d.login('dana', LDAP_PASSWORDS.dana)).toHaveProperty('unavailable');
    } finally {
      await slapd.start();
    }
    expect(identityOf(await d.login('dana', LDAP_PASSWORDS.dana)).username).toBe('ldap:dana');
  });
});
