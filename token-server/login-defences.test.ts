// How the token server stands up to password guessing, through the app (inject, no sockets): budgets
// counted before bcrypt runs, the verification queue, what is never locked out, the failed-login path
// that is the same for every kind of failure, and which X-Forwarded-For hop names the client.
import bcrypt from 'bcrypt';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SigningKeySet } from '../wire/signing-key-set.js';
import { BcryptTimings } from './credentials.js';
import { harness } from '../test/support/token-server-app.js';
import { basic, DEFAULT_USERS, makeKeys, PASSWORDS, SERVICE } from '../test/support/token-server-fixtures.js';
import { parseTrustProxy } from './trust-proxy.js';

const now = new Date('2031-03-04T05:06:07Z');
/** How long a test waits for held comparisons to start: a loaded machine can take seconds (vi.waitFor's default is 1 s). */
const WAIT = { timeout: 15_000 };
let keys: { set: SigningKeySet; bundle: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  keys = await makeKeys(new Date(now.getTime() - 3600_000));
});
afterAll(async () => {
  await keys.cleanup();
});

const url = `/token?service=${SERVICE}&scope=repository:team-a/app:pull`;
type H = Awaited<ReturnType<typeof harness>>;
const login = (h: H, user: string, password: string, remoteAddress = '127.0.0.1', headers: Record<string, string> = {}) =>
  h.app.inject({ method: 'GET', url, remoteAddress, headers: { authorization: basic(user, password), ...headers } });

/**
 * A compare that holds every comparison until the test opens it, so requests pile up as they would behind
 * bcrypt; `step()` lets the held ones go but keeps holding new ones, `open()` lets everything through.
 */
function heldCompare() {
  const waiting: (() => void)[] = [];
  let opened = false;
  const compare = vi.fn(async (pw: string, hash: string) => {
    if (!opened) await new Promise<void>((resolve) => waiting.push(resolve));
    return bcrypt.compare(pw, hash);
  });
  const step = () => waiting.splice(0).forEach((r) => r());
  const open = () => {
    opened = true;
    step();
  };
  return { compare, step, open, waiting };
}

describe('budgets are counted before bcrypt runs', () => {
  it('200 concurrent wrong passwords for one account from one address: only the budget reaches bcrypt, the rest get 429', async () => {
    const held = heldCompare();
    const h = await harness({
      set: keys.set,
      now,
      compare: held.compare,
      limits: { failuresPerAccountAndAddress: 5, failuresPerAddress: 1000 },
      extra: { verificationQueue: { perClient: 1000, maxQueued: 1000 } },
    });
    const responses = Array.from({ length: 200 }, (_, i) => login(h, 'alice', `wrong-${i}`));
    await vi.waitFor(() => expect(held.compare.mock.calls.length).toBeGreaterThan(0), WAIT);
    held.open();
    const statuses = (await Promise.all(responses)).map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(195);
    expect(held.compare).toHaveBeenCalledTimes(5);
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('portcullis_password_comparisons_total{cost="4"} 5');
    expect(metrics).toContain('portcullis_password_checks_refused_total{reason="budget"} 195');
    expect(metrics).toMatch(/portcullis_password_checks\{state="waiting"\} 0/);
  });

  it('a flood from one address past the queue gets 429 without a comparison, and its places are given back', async () => {
    const held = heldCompare();
    const h = await harness({
      set: keys.set,
      now,
      compare: held.compare,
      limits: { failuresPerAccountAndAddress: 1000, failuresPerAddress: 1000 },
      extra: { verificationQueue: { concurrency: 1, perClient: 3, maxQueued: 100 } },
    });
    const responses = Array.from({ length: 20 }, (_, i) => login(h, `user-${i}`, 'x'));
    await vi.waitFor(() => expect(held.waiting.length).toBe(1), WAIT);
    const honest = login(h, 'alice', PASSWORDS.alice as string, '10.1.1.1');
    held.open();
    const statuses = (await Promise.all(responses)).map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 429)).toHaveLength(17);
    expect((await honest).statusCode).toBe(200);
    expect(held.compare).toHaveBeenCalledTimes(4);
  });
});

