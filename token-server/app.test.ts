import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import bcrypt from 'bcrypt';
import type { SigningKeySet } from '../wire/signing-key-set.js';
import { basic, makeKeys, PASSWORDS, SERVICE } from '../test/support/token-server-fixtures.js';
import { harness } from '../test/support/token-server-app.js';
import type { PolicyState } from './sources/types.js';

const now = new Date('2031-03-04T05:06:07Z');
let keys: { set: SigningKeySet; bundle: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  keys = await makeKeys(new Date(now.getTime() - 3600_000));
});
afterAll(async () => {
  await keys.cleanup();
});

const FORM = 'application/x-www-form-urlencoded';

describe('malformed requests', () => {
  const manyScopes = Array.from({ length: 100 }, (_, i) => `scope=repository:r${i}:pull`).join('&');
  it.each<[string, { method: 'GET' | 'POST'; url: string; headers?: Record<string, string>; payload?: string }, number, string]>([
    ['a scope without actions', { method: 'GET', url: `/token?service=${SERVICE}&scope=repository:foo` }, 400, 'INVALID_SCOPE'],
    ['a scope with an invalid repository name', { method: 'GET', url: `/token?service=${SERVICE}&scope=repository:foo//bar:pull` }, 400, 'INVALID_SCOPE'],
    ['100 scopes', { method: 'GET', url: `/token?service=${SERVICE}&${manyScopes}` }, 400, 'INVALID_SCOPE'],
    [
      'a scope of 6,000 actions (anonymous)',
      { method: 'GET', url: `/token?service=${SERVICE}&scope=repository:team-a/app:${Array.from({ length: 6000 }, (_, i) => `a${i}`).join(',')}` },
      400,
      'INVALID_SCOPE',
    ],
    [
      'a repository name over the length limit',
      { method: 'GET', url: `/token?service=${SERVICE}&scope=repository:${'a'.repeat(300)}:pull` },
      400,
      'INVALID_SCOPE',
    ],
    ['a Bearer Authorization header', { method: 'GET', url: `/token?service=${SERVICE}`, headers: { authorization: 'Bearer abc' } }, 400, 'INVALID_REQUEST'],
    [
      'Basic with no colon',
      { method: 'GET', url: `/token?service=${SERVICE}`, headers: { authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` } },
      400,
      'INVALID_REQUEST',
    ],
    ['Basic with non-base64', { method: 'GET', url: `/token?service=${SERVICE}`, headers: { authorization: 'Basic !!!' } }, 400, 'INVALID_REQUEST'],
    ['Basic with nothing', { method: 'GET', url: `/token?service=${SERVICE}`, headers: { authorization: 'Basic ' } }, 400, 'INVALID_REQUEST'],
    ['a huge header', { method: 'GET', url: `/token?service=${SERVICE}`, headers: { 'x-padding': 'x'.repeat(20_000) } }, 431, 'INVALID_REQUEST'],
    ['service given twice', { method: 'GET', url: `/token?service=${SERVICE}&service=${SERVICE}` }, 400, 'INVALID_REQUEST'],
    [
      'a JSON body',
      { method: 'POST', url: '/token', headers: { 'content-type': 'application/json' }, payload: '{"grant_type":"password"}' },
      415,
      'INVALID_REQUEST',
    ],
    ['a POST without a body', { method: 'POST', url: '/token' }, 400, 'INVALID_REQUEST'],
    ['a form without grant_type', { method: 'POST', url: '/token', headers: { 'content-type': FORM }, payload: 'client_id=x' }, 400, 'INVALID_REQUEST'],
    [
      'an unsupported grant_type',
      { method: 'POST', url: '/token', headers: { 'content-type': FORM }, payload: 'grant_type=client_credentials&client_id=x' },
      400,
      'UNSUPPORTED_GRANT_TYPE',
    ],
    [
      'a password grant without client_id',
      { method: 'POST', url: '/token', headers: { 'content-type': FORM }, payload: `grant_type=password&service=${SERVICE}&username=alice&password=x` },
      400,
      'INVALID_REQUEST',
    ],
    [
      'a password grant without password',
      { method: 'POST', url: '/token', headers: { 'content-type': FORM }, payload: `grant_type=password&client_id=x&service=${SERVICE}&username=alice` },
      400,
      'INVALID_REQUEST',
    ],
    [
      'a refresh grant without refresh_token',
      { method: 'POST', url: '/token', headers: { 'content-type': FORM }, payload: `grant_type=refresh_token&client_id=x&service=${SERVICE}` },
      400,
      'INVALID_REQUEST',
    ],
    [
      'a body over the limit',
      { method: 'POST', url: '/token', headers: { 'content-type': FORM }, payload: `grant_type=password&client_id=${'x'.repeat(40_000)}` },
      413,
      'INVALID_REQUEST',
    ],
    ['an unknown path', { method: 'GET', url: '/v2/' }, 404, 'NOT_FOUND'],
    ['an unsupported method', { method: 'GET', url: '/token/extra' }, 404, 'NOT_FOUND'],
  ])('%s gets its 4xx with a JSON body', async (_name, request, status, code) => {
    const h = await harness({ set: keys.set, now });
    const response = await h.app.inject(request);
    expect(response.statusCode, response.body).toBe(status);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = response.json();
    expect(body.errors[0].code).toBe(code);
    expect(typeof body.errors[0].message).toBe('string');
    expect(h.log.lines.filter((l) => l.level === 50)).toEqual([]);
  });
});

describe('timing safety', () => {
  it.each([
    ['an unknown user', 'mallory', 'pw'],
    ['a user without a credential', 'carol', 'pw'],
    ['a disabled user', 'bob', PASSWORDS.bob as string],
    ['a wrong password', 'alice', 'wrong'],
  ])('%s still costs one bcrypt comparison', async (_name, username, password) => {
    const compare = vi.fn((pw: string, hash: string) => bcrypt.compare(pw, hash));
    const h = await harness({ set: keys.set, now, compare });
    const response = await h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}`, headers: { authorization: basic(username, password) } });
    expect(response.statusCode).toBe(401);
    expect(compare).toHaveBeenCalledTimes(1);
    // The dummy hash has the cost the fixture's real hashes have.
    expect(compare.mock.calls[0]?.[1]).toMatch(/^\$2b\$04\$/);
  });

  it('a repeated login is served from the cache, and a password change drops the entry', async () => {
    const compare = vi.fn((pw: string, hash: string) => bcrypt.compare(pw, hash));
    const h = await harness({ set: keys.set, now, compare });
    const login = (password: string) => h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}`, headers: { authorization: basic('alice', password) } });
    expect((await login(PASSWORDS.alice as string)).statusCode).toBe(200);
    expect((await login(PASSWORDS.alice as string)).statusCode).toBe(200);
    expect(compare).toHaveBeenCalledTimes(1);
    await h.setUsers([{ username: 'alice', groups: ['team-a'], password: 'changed' }]);
    expect((await login(PASSWORDS.alice as string)).statusCode).toBe(401);
    expect((await login('changed')).statusCode).toBe(200);
    expect(compare).toHaveBeenCalledTimes(3);
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/portcullis_credential_cache_lookups_total\{result="hit"\} 1/);
  });

  it('the cache entry expires after its TTL', async () => {
    const compare = vi.fn((pw: string, hash: string) => bcrypt.compare(pw, hash));
    const h = await harness({ set: keys.set, now, compare, extra: { credentialCache: { ttlSeconds: 60 } } });
    const login = () =>
      h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}`, headers: { authorization: basic('alice', PASSWORDS.alice as string) } });
    await login();
    h.clock.now = new Date(now.getTime() + 61_000);
    await login();
    expect(compare).toHaveBeenCalledTimes(2);
  });
});

