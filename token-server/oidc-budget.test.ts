// One address must not be able to lock every OIDC user at that address out: a token that fails
// verification names no account anyone can trust (its `iss` and `sub` are the sender's to write), so it
// counts against the address's budget only, never against one the issuer's real users share.
// The issuer's signature check is stubbed (OidcIssuer.verify, whose own checks are tested against real
// issuers in test/integration/oidc-issuer.test.ts and test/e2e/identity-oidc.test.ts): what is under test
// here is what the token server counts around it.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AuthenticationPolicy } from '../policy/types.js';
import { harness, serveWithAuthentication, verifyLikeRegistry, type Harness } from '../test/support/token-server-app.js';
import { basic, keysForFile, SERVICE } from '../test/support/token-server-fixtures.js';
import { OidcIssuer } from './identity/oidc.js';
import { refused } from './identity/types.js';

const now = new Date('2031-03-04T05:06:07Z');
const ISSUER = 'https://issuer.test';
const ADDRESS = '10.1.2.3';
let h: Harness;

const keys = keysForFile(now);

const AUTHENTICATION: AuthenticationPolicy = {
  registryUsers: true,
  oidc: [{ issuer: ISSUER, audiences: [SERVICE], algorithms: ['ES256'], username: { claim: 'sub', prefix: 'oidc:' }, conditions: [], authenticated: false }],
};

const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url');
/** A compact JWS naming the issuer; `genuine` ones are those the stubbed issuer verifies. */
const jwt = (sub: string, n: number, genuine: boolean) =>
  `${b64({ alg: 'ES256', kid: 'k1' })}.${b64({ iss: ISSUER, sub, jti: `${n}` })}.${genuine ? 'good' : 'forged'}`;

beforeEach(async () => {
  h = await harness({ set: keys.set, now });
  serveWithAuthentication(
    h,
    SERVICE,
    AUTHENTICATION,
    { source: 'registry/ci', subjects: [{ kind: 'User', name: 'oidc:ci' }], repositories: ['ci/**'], actions: ['pull', 'push'], catalog: false },
    now,
  );
  vi.spyOn(OidcIssuer.prototype, 'verify').mockImplementation(async (token: string) => {
    if (!token.endsWith('.good')) return refused(`token from ${ISSUER} refused: not signed by a key of the issuer`);
    const sub = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).sub as string;
    return { ok: true, identity: { source: 'oidc', username: `oidc:${sub}`, groups: [], authenticated: false, reuseUntil: now.getTime() + 60_000 } };
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

const login = (user: string, password: string) =>
  h.app.inject({
    method: 'GET',
    url: `/token?service=${SERVICE}&scope=repository:ci/app:pull,push`,
    remoteAddress: ADDRESS,
    headers: { authorization: basic(user, password) },
  });

describe('forged OIDC tokens from one address', () => {
  it('twelve forgeries naming the issuer (over the per-account budget of 10) leave a genuine, uncached login from that address its push', async () => {
    for (let i = 0; i < 12; i++) {
      const forged = await login('x', jwt('ci', i, false));
      expect(forged.statusCode, `forgery ${i}`).toBe(401);
      expect(forged.json().errors[0].code).toBe('UNAUTHORIZED');
    }
    const genuine = await login('x', jwt('ci', 100, true));
    expect(genuine.statusCode, genuine.body).toBe(200);
    const { claims } = await verifyLikeRegistry(genuine.json().token, keys.bundle, { issuer: 'portcullis-test', audience: SERVICE, now });
    expect(claims.sub).toBe('oidc:ci');
    expect(claims.access).toEqual([{ type: 'repository', name: 'ci/app', actions: ['pull', 'push'] }]);
  });

  it("still count against the address's budget: the guesser's next password attempt for an unknown account there gets 429", async () => {
    for (let i = 0; i < 30; i++) expect((await login('x', jwt('ci', i, false))).statusCode).toBe(401);
    const guess = await login('alice', 'a-guess');
    expect(guess.statusCode).toBe(429);
    expect(guess.json().errors[0].code).toBe('TOOMANYREQUESTS');
    // A genuine token is no guess: it is verified and granted whatever the address has spent.
    expect((await login('x', jwt('ci', 100, true))).statusCode).toBe(200);
  });
});