describe('what is never locked out', () => {
  /** Three failures spend an address; no login is served from the cache. */
  const threeFailuresNoCache = () =>
    harness({ set: keys.set, now, limits: { failuresPerAccountAndAddress: 100, failuresPerAddress: 3 }, extra: { credentialCache: { ttlSeconds: 0 } } });

  it('a correct password the cache already verified is served while others fail from the same address', async () => {
    const h = await harness({ set: keys.set, now, limits: { failuresPerAccountAndAddress: 100, failuresPerAddress: 3 } });
    expect((await login(h, 'alice', PASSWORDS.alice as string)).statusCode).toBe(200);
    for (let i = 0; i < 3; i++) expect((await login(h, `guess-${i}`, 'x')).statusCode).toBe(401);
    expect((await login(h, 'someone', 'x')).statusCode).toBe(429);
    expect((await login(h, 'alice', PASSWORDS.alice as string)).statusCode).toBe(200);
  });

  it('an account that logged in from an address before is not refused because others failed there', async () => {
    // No cache: every login runs bcrypt, so only the known-client rule can let alice in.
    const h = await threeFailuresNoCache();
    expect((await login(h, 'alice', PASSWORDS.alice as string)).statusCode).toBe(200);
    for (let i = 0; i < 3; i++) expect((await login(h, `guess-${i}`, 'x')).statusCode).toBe(401);
    expect((await login(h, 'dave', PASSWORDS.dave as string)).statusCode).toBe(429);
    expect((await login(h, 'alice', PASSWORDS.alice as string)).statusCode).toBe(200);
    // Nor does alice's login free one of the places the failures took.
    expect((await login(h, 'dave', PASSWORDS.dave as string)).statusCode).toBe(429);
  });

  it("a known client's failure still counts against its address", async () => {
    const h = await threeFailuresNoCache();
    expect((await login(h, 'alice', PASSWORDS.alice as string)).statusCode).toBe(200);
    for (let i = 0; i < 2; i++) expect((await login(h, `guess-${i}`, 'x')).statusCode).toBe(401);
    expect((await login(h, 'alice', 'typo')).statusCode).toBe(401);
    expect((await login(h, 'dave', PASSWORDS.dave as string)).statusCode).toBe(429);
  });

  const form = (fields: Record<string, string>) => ({
    method: 'POST' as const,
    url: '/token',
    remoteAddress: '127.0.0.1',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ client_id: 'test', service: SERVICE, ...fields }).toString(),
  });

  it('a valid refresh token is honoured while junk refresh tokens have spent its address (it is never a guess)', async () => {
    const h = await threeFailuresNoCache();
    const issued = await h.app.inject(form({ grant_type: 'password', username: 'alice', password: PASSWORDS.alice as string, access_type: 'offline' }));
    expect(issued.statusCode, issued.body).toBe(200);
    const refreshToken = issued.json().refresh_token as string;
    for (let i = 0; i < 3; i++) expect((await h.app.inject(form({ grant_type: 'refresh_token', refresh_token: `junk-${i}` }))).statusCode).toBe(401);
    const junk = await h.app.inject(form({ grant_type: 'refresh_token', refresh_token: 'junk-3' }));
    expect(junk.statusCode).toBe(429);
    expect(junk.json().errors[0].code).toBe('TOOMANYREQUESTS');
    const redeemed = await h.app.inject(form({ grant_type: 'refresh_token', refresh_token: refreshToken, scope: 'repository:team-a/app:pull' }));
    expect(redeemed.statusCode, redeemed.body).toBe(200);
    expect(redeemed.json().access_token).toEqual(expect.any(String));
    // A password guess from that address is still throttled: only the refresh token's MAC lets it pass.
    expect((await login(h, 'dave', PASSWORDS.dave as string)).statusCode).toBe(429);
  });

  it("a genuine refresh token gone stale (its user's password changed) is refused without spending its address's budget", async () => {
    const h = await threeFailuresNoCache();
    const issued = await h.app.inject(form({ grant_type: 'password', username: 'alice', password: PASSWORDS.alice as string, access_type: 'offline' }));
    const refreshToken = issued.json().refresh_token as string;
    await h.setUsers(DEFAULT_USERS.map((u) => (u.username === 'alice' ? { ...u, password: 'changed-since' } : u)));
    // A client behind the NAT retrying its old identity token at every pull.
    for (let i = 0; i < 5; i++) {
      const stale = await h.app.inject(form({ grant_type: 'refresh_token', refresh_token: refreshToken }));
      expect(stale.statusCode).toBe(401);
      expect(stale.json().errors[0].code).toBe('UNAUTHORIZED');
    }
    expect((await login(h, 'dave', PASSWORDS.dave as string)).statusCode).toBe(200);
  });

  it('nobody can lock an account out from everywhere: failures from one address leave every other address alone', async () => {
    const h = await harness({
      set: keys.set,
      now,
      limits: { failuresPerAccountAndAddress: 3, failuresPerAddress: 1000 },
      extra: { credentialCache: { ttlSeconds: 0 } },
    });
    for (let i = 0; i < 10; i++) await login(h, 'alice', `wrong-${i}`, '203.0.113.9');
    expect((await login(h, 'alice', PASSWORDS.alice as string, '203.0.113.9')).statusCode).toBe(429);
    expect((await login(h, 'alice', PASSWORDS.alice as string, '198.51.100.7')).statusCode).toBe(200);
  });
});