describe('rate limiting', () => {
  it('answers 429 with Retry-After once a username has failed too often, without running bcrypt', async () => {
    const compare = vi.fn((pw: string, hash: string) => bcrypt.compare(pw, hash));
    const h = await harness({ set: keys.set, now, compare, limits: { failuresPerAccountAndAddress: 3, failuresPerAddress: 100, failureWindowSeconds: 60 } });
    const attempt = (password: string) =>
      h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}`, headers: { authorization: basic('alice', password) } });
    for (let i = 0; i < 3; i++) expect((await attempt(`wrong-${i}`)).statusCode).toBe(401);
    const refused = await attempt(PASSWORDS.alice as string);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('60');
    expect(refused.json().errors[0].code).toBe('TOOMANYREQUESTS');
    expect(compare).toHaveBeenCalledTimes(3);
    h.clock.now = new Date(now.getTime() + 60_001);
    expect((await attempt(PASSWORDS.alice as string)).statusCode).toBe(200);
  });

  it('limits a client address across usernames', async () => {
    const h = await harness({ set: keys.set, now, limits: { failuresPerAccountAndAddress: 100, failuresPerAddress: 2 } });
    for (const user of ['u1', 'u2']) {
      expect((await h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}`, headers: { authorization: basic(user, 'x') } })).statusCode).toBe(401);
    }
    const refused = await h.app.inject({
      method: 'GET',
      url: `/token?service=${SERVICE}`,
      headers: { authorization: basic('alice', PASSWORDS.alice as string) },
    });
    expect(refused.statusCode).toBe(429);
    const other = await h.app.inject({
      method: 'GET',
      url: `/token?service=${SERVICE}`,
      remoteAddress: '10.9.8.7',
      headers: { authorization: basic('alice', PASSWORDS.alice as string) },
    });
    expect(other.statusCode).toBe(200);
  });
});

