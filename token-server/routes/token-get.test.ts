// GET /token on the raw node:http objects (token-get.ts): the body is JSON.stringify's byte for byte, a
// login a cached verification answers is served before serveTokenGet returns (no promise), and anything
// that has to be checked is not.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { captureLogger, makeKeys, makePolicy, MemorySource, PASSWORDS, SERVICE, basic } from '../../test/support/token-server-fixtures.js';
import type { SigningKeySet } from '../../wire/signing-key-set.js';
import { assemble } from '../app.js';
import type { AppContext } from '../context.js';
import { buildPolicyState } from '../sources/policy-state.js';
import type { KeyState, PolicyState } from '../sources/types.js';
import { serveTokenGet, tokenJson } from './token-get.js';
import { SIGNED_TOKEN, type TokenResponse } from './token.js';

const now = new Date('2031-03-04T05:06:07Z');
let keys: { set: SigningKeySet; bundle: string; cleanup: () => Promise<void> };
let ctx: AppContext;

beforeAll(async () => {
  keys = await makeKeys(new Date(now.getTime() - 3600_000));
});
afterAll(async () => {
  await keys.cleanup();
});
beforeEach(async () => {
  const { snapshot, credentials } = await makePolicy([{ username: 'alice', groups: ['team-a'], password: PASSWORDS.alice }]);
  const policy = new MemorySource<PolicyState>(buildPolicyState(snapshot, credentials, now));
  const keySource = new MemorySource<KeyState>({ set: keys.set, loadedAt: now });
  ({ ctx } = await assemble({ policy, keys: keySource, logger: captureLogger().logger, now: () => now }));
});

interface Answer {
  status?: number;
  headers?: Record<string, string | number>;
  body?: string;
}

/** serveTokenGet on stand-ins for node's request and response; `answer` fills in when it writes. */
function get(
  password: string,
  scope = 'repository:team-a/app:pull,push',
  url = `/token?service=${SERVICE}&scope=${encodeURIComponent(scope)}`,
): { pending: Promise<void> | undefined; answer: Answer } {
  const authorization = basic('alice', password);
  const request = { method: 'GET', url, headers: { authorization }, rawHeaders: ['Authorization', authorization] };
  const answer: Answer = {};
  const response = {
    headersSent: false,
    destroyed: false,
    writeHead(status: number, headers: Record<string, string | number>) {
      answer.status = status;
      answer.headers = headers;
      this.headersSent = true;
    },
    end(body: string) {
      answer.body = body;
    },
  };
  const pending = serveTokenGet(ctx, request as unknown as IncomingMessage, response as unknown as ServerResponse, '192.0.2.1');
  return { pending, answer };
}

describe('GET /token on node:http', () => {
  it('a password verified before is answered at once; the first login and a wrong password are not', async () => {
    const first = get(PASSWORDS.alice as string);
    expect(first.pending).toBeInstanceOf(Promise);
    expect(first.answer.status).toBeUndefined();
    await first.pending;
    expect(first.answer.status).toBe(200);

    const again = get(PASSWORDS.alice as string);
    expect(again.pending).toBeUndefined();
    expect(again.answer.status).toBe(200);
    expect(JSON.parse(again.answer.body as string)).toHaveProperty('token');
    expect(again.answer.headers?.['content-length']).toBe(Buffer.byteLength(again.answer.body as string));
  });

  it('attack: a wrong password is never answered from the cache of the right one', async () => {
    await get(PASSWORDS.alice as string).pending;
    const wrong = get('not-the-password');
    expect(wrong.pending).toBeInstanceOf(Promise);
    await wrong.pending;
    expect(wrong.answer.status).toBe(401);
    expect(JSON.parse(wrong.answer.body as string)).toMatchObject({ errors: [{ code: 'UNAUTHORIZED' }] });
  });
});

/** The actions alice's token carries for `scope` (its first access entry), or the refusal's error code. */
async function actionsFor(scope: string): Promise<string[] | string> {
  const { pending, answer } = get(PASSWORDS.alice as string, scope);
  await pending;
  const body = JSON.parse(answer.body as string) as { token?: string; errors?: { code: string }[] };
  if (body.token === undefined) return body.errors?.[0]?.code ?? 'no error code';
  const claims = JSON.parse(Buffer.from(body.token.split('.')[1] as string, 'base64url').toString()) as { access: { actions: string[] }[] };
  return claims.access[0]?.actions ?? [];
}

describe('scope strings asked again (parsed once, shared)', () => {
  it('attack: a scope string parsed for one request never widens another', async () => {
    expect(await actionsFor('repository:team-a/app:pull,push')).toEqual(['pull', 'push']);
    expect(await actionsFor('repository:team-a/app:pull')).toEqual(['pull']);
    expect(await actionsFor('repository:team-a/app:pull,push,delete')).toEqual(['pull', 'push']);
    expect(await actionsFor('repository:team-a/app:pull')).toEqual(['pull']);
    expect(await actionsFor('repository:team-b/app:pull,push')).toEqual([]);
  });

  it('a malformed scope is refused every time it is asked', async () => {
    expect(await actionsFor('repository:team-a//app:pull')).toBe('INVALID_SCOPE');
    expect(await actionsFor('repository:team-a//app:pull')).toBe('INVALID_SCOPE');
  });
});