describe('every failure takes the same path', () => {
  it.each([
    ['an unknown user', 'mallory', 'pw'],
    ['a user without a credential', 'carol', 'pw'],
    ['a disabled user', 'bob', PASSWORDS.bob as string],
    ['a wrong password at the lowest cost', 'dave', 'wrong'],
  ])('%s runs exactly one comparison, at the highest cost in the registry when it has no hash of its own', async (_name, username, password) => {
    const cost12 = await bcrypt.hash('irrelevant', 4).then((h) => h.replace('$2b$04$', '$2b$12$'));
    const compare = vi.fn(async (_pw: string, _hash: string) => false);
    const h = await harness({ set: keys.set, now, compare, users: [...DEFAULT_USERS, { username: 'zed', password: 'zed-secret' }] });
    // zed's stored hash is made to claim cost 12, so the registry's highest cost is 12.
    const state = h.policy.current()!;
    const registry = state.registries.get(SERVICE)!;
    (registry.credentials as Map<string, { hash: string; cost: number; revision: string }>).set('zed', { hash: cost12, cost: 12, revision: 'r' });
    registry.maxCost = 12;
    h.policy.set(state);
    const response = await login(h, username, password);
    expect(response.statusCode).toBe(401);
    expect(response.json().errors[0].code).toBe('UNAUTHORIZED');
    expect(compare).toHaveBeenCalledTimes(1);
    const hash = compare.mock.calls[0]![1];
    // Users with a hash of their own (dave, bob) compare against it; the others against the cost-12 dummy.
    if (username === 'dave' || username === 'bob') expect(hash).toMatch(/^\$2b\$04\$/);
    else expect(hash).toMatch(/^\$2b\$12\$/);
  });

  it('concurrent identical attempts share one comparison whether or not the user exists', async () => {
    for (const username of ['alice', 'mallory']) {
      const held = heldCompare();
      const h = await harness({ set: keys.set, now, compare: held.compare });
      const responses = Array.from({ length: 5 }, () => login(h, username, 'same-wrong'));
      await vi.waitFor(() => expect(held.waiting.length).toBe(1), WAIT);
      held.open();
      expect((await Promise.all(responses)).map((r) => r.statusCode)).toEqual([401, 401, 401, 401, 401]);
      expect(held.compare).toHaveBeenCalledTimes(1);
    }
  });

  it('a failure is answered no sooner than the slowest comparison the registry expects (padding)', async () => {
    // The registry holds a cost-4 hash (dave's, 1 ms here) and one of cost 9, known to take 40 ms.
    const timings = new BcryptTimings();
    timings.observe(9, 40);
    const compare = vi.fn(async (pw: string, hash: string) => bcrypt.compare(pw, hash));
    const h = await harness({ set: keys.set, now, compare, extra: { bcryptTimings: timings } });
    const state = h.policy.current()!;
    state.registries.get(SERVICE)!.maxCost = 9;
    h.policy.set(state);
    for (const [user, password] of [
      ['dave', 'wrong'],
      ['mallory', 'x'],
    ] as const) {
      const t = performance.now();
      const r = await login(h, user, password, `10.0.0.${user.length}`);
      expect(r.statusCode).toBe(401);
      // Padded to 1.25 x 40 ms; timers may fire a millisecond early.
      expect(performance.now() - t).toBeGreaterThanOrEqual(50 - 2);
    }
  });
});

