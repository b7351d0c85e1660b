import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SigningKeySet } from '../../wire/signing-key-set.js';
import { basic, makeKeys, OTHER_SERVICE, PASSWORDS, SERVICE, type FixtureUser, DEFAULT_USERS } from '../../test/support/token-server-fixtures.js';
import { harness, postTokenForm, verifyLikeRegistry, type Harness } from '../../test/support/token-server-app.js';

const now = new Date('2031-03-04T05:06:07Z');
let keys: { set: SigningKeySet; bundle: string; cleanup: () => Promise<void> };
let h: Harness;

beforeAll(async () => {
  keys = await makeKeys(new Date(now.getTime() - 3600_000));
});
afterAll(async () => {
  await keys.cleanup();
});
beforeEach(async () => {
  h = await harness({ set: keys.set, now });
});

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

async function accessOf(token: string, audience = SERVICE) {
  const verified = await verifyLikeRegistry(token, keys.bundle, { issuer: 'portcullis-test', audience, now });
  return verified;
}

interface ProtocolCase {
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: Record<string, string>;
  sub: string;
  access: { type: string; name: string; actions: string[] }[];
  refreshToken: boolean;
  scope?: string;
  audience?: string;
}

describe('the token protocol', () => {
  it.each<[string, ProtocolCase]>([
    [
      'an anonymous GET gets public pull and nothing of team-a',
      {
        method: 'GET',
        url: `/token?service=${SERVICE}&scope=repository:public/lib:pull&scope=repository:team-a/app:pull`,
        sub: '',
        access: [{ type: 'repository', name: 'public/lib', actions: ['pull'] }],
        refreshToken: false,
      },
    ],
    [
      'a Basic GET by a team-a member gets pull and push on team-a',
      {
        method: 'GET',
        url: `/token?service=${SERVICE}&scope=repository:team-a/app:pull,push,delete`,
        headers: { authorization: basic('alice', PASSWORDS.alice as string) },
        sub: 'alice',
        access: [{ type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] }],
        refreshToken: false,
      },
    ],
    [
      'several scopes in one request are each decided',
      {
        method: 'GET',
        url: `/token?service=${SERVICE}&scope=repository:team-a/x:push&scope=repository:public/y:pull&scope=repository:other/z:pull`,
        headers: { authorization: basic('alice', PASSWORDS.alice as string) },
        sub: 'alice',
        access: [
          { type: 'repository', name: 'team-a/x', actions: ['push'] },
          { type: 'repository', name: 'public/y', actions: ['pull'] },
        ],
        refreshToken: false,
      },
    ],
    [
      'a login without scope (docker login) gets an empty access list',
      {
        method: 'GET',
        url: `/token?service=${SERVICE}&account=alice&client_id=docker`,
        headers: { authorization: basic('alice', PASSWORDS.alice as string) },
        sub: 'alice',
        access: [],
        refreshToken: false,
      },
    ],
    [
      'the catalog is granted to a user with a catalog grant',
      {
        method: 'GET',
        url: `/token?service=${SERVICE}&scope=registry:catalog:*`,
        headers: { authorization: basic('alice', PASSWORDS.alice as string) },
        sub: 'alice',
        access: [{ type: 'registry', name: 'catalog', actions: ['*'] }],
        refreshToken: false,
      },
    ],
    [
      'the catalog is not granted to anonymous requests',
      { method: 'GET', url: `/token?service=${SERVICE}&scope=registry:catalog:*`, sub: '', access: [], refreshToken: false },
    ],
    [
      'offline_token=true with credentials returns a refresh token',
      {
        method: 'GET',
        url: `/token?service=${SERVICE}&offline_token=true&scope=repository:team-a/app:pull`,
        headers: { authorization: basic('alice', PASSWORDS.alice as string) },
        sub: 'alice',
        access: [{ type: 'repository', name: 'team-a/app', actions: ['pull'] }],
        refreshToken: true,
      },
    ],
    [
      'offline_token=true without credentials returns no refresh token',
      { method: 'GET', url: `/token?service=${SERVICE}&offline_token=true`, sub: '', access: [], refreshToken: false },
    ],
    [
      'an htpasswd ($2y$) hash verifies',
      {
        method: 'GET',
        url: `/token?service=${SERVICE}&scope=repository:public/a:pull`,
        headers: { authorization: basic('dave', PASSWORDS.dave as string) },
        sub: 'dave',
        access: [{ type: 'repository', name: 'public/a', actions: ['pull'] }],
        refreshToken: false,
      },
    ],
    [
      'service may be omitted only when one registry is served... here a second service is picked explicitly',
      {
        method: 'GET',
        url: `/token?service=${OTHER_SERVICE}&scope=repository:any/thing:pull`,
        sub: '',
        access: [{ type: 'repository', name: 'any/thing', actions: ['pull'] }],
        refreshToken: false,
        audience: OTHER_SERVICE,
      },
    ],
    [
      'a POST password grant answers with scope and, for access_type=offline, a refresh token',
      {
        method: 'POST',
        url: '/token',
        headers: FORM,
        body: {
          grant_type: 'password',
          client_id: 'containerd',
          service: SERVICE,
          username: 'alice',
          password: PASSWORDS.alice as string,
          access_type: 'offline',
          scope: 'repository:team-a/app:pull,push repository:public/x:pull',
        },
        sub: 'alice',
        access: [
          { type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] },
          { type: 'repository', name: 'public/x', actions: ['pull'] },
        ],
        refreshToken: true,
        scope: 'repository:team-a/app:pull,push repository:public/x:pull',
      },
    ],
    [
      'a POST password grant without access_type gets no refresh token',
      {
        method: 'POST',
        url: '/token',
        headers: FORM,
        body: { grant_type: 'password', client_id: 'x', service: SERVICE, username: 'alice', password: PASSWORDS.alice as string },
        sub: 'alice',
        access: [],
        refreshToken: false,
        scope: '',
      },
    ],
  ])('%s', async (_name, c) => {
    const response = await h.app.inject({ method: c.method, url: c.url, headers: c.headers ?? {}, payload: c.body === undefined ? undefined : form(c.body) });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = response.json<Record<string, unknown>>();
    expect(body.token).toBe(body.access_token);
    expect(body.expires_in).toBeGreaterThanOrEqual(60);
    expect(body.issued_at).toBe(now.toISOString());
    expect(body.refresh_token !== undefined).toBe(c.refreshToken);
    if (c.scope !== undefined) expect(body.scope).toBe(c.scope);
    const { header, claims } = await accessOf(body.token as string, c.audience ?? SERVICE);
    expect(header.alg).toBe('ES256');
    expect(header.kid).toBe(keys.set.keys[0]?.kid);
    expect(header.x5c).toHaveLength(1); // the leaf: the self-signed root is left out (wire/access-token.ts)
    expect(claims.sub).toBe(c.sub);
    expect(claims.aud).toBe(c.audience ?? SERVICE);
    expect(claims.iat).toBe(Math.floor(now.getTime() / 1000));
    expect(claims.nbf).toBe(claims.iat);
    expect(claims.exp).toBe((claims.iat as number) + (body.expires_in as number));
    expect(typeof claims.jti).toBe('string');
    expect(claims.access).toEqual(c.access);
  });

  it('gives expires_in at least 60 even when the registry asks for less', async () => {
    const response = await h.app.inject({ method: 'GET', url: `/token?service=${OTHER_SERVICE}` });
    expect(response.json().expires_in).toBe(60);
  });

  it('picks the only registry when service is omitted and one is served', async () => {
    const { snapshot, credentials } = h;
    const only = snapshot.registries.filter((r) => r.service === SERVICE);
    const { buildPolicyState } = await import('../sources/policy-state.js');
    h.policy.set(buildPolicyState({ ...snapshot, registries: only }, credentials, now));
    const response = await h.app.inject({ method: 'GET', url: '/token?scope=repository:public/a:pull' });
    expect(response.statusCode).toBe(200);
    expect((await accessOf(response.json().token)).claims.aud).toBe(SERVICE);
  });

  it('writes one audit line per decision with the matching grants and no secrets', async () => {
    const response = await h.app.inject({
      method: 'GET',
      url: `/token?service=${SERVICE}&scope=repository:team-a/app:push&scope=repository:nope/x:pull&offline_token=true`,
      headers: { authorization: basic('alice', PASSWORDS.alice as string) },
    });
    expect(response.statusCode).toBe(200);
    const audits = h.log.lines.filter((l) => l.audit === 'token');
    expect(audits).toHaveLength(1);
    const line = audits[0] as Record<string, unknown>;
    expect(line.user).toBe('alice');
    expect(line.service).toBe(SERVICE);
    expect(line.requested).toEqual(['repository:team-a/app:push', 'repository:nope/x:pull']);
    expect(line.granted).toEqual(['repository:team-a/app:push']);
    const decisions = line.decisions as { grants: string[]; reason: string }[];
    expect(decisions[0]?.grants).toEqual(['registry/team-a']);
    expect(decisions[1]?.reason).toMatch(/no grant/);
    const text = h.log.text();
    expect(text).not.toContain(PASSWORDS.alice);
    expect(text).not.toContain(response.json().token);
    expect(text).not.toContain(response.json().refresh_token);
  });
});