describe('readiness, keys and metrics', () => {
  it('is live always, and ready only with a snapshot and a key valid now', async () => {
    const h = await harness({ set: keys.set, now });
    expect((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    h.clock.now = new Date(now.getTime() + 400 * 24 * 3600_000);
    const notReady = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json().errors[0].code).toBe('UNAVAILABLE');
    const token = await h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}` });
    expect(token.statusCode).toBe(503);
  });

  it('is not ready before a snapshot has loaded', async () => {
    const { build } = await import('./app.js');
    const { MemorySource, captureLogger } = await import('../test/support/token-server-fixtures.js');
    const app = await build({
      policy: new MemorySource<PolicyState>(undefined),
      keys: new MemorySource({ set: keys.set, loadedAt: now }),
      logger: captureLogger().logger,
      now: () => now,
    });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    expect((await app.inject({ method: 'GET', url: `/token?service=${SERVICE}` })).json().errors[0].code).toBe('UNAVAILABLE');
  });

  it('publishes keys in JWKS before they start signing', async () => {
    const { issueSigningKey } = await import('../pki/issue.js');
    const { readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const dir = (await makeKeysDir()).dir;
    const ca = { certPem: await readFile(join(dir, 'ca.crt'), 'utf8'), keyPem: await readFile(join(dir, 'ca.key'), 'utf8') };
    const set = JSON.parse(await readFile(join(dir, 'signing.json'), 'utf8')) as SigningKeySet;
    const future = await issueSigningKey({ ca, algorithm: 'ES256', lifetimeSeconds: 86400, notBefore: new Date(now.getTime() + 3600_000) });
    const h = await harness({ set: { ...set, keys: [...set.keys, future] }, now });
    const jwks = (await h.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<{
      keys: { kid: string; alg: string; use: string; x5c: string[]; kty: string; d?: string }[];
    }>();
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([set.keys[0]?.kid, future.kid].sort());
    for (const k of jwks.keys) {
      expect(k).toMatchObject({ alg: 'ES256', use: 'sig', kty: 'EC' });
      expect(k.d).toBeUndefined();
      expect(k.x5c).toHaveLength(2);
    }
    const token = (await h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}` })).json().token as string;
    const { decodeProtectedHeader } = await import('jose');
    expect(decodeProtectedHeader(token).kid).toBe(set.keys[0]?.kid);
    h.clock.now = new Date(now.getTime() + 3600_000);
    const later = (await h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}` })).json().token as string;
    expect(decodeProtectedHeader(later).kid).toBe(future.kid);
  });

  it('counts requests by outcome and reports the snapshot generation', async () => {
    const h = await harness({ set: keys.set, now });
    await h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}` });
    await h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}`, headers: { authorization: basic('alice', 'bad') } });
    await h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}&scope=bad` });
    h.policy.reject('broken');
    const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('portcullis_token_requests_total{outcome="issued"} 1');
    expect(metrics.body).toContain('portcullis_token_requests_total{outcome="bad_credentials"} 1');
    expect(metrics.body).toContain('portcullis_token_requests_total{outcome="bad_request"} 1');
    expect(metrics.body).toContain(`portcullis_snapshot_info{generation="${h.snapshot.generation}"} 1`);
    expect(metrics.body).toContain('portcullis_reloads_rejected_total{source="policy"} 1');
    expect(metrics.body).toMatch(/portcullis_http_request_duration_seconds_bucket\{le="[^"]+",route="\/token"\}/);
  });
});

async function makeKeysDir() {
  const k = await makeKeys(new Date(now.getTime() - 3600_000));
  cleanups.push(k.cleanup);
  return k;
}
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});