describe('query strings asked again (parsed once, shared)', () => {
  async function answerTo(url: string): Promise<{ status: number | undefined; body: { access?: { actions: string[] }[]; code?: string } }> {
    const { pending, answer } = get(PASSWORDS.alice as string, '', url);
    await pending;
    const body = JSON.parse(answer.body as string) as { token?: string; errors?: { code: string }[] };
    if (body.token === undefined) return { status: answer.status, body: { code: body.errors?.[0]?.code ?? 'no error code' } };
    return {
      status: answer.status,
      body: JSON.parse(Buffer.from(body.token.split('.')[1] as string, 'base64url').toString()) as { access: { actions: string[] }[] },
    };
  }

  it('two scope parameters are both granted every time', async () => {
    const url = `/token?service=${SERVICE}&scope=repository%3Ateam-a%2Fapp%3Apull&scope=repository%3Ateam-a%2Flib%3Apull`;
    for (let i = 0; i < 3; i++) expect((await answerTo(url)).body.access?.map((a) => a.actions)).toEqual([['pull'], ['pull']]);
  });

  it('a parameter given twice is refused every time it is asked', async () => {
    const url = `/token?service=${SERVICE}&service=${SERVICE}&scope=repository%3Ateam-a%2Fapp%3Apull`;
    for (let i = 0; i < 3; i++) expect(await answerTo(url)).toEqual({ status: 400, body: { code: 'INVALID_REQUEST' } });
  });

  it('a query string shorter or longer than what is remembered is answered alike', async () => {
    const short = `/token?service=${SERVICE}&scope=repository%3Ateam-a%2Fapp%3Apull`;
    const long = `${short}&pad=${'x'.repeat(2000)}`;
    // Short, but of more parameters than a parse is remembered for.
    const many = `${short}${Array.from({ length: 12 }, (_, i) => `&p${i}=`).join('')}`;
    for (const url of [short, long, many, short, long, many]) expect((await answerTo(url)).body.access?.map((a) => a.actions)).toEqual([['pull']]);
  });
});

describe('issued_at', () => {
  it("is the token's iat as an ISO time, the clock moving on and back", async () => {
    let clock = now;
    const { snapshot, credentials } = await makePolicy([{ username: 'alice', groups: ['team-a'], password: PASSWORDS.alice }]);
    const policy = new MemorySource<PolicyState>(buildPolicyState(snapshot, credentials, now));
    const keySource = new MemorySource<KeyState>({ set: keys.set, loadedAt: now });
    ({ ctx } = await assemble({ policy, keys: keySource, logger: captureLogger().logger, now: () => clock }));
    for (const offset of [0, 400, 999, 1000, 1500, 61_000, 0, -1000]) {
      clock = new Date(now.getTime() + offset);
      const { pending, answer } = get(PASSWORDS.alice as string);
      await pending;
      const body = JSON.parse(answer.body as string) as { token: string; issued_at: string };
      const { iat } = JSON.parse(Buffer.from(body.token.split('.')[1] as string, 'base64url').toString()) as { iat: number };
      expect(iat).toBe(Math.floor(clock.getTime() / 1000));
      expect(body.issued_at).toBe(new Date(iat * 1000).toISOString());
    }
  });
});

describe('tokenJson', () => {
  const jws = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl-_';
  const bodies: TokenResponse[] = [
    { token: jws, access_token: jws, expires_in: 300, issued_at: '2031-03-04T05:06:07.000Z', [SIGNED_TOKEN]: true },
    {
      token: jws,
      access_token: jws,
      expires_in: 60,
      issued_at: '2031-03-04T05:06:07.000Z',
      scope: 'repository:a/b:pull',
      refresh_token: 'r.e.f',
      [SIGNED_TOKEN]: true,
    },
    // Bytes past ASCII outside the token are counted as UTF-8.
    { token: jws, access_token: jws, expires_in: 60, issued_at: '2031-03-04T05:06:07.000Z', scope: 'repository:é/日本:pull', [SIGNED_TOKEN]: true },
    // Not marked as the signer's: quotes, backslashes and other characters come out as JSON.stringify writes them.
    { token: 'a"b\\c', access_token: 'a"b\\c', expires_in: 300, issued_at: 'x' },
    { token: 'ünï\u0001', access_token: 'ünï\u0001', expires_in: 300, issued_at: 'x' },
    { token: jws, access_token: 'another', expires_in: 300, issued_at: 'x', [SIGNED_TOKEN]: true },
  ];
  it.each(bodies.map((body, i) => [i, body] as const))('body %i is JSON.stringify byte for byte, its length counted in bytes', (_i, body) => {
    const { text, bytes } = tokenJson(body);
    expect(text).toBe(JSON.stringify(body));
    expect(bytes).toBe(Buffer.byteLength(text));
  });
});