describe('refusals', () => {
  it.each([
    ['a wrong password', basic('alice', 'wrong')],
    ['an unknown user', basic('mallory', 'whatever')],
    ['a disabled user with the right password', basic('bob', PASSWORDS.bob as string)],
    ['a user without a credential', basic('carol', '')],
  ])('%s gets the same 401 with a Basic challenge', async (_name, authorization) => {
    const response = await h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}`, headers: { authorization } });
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Basic realm="https://registry.test/token", charset="UTF-8"');
    expect(response.json()).toEqual({
      errors: [{ code: 'UNAUTHORIZED', message: 'authentication failed: invalid username or password' }],
      error: 'invalid_grant',
      error_description: 'authentication failed: invalid username or password',
    });
  });

  it.each([
    ['an account that differs from the Basic user', `/token?service=${SERVICE}&account=bob`, basic('alice', PASSWORDS.alice as string), 400, 'INVALID_REQUEST'],
    ['an account without credentials', `/token?service=${SERVICE}&account=alice`, undefined, 401, 'UNAUTHORIZED'],
    ['an unknown service', '/token?service=elsewhere.test', undefined, 400, 'UNSUPPORTED_SERVICE'],
    ['no service while two registries are served', '/token', undefined, 400, 'INVALID_REQUEST'],
  ])('%s is refused', async (_name, url, authorization, status, code) => {
    const response = await h.app.inject({ method: 'GET', url, headers: authorization === undefined ? {} : { authorization } });
    expect(response.statusCode).toBe(status);
    expect(response.json().errors[0].code).toBe(code);
  });

  // Attack: `\0` separates the parts of the budgets' keys, so a form name holding one could be counted as
  // another account (this one is a ServiceAccount's key); Basic refused such names, the form did not.
  it.each([
    ['a NUL in the name', `serviceaccount\u0000system:serviceaccount:ci:builder`, 'x', /control character/],
    ['a line break in the name', 'alice\nbob', PASSWORDS.alice as string, /control character/],
    ['a username over 1,024 characters', 'a'.repeat(1025), 'x', /the username is at most 1024/],
    ['a password over 4,096 characters', 'alice', 'p'.repeat(4097), /the password is at most 4096/],
  ])('the password grant refuses %s before any check, as Basic does', async (_name, username, password, detail) => {
    const response = await postTokenForm(h.app, SERVICE, { grant_type: 'password', username, password });
    expect(response.statusCode).toBe(400);
    expect(response.json().errors[0]).toMatchObject({ code: 'INVALID_REQUEST', detail: expect.stringMatching(detail) });
    const viaBasic = await h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}`, headers: { authorization: basic(username, password) } });
    expect(viaBasic.statusCode).toBe(400);
    expect(viaBasic.json().errors[0].message).toMatch(/malformed Authorization header/);
  });

  it('names the unknown service in the message', async () => {
    const response = await h.app.inject({ method: 'GET', url: '/token?service=elsewhere.test' });
    expect(response.json().errors[0].message).toContain('"elsewhere.test"');
  });
});

