// A ServiceAccount token names its account (`sub`) before the cluster has said it is genuine, so forged
// tokens naming `ci:builder` must not spend a budget the real builder needs; but each one costs the API
// server a TokenReview, so the address that sends them is still held to its budget. An account the cluster
// has reviewed from an address is a known client there, as a password login is: all of a node's pulls come
// from its address, so a flood there must not turn its ServiceAccounts' new tokens into 429s. The cluster
// here is a stand-in at the KubeClient boundary that authenticates the tokens it is told to; the real API
// server answers reviews in test/e2e/identity-serviceaccounts.test.ts.
import type { LightMyRequestResponse } from 'fastify';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { KubeClient } from '../kube/request.js';
import type { AuthenticationPolicy } from '../policy/types.js';
import { harness, serveWithAuthentication, verifyLikeRegistry, type Harness } from '../test/support/token-server-app.js';
import { basic, keysForFile, SERVICE } from '../test/support/token-server-fixtures.js';
import type { AppOptions } from './app.js';

const now = new Date('2031-03-04T05:06:07Z');
const ADDRESS = '10.1.2.3';
const ELSEWHERE = '10.9.8.7';
const sa = (name: string) => `system:serviceaccount:ci:${name}`;
const BUILDER = sa('builder');
const keys = keysForFile(now);

const AUTHENTICATION: AuthenticationPolicy = {
  registryUsers: true,
  oidc: [],
  serviceAccounts: { audiences: [SERVICE], cacheTTLSeconds: 60, authenticated: false },
};

const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url');
/** A bound ServiceAccount token for ci:<name> as the API server mints one; `signature` tells them apart. */
const saToken = (signature: string, name = 'builder', claims: { aud?: string[]; exp?: number } = {}) =>
  `${b64({ alg: 'RS256', kid: 'sa' })}.${b64({
    iss: 'https://kubernetes.default.svc',
    sub: sa(name),
    aud: claims.aud ?? [SERVICE],
    exp: claims.exp ?? Math.floor(now.getTime() / 1000) + 600,
    'kubernetes.io': { namespace: 'ci', serviceaccount: { name, uid: `u-${name}` } },
  })}.${signature}`;
const GENUINE = saToken('signed-by-the-cluster');
const forged = (n: number, name = 'builder') => saToken(`forged-${n}`, name);
const subOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).sub;

/**
 * The API server's TokenReview: only GENUINE and `alsoGenuine` authenticate, each as the account it names
 * unless `reviewedAs` says otherwise; every review is counted.
 */
