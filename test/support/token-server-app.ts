// Builds an app over fixture policy and keys for route tests, and checks tokens the way Distribution
// does: the x5c chain must lead to the CA bundle, then the signature must verify with the leaf key.

import { X509Certificate } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { build, type AppOptions } from '../../token-server/app.js';
import type { PasswordCompare } from '../../token-server/credentials.js';
import type { Limits } from '../../token-server/limits.js';
import { buildPolicyState } from '../../token-server/sources/policy-state.js';
import type { KeyState, PolicyState } from '../../token-server/sources/types.js';
import type { SigningKeySet } from '../../wire/signing-key-set.js';
import type { AuthenticationPolicy, Credentials, GrantEntry, RegistryPolicy, Snapshot } from '../../policy/types.js';
import { captureLogger, makePolicy, MemorySource, snapshotOf, DEFAULT_USERS, type FixtureUser } from './token-server-fixtures.js';

export interface Harness {
  app: FastifyInstance;
  policy: MemorySource<PolicyState>;
  keys: MemorySource<KeyState>;
  log: ReturnType<typeof captureLogger>;
  clock: { now: Date };
  snapshot: Snapshot;
  credentials: Credentials;
  /** Replace the users (and so credentials) the app serves, and optionally the issuer. */
  setUsers(users: FixtureUser[], issuer?: string): Promise<void>;
}

export async function harness(options: {
  set: SigningKeySet;
  now: Date;
  users?: FixtureUser[];
  limits?: Partial<Limits>;
  compare?: PasswordCompare;
  extra?: Partial<AppOptions>;
}): Promise<Harness> {
  const clock = { now: options.now };
  const { snapshot, credentials } = await makePolicy(options.users ?? DEFAULT_USERS);
  const policy = new MemorySource<PolicyState>(buildPolicyState(snapshot, credentials, clock.now));
  const keys = new MemorySource<KeyState>({ set: options.set, loadedAt: clock.now });
  const log = captureLogger();
  const appOptions: AppOptions = { policy, keys, logger: log.logger, now: () => clock.now, ...options.extra };
  if (options.limits !== undefined) appOptions.limits = options.limits;
  if (options.compare !== undefined) appOptions.comparePassword = options.compare;
  const app = await build(appOptions);
  const h: Harness = {
    app,
    policy,
    keys,
    log,
    clock,
    snapshot,
    credentials,
    async setUsers(users, issuer) {
      const next = await makePolicy(users, 'ES256', issuer);
      h.snapshot = next.snapshot;
      h.credentials = next.credentials;
      policy.set(buildPolicyState(next.snapshot, next.credentials, clock.now));
    },
  };
  return h;
}

export interface VerifiedToken {
  header: { alg?: string; kid?: string; x5c?: string[] };
  claims: JWTPayload & { access?: { type: string; name: string; actions: string[]; class?: string }[] };
}

/** Verifies like Distribution: chain to the bundle's CA, leaf signature, issuer, audience (a string). */
export async function verifyLikeRegistry(token: string, bundlePem: string, expected: { issuer: string; audience: string; now: Date }): Promise<VerifiedToken> {
  const header = decodeProtectedHeader(token) as VerifiedToken['header'];
  const ca = new X509Certificate(bundlePem);
  const chain = (header.x5c ?? []).map((b64) => new X509Certificate(Buffer.from(b64, 'base64')));
  const leaf = chain[0];
  if (leaf === undefined) throw new Error('no x5c');
  const issuer = chain[1] ?? ca;
  if (!issuer.raw.equals(ca.raw)) throw new Error('x5c does not end at the bundle CA');
  if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) throw new Error('leaf not issued by the CA');
  const { payload } = await jwtVerify(token, leaf.publicKey, {
    issuer: expected.issuer,
    audience: expected.audience,
    algorithms: [header.alg ?? 'none'],
    currentDate: expected.now,
  });
  if (typeof payload.aud !== 'string') throw new Error('aud must be a string for Distribution 2.8');
  return { header, claims: payload };
}

/** POSTs an OAuth2 token form (password or refresh_token grant) to the app, as client `test` of `service`. */
export function postTokenForm(app: FastifyInstance, service: string, fields: Record<string, string>): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ client_id: 'test', service, ...fields }).toString(),
  });
}

/** Serves `service` with `authentication` and one more grant; everything else the harness serves stays. */
export function serveWithAuthentication(h: Harness, service: string, authentication: AuthenticationPolicy, grant: GrantEntry, now: Date): void {
  const registries = h.snapshot.registries.map((r): RegistryPolicy => (r.service !== service ? r : { ...r, authentication, grants: [...r.grants, grant] }));
  h.policy.set(buildPolicyState(snapshotOf(registries), h.credentials, now));
}
