// Every IPv6 host is given a /64: an attacker moving to the next address of its own /64 must find the
// budgets it spent already spent. Each test spends a budget from one address and asks again from another
// address of the same /64 (429 with Retry-After), and from another /64 (not throttled). The addresses
// reach the app as the socket's peer (inject's remoteAddress), as on a dual-stack listener.
import bcrypt from 'bcrypt';
import { describe, expect, it, vi } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { harness, type Harness } from '../test/support/token-server-app.js';
import { basic, keysForFile, PASSWORDS, SERVICE } from '../test/support/token-server-fixtures.js';

const now = new Date('2031-03-04T05:06:07Z');
const keys = keysForFile(now);

/** Two hosts of one /64, spelled as differently as clients and proxies spell them. */
const SPENDER = '2001:db8:cafe:1::1';
const NEIGHBOUR = '2001:DB8:CAFE:0001:8a2e:370:7334:ffff';
const ELSEWHERE = '2001:db8:cafe:2::1';

const login = (h: Harness, remoteAddress: string, user: string, password: string) =>
  h.app.inject({
    method: 'GET',
    url: `/token?service=${SERVICE}&scope=repository:team-a/app:pull`,
    remoteAddress,
    headers: { authorization: basic(user, password) },
  });

const refresh = (h: Harness, remoteAddress: string, token: string) =>
  h.app.inject({
    method: 'POST',
    url: '/token',
    remoteAddress,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'test', service: SERVICE, refresh_token: token }).toString(),
  });

function expectThrottled(response: LightMyRequestResponse): void {
  expect(response.statusCode, response.body).toBe(429);
  expect(response.json().errors[0].code).toBe('TOOMANYREQUESTS');
  // The window is 60 s and the clock stands still: the oldest failure frees its place in 60 s.
  expect(response.headers['retry-after']).toBe('60');
}

describe('an IPv6 /64 is one client for every budget', () => {
  it('the address budget spent from one address of a /64 throttles another address of it, not another /64', async () => {
    const h = await harness({ set: keys.set, now, limits: { failuresPerAccountAndAddress: 100, failuresPerAddress: 3 } });
    for (let i = 0; i < 3; i++) expect((await login(h, SPENDER, `guess-${i}`, 'x')).statusCode).toBe(401);
    expectThrottled(await login(h, NEIGHBOUR, 'another-guess', 'x'));
    expectThrottled(await login(h, NEIGHBOUR, 'alice', PASSWORDS.alice as string));
    expect((await login(h, ELSEWHERE, 'another-guess', 'x')).statusCode).toBe(401);
    expect((await login(h, ELSEWHERE, 'alice', PASSWORDS.alice as string)).statusCode).toBe(200);
    // The audit lines still name each address whole.
    const clients = new Set(h.log.lines.filter((l) => l.audit === 'refused').map((l) => l.client));
    expect(clients).toEqual(new Set([SPENDER, NEIGHBOUR, ELSEWHERE]));
  });

  it("one account's budget spent from one address of a /64 throttles that account from another address of it", async () => {
    const h = await harness({ set: keys.set, now, limits: { failuresPerAccountAndAddress: 3, failuresPerAddress: 100 } });
    for (let i = 0; i < 3; i++) expect((await login(h, SPENDER, 'alice', `wrong-${i}`)).statusCode).toBe(401);
    expectThrottled(await login(h, NEIGHBOUR, 'alice', 'wrong-3'));
    expect((await login(h, ELSEWHERE, 'alice', PASSWORDS.alice as string)).statusCode).toBe(200);
  });

  it('bad refresh tokens from one address of a /64 throttle refreshes from another address of it', async () => {
    const h = await harness({ set: keys.set, now, limits: { failuresPerAddress: 3 } });
    for (let i = 0; i < 3; i++) expect((await refresh(h, SPENDER, `not-a-token-${i}`)).statusCode).toBe(401);
    expectThrottled(await refresh(h, NEIGHBOUR, 'not-a-token-3'));
    expect((await refresh(h, ELSEWHERE, 'not-a-token-3')).statusCode).toBe(401);
  });

  it('the same wrong password from another address of the /64 is a repeat: no second comparison', async () => {
    const compare = vi.fn((pw: string, hash: string) => bcrypt.compare(pw, hash));
    const h = await harness({ set: keys.set, now, compare });
    expect((await login(h, SPENDER, 'alice', 'typo')).statusCode).toBe(401);
    expect((await login(h, NEIGHBOUR, 'alice', 'typo')).statusCode).toBe(401);
    expect(compare).toHaveBeenCalledTimes(1);
    expect((await login(h, ELSEWHERE, 'alice', 'typo')).statusCode).toBe(401);
    expect(compare).toHaveBeenCalledTimes(2);
  });

  it("one /64's comparisons fill its places in the verification queue: another address of it is refused at once, another /64 waits its turn", async () => {
    let opened = false;
    const held: (() => void)[] = [];
    const compare = vi.fn(async (pw: string, hash: string) => {
      if (!opened) await new Promise<void>((resolve) => held.push(resolve));
      return bcrypt.compare(pw, hash);
    });
    const h = await harness({ set: keys.set, now, compare, extra: { verificationQueue: { concurrency: 1, perClient: 2, maxQueued: 100 } } });
    const waiting = async () => /portcullis_password_checks\{state="waiting"\} 1\b/.test((await h.app.inject({ method: 'GET', url: '/metrics' })).body);
    const spending = [login(h, SPENDER, 'guess-1', 'x'), login(h, SPENDER, 'guess-2', 'x')];
    // One comparison running, the other waiting: the /64 holds both its places.
    await vi.waitFor(async () => expect(held.length === 1 && (await waiting())).toBe(true), { timeout: 15_000 });
    const neighbour = await login(h, NEIGHBOUR, 'guess-3', 'x');
    expect(neighbour.statusCode, neighbour.body).toBe(429);
    expect(neighbour.headers['retry-after']).toBe('1');
    const elsewhere = login(h, ELSEWHERE, 'guess-4', 'x');
    opened = true;
    held.splice(0).forEach((release) => release());
    expect((await Promise.all(spending)).map((r) => r.statusCode)).toEqual([401, 401]);
    expect((await elsewhere).statusCode).toBe(401);
    expect(compare).toHaveBeenCalledTimes(3);
  }, 30_000);

  it('an IPv4 client is one client whether the socket reports it plain or IPv4-mapped', async () => {
    const h = await harness({ set: keys.set, now, limits: { failuresPerAccountAndAddress: 100, failuresPerAddress: 3 } });
    for (let i = 0; i < 3; i++) expect((await login(h, '::ffff:203.0.113.9', `guess-${i}`, 'x')).statusCode).toBe(401);
    expectThrottled(await login(h, '203.0.113.9', 'another-guess', 'x'));
    expect((await login(h, '203.0.113.10', 'another-guess', 'x')).statusCode).toBe(401);
  });
});