function cluster(
  alsoGenuine: string[] = [],
  reviewedAs: Record<string, string> = {},
): { kubeClient: NonNullable<AppOptions['kubeClient']>; reviews: () => number; hold: () => () => void } {
  let reviews = 0;
  let gate: Promise<void> | undefined;
  const client = {
    request: async (_method: string, _path: string, options: { body: { spec: { token: string } } }) => {
      reviews++;
      await gate;
      const token = options.body.spec.token;
      return token === GENUINE || alsoGenuine.includes(token)
        ? { status: { authenticated: true, user: { username: reviewedAs[token] ?? subOf(token) }, audiences: [SERVICE] } }
        : { status: { authenticated: false, error: 'invalid bearer token' } };
    },
  };
  return {
    // Only `request` is used by the reviewer.
    kubeClient: () => Promise.resolve(client as unknown as KubeClient),
    reviews: () => reviews,
    hold: () => {
      let release!: () => void;
      gate = new Promise<void>((resolve) => (release = resolve));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

let h: Harness;
let api: ReturnType<typeof cluster>;

async function start(extra: Partial<AppOptions> = {}, alsoGenuine: string[] = [], reviewedAs: Record<string, string> = {}): Promise<void> {
  api = cluster(alsoGenuine, reviewedAs);
  h = await harness({ set: keys.set, now, extra: { kubeClient: api.kubeClient, ...extra } });
  serveWithAuthentication(
    h,
    SERVICE,
    AUTHENTICATION,
    {
      source: 'registry/ci',
      subjects: [{ kind: 'ServiceAccount', namespace: 'ci', name: 'builder' }],
      repositories: ['ci/**'],
      actions: ['pull', 'push'],
      catalog: false,
    },
    now,
  );
}

const login = (password: string, remoteAddress = ADDRESS, user = 'builder') =>
  h.app.inject({
    method: 'GET',
    url: `/token?service=${SERVICE}&scope=repository:ci/app:pull,push`,
    remoteAddress,
    headers: { authorization: basic(user, password) },
  });

/** A 200 whose token is the builder's, with its push. */
async function expectBuilderToken(response: LightMyRequestResponse): Promise<void> {
  expect(response.statusCode, response.body).toBe(200);
  const { claims } = await verifyLikeRegistry(response.json().token, keys.bundle, { issuer: 'portcullis-test', audience: SERVICE, now });
  expect(claims.sub).toBe(BUILDER);
  expect(claims.access).toEqual([{ type: 'repository', name: 'ci/app', actions: ['pull', 'push'] }]);
}

function expectThrottled(response: LightMyRequestResponse): void {
  expect(response.statusCode, response.body).toBe(429);
  expect(response.json().errors[0].code).toBe('TOOMANYREQUESTS');
  expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
}

describe('forged ServiceAccount tokens from one address', () => {
  beforeEach(async () => start());

  it("ten forgeries naming ci:builder leave the real builder's uncached token from that address its push", async () => {
    for (let i = 0; i < 10; i++) {
      const response = await login(forged(i));
      expect(response.statusCode, `forgery ${i}: ${response.body}`).toBe(401);
      expect(response.json().errors[0].code).toBe('UNAUTHORIZED');
    }
    await expectBuilderToken(await login(GENUINE));
    expect(api.reviews()).toBe(11);
  });

  it("naming accounts not known there, still spend the address's budget: once it is spent, a further forgery is 429 before any TokenReview", async () => {
    expect((await login(GENUINE)).statusCode).toBe(200);
    for (let i = 0; i < 30; i++) expect((await login(forged(i, `other-${i}`))).statusCode, `forgery ${i}`).toBe(401);
    expect(api.reviews()).toBe(31);
    expectThrottled(await login(forged(30, 'other-30')));
    expect(api.reviews()).toBe(31);
    // The verified token is cached and served whatever the address has spent.
    expect((await login(GENUINE)).statusCode).toBe(200);
    expect(h.log.lines.filter((l) => l.audit === 'refused' && l.reason === 'too many failed attempts')).toHaveLength(1);
  });
});

describe('ServiceAccount tokens and the address budget', () => {
  it('a new, genuine token of an account not yet known at an address whose budget is spent waits like any login there: a review is not free', async () => {
    const fresh = saToken('also-signed-by-the-cluster');
    await start({}, [fresh]);
    for (let i = 0; i < 30; i++) expect((await login(forged(i))).statusCode).toBe(401);
    expectThrottled(await login(fresh));
    expect(api.reviews()).toBe(30);
  });

  it("reviews in flight are held to the client's places in the remote-check queue; the rest are 429 without a review", async () => {
    await start({ remoteCheckQueue: { perClient: 2 } });
    const release = api.hold();
    const burst = Array.from({ length: 6 }, (_, i) => login(forged(i)));
    await vi.waitFor(() => expect(api.reviews()).toBe(2), { timeout: 15_000 });
    release();
    const statuses = (await Promise.all(burst)).map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 401)).toHaveLength(2);
    expect(statuses.filter((s) => s === 429)).toHaveLength(4);
    expect(api.reviews()).toBe(2);
  });
});

describe('a ServiceAccount the cluster has reviewed from an address (a known client there)', () => {
  const fresh = saToken('also-signed-by-the-cluster');
  const deployerFirst = saToken('signed-by-the-cluster', 'deployer');

  it("keeps its new tokens when a flood spends the address's budget; an account not known there gets 429", async () => {
    await start({}, [fresh, deployerFirst]);
    expect((await login(GENUINE)).statusCode).toBe(200);
    // The flood: wrong passwords and forged tokens naming other accounts, 30 failures in all.
    for (let i = 0; i < 5; i++) expect((await login(`wrong-${i}`, ADDRESS, `guess-${i}`)).statusCode, `password ${i}`).toBe(401);
    for (let i = 0; i < 25; i++) expect((await login(forged(i, `other-${i}`))).statusCode, `forgery ${i}`).toBe(401);
    expectThrottled(await login(forged(25, 'other-25')));
    expectThrottled(await login('wrong-5', ADDRESS, 'guess-5'));
    expect(api.reviews()).toBe(26);
    // Not cached (a token never seen), so this is reviewed: the builder is known here.
    await expectBuilderToken(await login(fresh));
    expect(api.reviews()).toBe(27);
    // The deployer never logged in from here: its first token waits for the address budget, unreviewed.
    expectThrottled(await login(deployerFirst));
    expect(api.reviews()).toBe(27);
  });

  it('forgeries naming it from its address spend its own per-address budget (429 after 10), and count against the address too', async () => {
    await start({}, [fresh]);
    expect((await login(GENUINE)).statusCode).toBe(200);
    for (let i = 0; i < 10; i++) expect((await login(forged(i))).statusCode, `forgery ${i}`).toBe(401);
    expect(api.reviews()).toBe(11);
    expectThrottled(await login(forged(10)));
    // The price of a targeted forgery from the same address: the builder's new tokens wait there too.
    expectThrottled(await login(fresh));
    expect(api.reviews()).toBe(11);
    // Its verified token is cached and served whatever was spent.
    expect((await login(GENUINE)).statusCode).toBe(200);
    // The ten failures also took ten of the address's 30 places: 20 more and the address is spent.
    for (let i = 0; i < 20; i++) expect((await login(forged(i, `other-${i}`))).statusCode, `other ${i}`).toBe(401);
    expectThrottled(await login(forged(20, 'other-20')));
  });

  it('forgeries naming it from another address spend that address, not its budget here', async () => {
    await start({}, [fresh]);
    expect((await login(GENUINE)).statusCode).toBe(200);
    for (let i = 0; i < 30; i++) expect((await login(forged(i), ELSEWHERE)).statusCode, `forgery ${i}`).toBe(401);
    expectThrottled(await login(forged(30), ELSEWHERE));
    await expectBuilderToken(await login(fresh));
    expect((await login(forged(31))).statusCode).toBe(401);
  });

  it('tokens naming it that their own claims refuse (expired, another audience) cost only the address, never its budget here', async () => {
    await start({}, [fresh]);
    expect((await login(GENUINE)).statusCode).toBe(200);
    const expired = (n: number) => saToken(`expired-${n}`, 'builder', { exp: Math.floor(now.getTime() / 1000) - 3600 });
    const elsewhere = (n: number) => saToken(`elsewhere-${n}`, 'builder', { aud: ['another.registry'] });
    for (let i = 0; i < 8; i++) {
      expect((await login(expired(i))).statusCode, `expired ${i}`).toBe(401);
      expect((await login(elsewhere(i))).statusCode, `other audience ${i}`).toBe(401);
    }
    // No review was needed to refuse them, and the builder's budget here (10) is untouched.
    expect(api.reviews()).toBe(1);
    await expectBuilderToken(await login(fresh));
    // They did cost the address: 16 of its 30 places.
    for (let i = 0; i < 14; i++) expect((await login(forged(i, `other-${i}`))).statusCode, `other ${i}`).toBe(401);
    expectThrottled(await login(forged(14, 'other-14')));
  });

  it('a passing review of a token that claims another known account does not keep that account known', async () => {
    const claimsDeployer = saToken('reviewed-as-the-builder', 'deployer');
    const deployerLater = saToken('deployer-later', 'deployer');
    await start({ limits: { knownClientSeconds: 10 } }, [claimsDeployer, deployerFirst, deployerLater], { [claimsDeployer]: BUILDER });
    expect((await login(deployerFirst)).statusCode).toBe(200);
    // Within the deployer's known time, a token claiming it that the cluster reviews as the builder.
    h.clock.now = new Date(now.getTime() + 8_000);
    expect((await login(claimsDeployer)).statusCode).toBe(200);
    // Past the deployer's own known time: spend the address; the deployer is not known any more.
    h.clock.now = new Date(now.getTime() + 12_000);
    for (let i = 0; i < 30; i++) expect((await login(forged(i, `other-${i}`))).statusCode, `forgery ${i}`).toBe(401);
    expectThrottled(await login(deployerLater));
  });

  it('is known under the name the cluster answered with, never under the name a token claims', async () => {
    const claimsDeployer = saToken('reviewed-as-the-builder', 'deployer');
    // A token the cluster reviews as the builder although it claims the deployer (no API server mints one).
    await start({}, [claimsDeployer, deployerFirst], { [claimsDeployer]: BUILDER });
    await expectBuilderToken(await login(claimsDeployer));
    for (let i = 0; i < 30; i++) expect((await login(forged(i, `other-${i}`))).statusCode, `forgery ${i}`).toBe(401);
    expectThrottled(await login(deployerFirst));
  });
});
