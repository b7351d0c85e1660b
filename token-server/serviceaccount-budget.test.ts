// A ServiceAccount token names its account (`sub`) before the cluster has said it is genuine, so forged
// tokens naming `ci:builder` must not spend a budget the real builder needs; but each one costs the API
// server a TokenReview, so the address that sends them is still held to its budget. The cluster here is a
// stand-in at the KubeClient boundary that authenticates one token; the real API server answers reviews in
// test/e2e/identity-serviceaccounts.test.ts.
import type { LightMyRequestResponse } from 'fastify';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { KubeClient } from '../kube/request.js';
import type { AuthenticationPolicy, RegistryPolicy } from '../policy/types.js';
import { harness, verifyLikeRegistry, type Harness } from '../test/support/token-server-app.js';
import { basic, keysForFile, SERVICE, snapshotOf } from '../test/support/token-server-fixtures.js';
import type { AppOptions } from './app.js';
import { buildPolicyState } from './sources/policy-state.js';

const now = new Date('2031-03-04T05:06:07Z');
const ADDRESS = '10.1.2.3';
const BUILDER = 'system:serviceaccount:ci:builder';
const keys = keysForFile(now);

const AUTHENTICATION: AuthenticationPolicy = {
  registryUsers: true,
  oidc: [],
  serviceAccounts: { audiences: [SERVICE], cacheTTLSeconds: 60, authenticated: false },
};

const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url');
/** A bound ServiceAccount token for ci:builder as the API server mints one; `signature` tells them apart. */
const saToken = (signature: string) =>
  `${b64({ alg: 'RS256', kid: 'sa' })}.${b64({
    iss: 'https://kubernetes.default.svc',
    sub: BUILDER,
    aud: [SERVICE],
    exp: Math.floor(now.getTime() / 1000) + 600,
    'kubernetes.io': { namespace: 'ci', serviceaccount: { name: 'builder', uid: 'u-1' } },
  })}.${signature}`;
const GENUINE = saToken('signed-by-the-cluster');
const forged = (n: number) => saToken(`forged-${n}`);

/** The API server's TokenReview: only GENUINE (and `alsoGenuine`) authenticate; every review is counted. */
function cluster(alsoGenuine: string[] = []): { kubeClient: NonNullable<AppOptions['kubeClient']>; reviews: () => number; hold: () => () => void } {
  let reviews = 0;
  let gate: Promise<void> | undefined;
  const client = {
    request: async (_method: string, _path: string, options: { body: { spec: { token: string } } }) => {
      reviews++;
      await gate;
      const token = options.body.spec.token;
      return token === GENUINE || alsoGenuine.includes(token)
        ? { status: { authenticated: true, user: { username: BUILDER }, audiences: [SERVICE] } }
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

async function start(extra: Partial<AppOptions> = {}, alsoGenuine: string[] = []): Promise<void> {
  api = cluster(alsoGenuine);
  h = await harness({ set: keys.set, now, extra: { kubeClient: api.kubeClient, ...extra } });
  const registries = h.snapshot.registries.map((r): RegistryPolicy =>
    r.service !== SERVICE
      ? r
      : {
          ...r,
          authentication: AUTHENTICATION,
          grants: [
            ...r.grants,
            {
              source: 'registry/ci',
              subjects: [{ kind: 'ServiceAccount', namespace: 'ci', name: 'builder' }],
              repositories: ['ci/**'],
              actions: ['pull', 'push'],
              catalog: false,
            },
          ],
        },
  );
  h.policy.set(buildPolicyState(snapshotOf(registries), h.credentials, now));
}

const login = (password: string) =>
  h.app.inject({
    method: 'GET',
    url: `/token?service=${SERVICE}&scope=repository:ci/app:pull,push`,
    remoteAddress: ADDRESS,
    headers: { authorization: basic('builder', password) },
  });

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
    const genuine = await login(GENUINE);
    expect(genuine.statusCode, genuine.body).toBe(200);
    const { claims } = await verifyLikeRegistry(genuine.json().token, keys.bundle, { issuer: 'portcullis-test', audience: SERVICE, now });
    expect(claims.sub).toBe(BUILDER);
    expect(claims.access).toEqual([{ type: 'repository', name: 'ci/app', actions: ['pull', 'push'] }]);
    expect(api.reviews()).toBe(11);
  });

  it("still spend the address's budget: once it is spent, a further forgery is 429 before any TokenReview", async () => {
    expect((await login(GENUINE)).statusCode).toBe(200);
    for (let i = 0; i < 30; i++) expect((await login(forged(i))).statusCode, `forgery ${i}`).toBe(401);
    expect(api.reviews()).toBe(31);
    expectThrottled(await login(forged(30)));
    expect(api.reviews()).toBe(31);
    // The verified token is cached and served whatever the address has spent.
    expect((await login(GENUINE)).statusCode).toBe(200);
    expect(h.log.lines.filter((l) => l.audit === 'refused' && l.reason === 'too many failed attempts')).toHaveLength(1);
  });
});

describe('ServiceAccount tokens and the address budget', () => {
  it('a new, genuine token from an address whose budget is spent waits like any login there: a review is not free', async () => {
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