describe('refresh tokens', () => {
  async function offlineLogin(): Promise<string> {
    const response = await h.app.inject({
      method: 'POST',
      url: '/token',
      headers: FORM,
      payload: form({
        grant_type: 'password',
        client_id: 'test',
        service: SERVICE,
        username: 'alice',
        password: PASSWORDS.alice as string,
        access_type: 'offline',
      }),
    });
    expect(response.statusCode).toBe(200);
    return response.json().refresh_token as string;
  }

  function redeem(refreshToken: string, extra: Record<string, string> = {}) {
    return h.app.inject({
      method: 'POST',
      url: '/token',
      headers: FORM,
      payload: form({
        grant_type: 'refresh_token',
        client_id: 'test',
        service: SERVICE,
        refresh_token: refreshToken,
        scope: 'repository:team-a/app:push',
        ...extra,
      }),
    });
  }

  it('buys an access token for the same user without the password', async () => {
    const refreshToken = await offlineLogin();
    h.clock.now = new Date(now.getTime() + 3600_000);
    const response = await redeem(refreshToken);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json().scope).toBe('repository:team-a/app:push');
    const verified = await verifyLikeRegistry(response.json().token, keys.bundle, { issuer: 'portcullis-test', audience: SERVICE, now: h.clock.now });
    expect(verified.claims.sub).toBe('alice');
  });

  const withAlice = (change: Partial<FixtureUser>): FixtureUser[] => DEFAULT_USERS.map((u) => (u.username === 'alice' ? { ...u, ...change } : u));

  it.each<[string, (h: Harness) => Promise<void>, Record<string, string>]>([
    ['the user is disabled', (h) => h.setUsers(withAlice({ disabled: true })), {}],
    ['the user was disabled and enabled again (a new generation, same password)', (h) => h.setUsers(withAlice({ objectRevision: 'uid-alice:3' })), {}],
    ['the user was deleted and recreated with the same Secret (a new uid)', (h) => h.setUsers(withAlice({ objectRevision: 'uid-alice-again:1' })), {}],
    ['the Registry now names another issuer', (h) => h.setUsers(DEFAULT_USERS, 'someone-else'), {}],
    ['the password changed', (h) => h.setUsers(withAlice({ password: 'new-password' })), {}],
    ['the user was removed', (h) => h.setUsers(DEFAULT_USERS.filter((u) => u.username !== 'alice')), {}],
    ['it is presented for another service', async () => undefined, { service: OTHER_SERVICE }],
    ['it has expired', async (h) => void (h.clock.now = new Date(now.getTime() + 31 * 24 * 3600_000)), {}],
  ])('is refused with 401 after %s', async (_name, change, extra) => {
    const refreshToken = await offlineLogin();
    await change(h);
    const response = await redeem(refreshToken, extra);
    expect(response.statusCode).toBe(401);
    expect(response.json().errors[0].code).toBe('UNAUTHORIZED');
    expect(response.json().error).toBe('invalid_grant');
  });

  it('is still accepted when the policy is reloaded with the user unchanged', async () => {
    const refreshToken = await offlineLogin();
    await h.setUsers(DEFAULT_USERS);
    expect((await redeem(refreshToken)).statusCode).toBe(200);
  });

  it.each([
    ['a tampered MAC', (t: string) => `${t.slice(0, -2)}${t.endsWith('AA') ? 'BB' : 'AA'}`],
    ['an access token in its place', () => 'ACCESS'],
    ['garbage', () => 'not-a-token'],
  ])('refuses %s', async (_name, mangle) => {
    const refreshToken = await offlineLogin();
    let presented = mangle(refreshToken);
    if (presented === 'ACCESS') {
      presented = (
        await h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}`, headers: { authorization: basic('alice', PASSWORDS.alice as string) } })
      ).json().token;
    }
    const response = await redeem(presented);
    expect(response.statusCode).toBe(401);
  });

  it('is still accepted after the refresh keys gain a newer key (any listed key verifies)', async () => {
    const refreshToken = await offlineLogin();
    const { newRefreshKey } = await import('../../pki/issue.js');
    const set = { ...keys.set, refreshKeys: [...keys.set.refreshKeys, newRefreshKey(new Date(now.getTime() + 1000))] };
    h.keys.set({ set, loadedAt: now });
    expect((await redeem(refreshToken)).statusCode).toBe(200);
  });
});

describe('signing', () => {
  it('signs RS256 with an RS256 key set (falling back from the ES256 the registry prefers), verifiable against the CA', async () => {
    const rsa = await makeKeys(new Date(now.getTime() - 3600_000), 'RS256');
    try {
      const r = await harness({ set: rsa.set, now });
      const response = await r.app.inject({ method: 'GET', url: `/token?service=${SERVICE}&scope=repository:public/a:pull` });
      const verified = await verifyLikeRegistry(response.json().token, rsa.bundle, { issuer: 'portcullis-test', audience: SERVICE, now });
      expect(verified.header.alg).toBe('RS256');
      expect(verified.claims.access).toEqual([{ type: 'repository', name: 'public/a', actions: ['pull'] }]);
    } finally {
      await rsa.cleanup();
    }
    // RSA key generation (a CA and leaves) takes seconds on a loaded machine; a timeout inside it would
    // leave its keys directory behind.
  }, 60_000);

  it('a token signed under another CA does not verify against this bundle', async () => {
    const foreign = await makeKeys(new Date(now.getTime() - 3600_000));
    try {
      const f = await harness({ set: foreign.set, now });
      const token = (await f.app.inject({ method: 'GET', url: `/token?service=${SERVICE}` })).json().token as string;
      await expect(verifyLikeRegistry(token, keys.bundle, { issuer: 'portcullis-test', audience: SERVICE, now })).rejects.toThrow();
      await expect(verifyLikeRegistry(token, foreign.bundle, { issuer: 'portcullis-test', audience: SERVICE, now })).resolves.toBeDefined();
    } finally {
      await foreign.cleanup();
    }
  });
});