describe('which X-Forwarded-For hop names the client', () => {
  const xff = (value: string) => ({ 'x-forwarded-for': value });

  it('without --trust-proxy, a rotating X-Forwarded-For changes nothing: the socket peer is throttled', async () => {
    const h = await harness({ set: keys.set, now, limits: { failuresPerAccountAndAddress: 100, failuresPerAddress: 5 } });
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push((await login(h, `u${i}`, 'x', '10.0.0.9', xff(`198.51.100.${i}`))).statusCode);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(3);
  });

  it('with one trusted hop, a client cannot choose its address by prepending to X-Forwarded-For', async () => {
    const h = await harness({
      set: keys.set,
      now,
      limits: { failuresPerAccountAndAddress: 100, failuresPerAddress: 5 },
      extra: { trustProxy: parseTrustProxy('1') },
    });
    const statuses = [];
    // The ingress (the socket peer, 10.0.0.9) appends the real client, 203.0.113.5, after whatever the client sent.
    for (let i = 0; i < 8; i++) statuses.push((await login(h, `u${i}`, 'x', '10.0.0.9', xff(`198.51.100.${i}, 203.0.113.5`))).statusCode);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(3);
    const audit = h.log.lines.filter((l) => l.audit === 'refused').map((l) => l.client);
    expect(new Set(audit)).toEqual(new Set(['203.0.113.5']));
    // And another client behind the same ingress is not affected.
    expect((await login(h, 'alice', PASSWORDS.alice as string, '10.0.0.9', xff('203.0.113.77'))).statusCode).toBe(200);
  });

  it.each([
    ['true', /hops in front/],
    ['0', /1\.\.16/],
    ['17', /1\.\.16/],
    ['10.0.0.0/33', /neither/],
    ['proxy.internal', /neither/],
    ['0.0.0.0/0', /too wide a range of proxies/],
    ['10.0.0.1, 128.0.0.0/1', /128\.0\.0\.0\/1 is too wide/],
    ['::/0', /too wide a range of proxies/],
    // Every IPv4 address under IPv6 spellings (trustHop checks mapped addresses as IPv4).
    ['::ffff:0:0/96', /too wide/],
    ['::ffff:0.0.0.0/96', /too wide/],
    ['::/7', /too wide/],
    ['::/8', /too wide/],
    ['::ffff:128.0.0.0/97', /too wide/],
    ['64:ff9b::/96', /too wide/],
    ['2000::/7', /too wide/],
    ['2600::/16', /too wide/],
  ])('--trust-proxy %s is refused with a clear message', (value, message) => {
    expect(() => parseTrustProxy(value)).toThrow(message);
  });

  it.each([
    ['1', { hops: 1 }],
    ['10.0.0.0/8, 192.168.1.1', { proxies: ['10.0.0.0/8', '192.168.1.1'] }],
    ['fd00::/8', { proxies: ['fd00::/8'] }],
    ['fc00::/7, 10.0.0.0/8', { proxies: ['fc00::/7', '10.0.0.0/8'] }],
    ['::ffff:10.0.0.0/104', { proxies: ['::ffff:10.0.0.0/104'] }],
    ['2001:db8::/32', { proxies: ['2001:db8::/32'] }],
    ['2600:9000::/28', { proxies: ['2600:9000::/28'] }],
  ])('--trust-proxy %s is accepted', (value, expected) => {
    expect(parseTrustProxy(value)).toEqual(expected);
  });
});

describe('an immediate retry of the same wrong password counts once (containerd asks POST, then GET)', () => {
  const post = (h: H, user: string, password: string, remoteAddress = '127.0.0.1') =>
    h.app.inject({
      method: 'POST',
      url: '/token',
      remoteAddress,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'password',
        service: SERVICE,
        client_id: 'containerd',
        username: user,
        password,
        scope: 'repository:team-a/app:pull',
      }).toString(),
    });
  const counting = () => vi.fn((pw: string, hash: string) => bcrypt.compare(pw, hash));

  it('three typos, each retried as containerd does, are three attempts: six 401s, three comparisons, then the budget holds', async () => {
    const compare = counting();
    const h = await harness({ set: keys.set, now, compare, limits: { failuresPerAccountAndAddress: 3, failuresPerAddress: 100 } });
    for (let i = 0; i < 3; i++) {
      const first = await post(h, 'alice', `typo-${i}`);
      const retried = await login(h, 'alice', `typo-${i}`);
      expect([first.statusCode, retried.statusCode]).toEqual([401, 401]);
      expect(retried.body).toBe(first.body);
    }
    expect(compare).toHaveBeenCalledTimes(3);
    // A fourth different guess is over the budget of three: the retries were not what spent it.
    expect((await login(h, 'alice', 'typo-3')).statusCode).toBe(429);
    expect(h.log.lines.filter((l) => typeof l.reason === 'string' && l.reason.includes('counted once'))).toHaveLength(3);
  });

  it('the same wrong password is checked and counted again from another address, after the window, or under a new snapshot', async () => {
    const compare = counting();
    const h = await harness({ set: keys.set, now: new Date(now), compare, limits: { failuresPerAccountAndAddress: 10, failuresPerAddress: 100 } });
    expect((await login(h, 'alice', 'typo')).statusCode).toBe(401);
    expect((await login(h, 'alice', 'typo', '10.9.9.9')).statusCode).toBe(401);
    expect(compare).toHaveBeenCalledTimes(2);
    h.clock.now = new Date(now.getTime() + 11_000);
    expect((await login(h, 'alice', 'typo')).statusCode).toBe(401);
    expect(compare).toHaveBeenCalledTimes(3);
    // The admin sets alice's password to what she just typed: her retry is checked, and succeeds.
    expect((await login(h, 'alice', 'new-password')).statusCode).toBe(401);
    await h.setUsers(DEFAULT_USERS.map((u) => (u.username === 'alice' ? { ...u, password: 'new-password' } : u)));
    expect((await login(h, 'alice', 'new-password')).statusCode).toBe(200);
  });

  it('a right password after a wrong one is never taken for a repeat', async () => {
    const h = await harness({ set: keys.set, now, limits: { failuresPerAccountAndAddress: 10, failuresPerAddress: 100 } });
    expect((await post(h, 'alice', 'typo')).statusCode).toBe(401);
    expect((await post(h, 'alice', PASSWORDS.alice as string)).statusCode).toBe(200);
  });
});
