// Basic credentials -> who is asking, through whichever source checks them: RegistryUsers (bcrypt), LDAP,
// an OIDC issuer or the cluster (ServiceAccount tokens). Every path has the same shape:
//   a verification still cached          -> granted at once, never throttled;
//   the attempt counted against the budgets (429 before any check when over; an OIDC token is verified
//   first, see verifiedFirst);
//   the check (bcrypt and the remote checks queued fairly by client address);
//   a failure                            -> one audit line, padded to the registry's failure time, 401;
//   a source that cannot answer          -> 503 IDENTITY_SOURCE_UNAVAILABLE, nothing granted.
// A failure says nothing about which check failed: unknown user, wrong password, wrong audience and an
// expired token all look the same to the client; the audit line says which.

import { performance } from 'node:perf_hooks';
import type { Requester } from '../policy/authorize.js';
import type { UserEntry } from '../policy/types.js';
import type { BasicCredentials } from './basic-auth.js';
import type { AppContext } from './context.js';
import type { CredentialCheck } from './credentials.js';
import { TokenServerError } from './errors.js';
import type { LoginAttempt } from './limits.js';
import { hasJwtShape } from './identity/jwt-shape.js';
import type { LoginRoute } from './identity/sources.js';
import type { IdentityCheck, VerifiedIdentity } from './identity/types.js';
import type { LoadedRegistry } from './sources/types.js';
import { VerificationBusy } from './verification-queue.js';

/** Who sent a request, as far as logins and audit lines need to know: the client address (trust-proxy.ts). */
export interface Caller {
  ip: string;
}

export interface Grant {
  requester: Requester;
  /** The user's snapshot entry, when a RegistryUser proved a credential. */
  user?: UserEntry;
  /** Set when a RegistryUser proved a credential: what a refresh token binds to, with the user object. */
  revision?: string;
  /** For an identity from a source: which one (audit lines). */
  source?: string;
  grantType: 'basic' | 'anonymous' | 'password' | 'refresh_token';
}

export function realmOf(registry: LoadedRegistry | undefined): string {
  return (registry?.policy.realm ?? registry?.policy.service ?? 'portcullis').replace(/["\\\r\n]/g, '');
}

export function challenge(registry: LoadedRegistry, code: 'BAD_CREDENTIALS' | 'AUTHENTICATION_REQUIRED', detail?: string): TokenServerError {
  const options: { detail?: string; headers: Record<string, string> } = {
    headers: { 'www-authenticate': `Basic realm="${realmOf(registry)}", charset="UTF-8"` },
  };
  if (detail !== undefined) options.detail = detail;
  return new TokenServerError(code, options);
}

export function throttled(retryAfter: number): TokenServerError {
  return new TokenServerError('TOO_MANY_REQUESTS', { headers: { 'retry-after': String(retryAfter) } });
}

function sourceUnavailable(): TokenServerError {
  return new TokenServerError('IDENTITY_SOURCE_UNAVAILABLE', { headers: { 'retry-after': '5' } });
}

export function userGrant(user: UserEntry, revision: string, grantType: Grant['grantType']): Grant {
  return { requester: { kind: 'user', username: user.username, groups: user.groups }, user, revision, grantType };
}

function identityGrant(identity: VerifiedIdentity, grantType: Grant['grantType']): Grant {
  const requester: Requester = {
    kind: 'identity',
    source: identity.source,
    username: identity.username,
    groups: identity.groups,
    authenticated: identity.authenticated,
    ...(identity.serviceAccount === undefined ? {} : { serviceAccount: identity.serviceAccount }),
  };
  // No refresh token for an identity: only its source can say it is still valid, so it logs in again.
  return { requester, grantType, source: identity.source };
}

export function auditRefusal(ctx: AppContext, request: Caller, registry: LoadedRegistry | undefined, user: string | undefined, reason: string): void {
  ctx.audit.info({ audit: 'refused', client: request.ip, user: user ?? null, service: registry?.policy.service ?? null, reason }, 'token refused');
}

/** A refused login: one audit line, then the registry's failure time; the 401 to throw. */
async function refused(
  ctx: AppContext,
  request: Caller,
  registry: LoadedRegistry,
  user: string | undefined,
  reason: string,
  startedAt: number,
): Promise<TokenServerError> {
  auditRefusal(ctx, request, registry, user, reason);
  await ctx.verifier.padFailure(registry, startedAt);
  return challenge(registry, 'BAD_CREDENTIALS');
}

/**
 * Counts an attempt against `account` (per service) and the client address before `check` runs, 429 when
 * over a budget, then runs it; a check the queue turned away gives its places back and is a quick 429.
 * The caller says how the attempt ended.
 */
async function countedCheck<T>(
  ctx: AppContext,
  request: Caller,
  registry: LoadedRegistry,
  account: string,
  user: string,
  check: () => Promise<T>,
): Promise<{ result: T; attempt: LoginAttempt }> {
  const admitted = ctx.throttle.begin(`${registry.policy.service}\u0000${account}`, request.ip, ctx.now());
  if ('retryAfterSeconds' in admitted) {
    ctx.metrics.passwordChecksRefused.inc({ reason: 'budget' });
    auditRefusal(ctx, request, registry, user, 'too many failed attempts');
    throw throttled(admitted.retryAfterSeconds);
  }
  try {
    return { result: await check(), attempt: admitted.attempt };
  } catch (error) {
    admitted.attempt.abandoned();
    if (!(error instanceof VerificationBusy)) throw error;
    ctx.metrics.passwordChecksRefused.inc({ reason: 'queue' });
    auditRefusal(ctx, request, registry, user, `not checked: ${error.message}`);
    throw throttled(1);
  }
}

/**
 * A grant, at once when a cached verification answers (no promise: most logins of a busy registry are
 * repeats, and each await is a turn of the microtask queue on every token), or a promise of one.
 */
export function login(
  ctx: AppContext,
  request: Caller,
  registry: LoadedRegistry,
  credentials: BasicCredentials,
  grantType: 'basic' | 'password',
): Grant | Promise<Grant> {
  const { username, password } = credentials;
  // A token already verified is found before routing: one keyed hash, not decoding it to learn its issuer.
  const tokenLookup =
    registry.policy.authentication !== undefined && hasJwtShape(password) ? ctx.identities.lookup(registry, 'token', username, password) : undefined;
  if (tokenLookup !== undefined && !('miss' in tokenLookup)) {
    ctx.metrics.identityChecks.inc({ source: tokenLookup.source, result: 'cached' });
    return identityGrant(tokenLookup, grantType);
  }
  const route = ctx.identities.route(registry, username, password);
  if (route.kind === 'password') return passwordLogin(ctx, request, registry, credentials, grantType);
  // Only a JWT routes to a token source, so the lookup above is the one a token login needs.
  const lookup =
    route.kind === 'ldap'
      ? ctx.identities.lookup(registry, 'ldap', username, password)
      : (tokenLookup ?? ctx.identities.lookup(registry, 'token', username, password));
  return identityLogin(ctx, request, registry, credentials, grantType, route, lookup);
}

function passwordLogin(
  ctx: AppContext,
  request: Caller,
  registry: LoadedRegistry,
  credentials: BasicCredentials,
  grantType: 'basic' | 'password',
): Grant | Promise<Grant> {
  const startedAt = performance.now();
  // A password verified within the cache TTL needs no bcrypt, so it is never throttled: others failing
  // from the same address cannot lock out a client that is already logging in.
  const lookup = ctx.verifier.lookup(registry, credentials.username, credentials.password);
  if ('hit' in lookup) return userGrant(lookup.hit.user, lookup.hit.revision, grantType);
  return verifyPassword(ctx, request, registry, credentials, grantType, lookup, startedAt);
}

/** A password the cache did not know: counted, checked with bcrypt, and a failure padded (see passwordLogin). */
async function verifyPassword(
  ctx: AppContext,
  request: Caller,
  registry: LoadedRegistry,
  credentials: BasicCredentials,
  grantType: 'basic' | 'password',
  lookup: { miss: string },
  startedAt: number,
): Promise<Grant> {
  const { username, password } = credentials;
  const fail = async (reason: string): Promise<TokenServerError> => {
    const error = await refused(ctx, request, registry, username, reason, startedAt);
    // While the directory is down, every failed password login of the registry says so: a 401 for
    // RegistryUsers beside a 503 for everyone else would tell which names are RegistryUsers.
    return ctx.identities.directoryDown(registry) ? sourceUnavailable() : error;
  };
  if (ctx.recentFailures.isRepeat(lookup.miss, request.ip, registry, ctx.now())) throw await fail('the same wrong password again (counted once)');

  const { result: check, attempt } = await countedCheck<CredentialCheck>(ctx, request, registry, username, username, () =>
    ctx.verifier.check(registry, username, password, lookup.miss, request.ip),
  );
  if (!check.ok) {
    attempt.failed();
    ctx.recentFailures.remember(lookup.miss, request.ip, registry, ctx.now());
    throw await fail(check.reason);
  }
  attempt.succeeded();
  return userGrant(check.user, check.revision, grantType);
}

/**
 * An OIDC token is verified before it is counted. Until it verifies, nothing in it (`iss`, `sub`) says who
 * sent it, so no budget keyed by it may be one the issuer's real users share: keyed by the issuer, ten
 * forged tokens would lock every uncached user of the issuer at that address out. The check is local (a
 * signature; the key set is re-read at most every 30 s whatever the `kid`s), so it needs no budget in
 * front of it. A token that verifies is granted whatever the address has spent (it is no guess); one that
 * does not counts against the address's budget only, which throttles the sender's password guesses.
 */
async function verifiedFirst(ctx: AppContext, request: Caller, check: () => Promise<IdentityCheck>): Promise<{ result: IdentityCheck; attempt: LoginAttempt }> {
  const result = await check();
  const settled = (): void => undefined;
  return { result, attempt: { succeeded: settled, abandoned: settled, failed: () => ctx.throttle.recordAddressFailure(request.ip, ctx.now()) } };
}

/**
 * The account an attempt counts against: the login name; for a ServiceAccount token its claimed subject,
 * which the cluster checks; for a JWT no source accepts, one account of its own (none of them succeeds).
 */
function accountOf(route: Exclude<LoginRoute, { kind: 'password' | 'oidc' }>, username: string): string {
  if (route.kind === 'serviceaccount') return `serviceaccount\u0000${String(route.jwt.claims.sub)}`;
  if (route.kind === 'ldap') return username;
  return 'token';
}

async function identityLogin(
  ctx: AppContext,
  request: Caller,
  registry: LoadedRegistry,
  credentials: BasicCredentials,
  grantType: 'basic' | 'password',
  route: Exclude<LoginRoute, { kind: 'password' }>,
  lookup: VerifiedIdentity | { miss: string },
): Promise<Grant> {
  const startedAt = performance.now();
  const { username, password } = credentials;
  const source = route.kind === 'unroutable' ? 'token' : route.kind;
  if (!('miss' in lookup)) {
    ctx.metrics.identityChecks.inc({ source, result: 'cached' });
    return identityGrant(lookup, grantType);
  }
  // A directory user is named in the audit line; the name sent beside a token means nothing.
  const auditUser = route.kind === 'ldap' ? username : undefined;
  if (ctx.recentFailures.isRepeat(lookup.miss, request.ip, registry, ctx.now())) {
    throw await refused(ctx, request, registry, auditUser, `${source}: the same refused credentials again (counted once)`, startedAt);
  }

  const verify = () => ctx.identities.verify(registry, username, password, route, lookup.miss);
  // A signature check is local and cheap; a directory bind or a TokenReview costs a peer, so those queue.
  const remote = route.kind === 'ldap' || route.kind === 'serviceaccount';
  const { result: check, attempt } =
    route.kind === 'oidc'
      ? await verifiedFirst(ctx, request, verify)
      : await countedCheck<IdentityCheck>(ctx, request, registry, accountOf(route, username), username, () =>
          remote ? ctx.remoteChecks.run(request.ip, verify) : verify(),
        );
  if ('unavailable' in check) {
    attempt.abandoned();
    ctx.metrics.identityChecks.inc({ source, result: 'unavailable' });
    auditRefusal(ctx, request, registry, username, `${source} unavailable: ${check.unavailable}`);
    throw sourceUnavailable();
  }
  if (!check.ok) {
    attempt.failed();
    ctx.recentFailures.remember(lookup.miss, request.ip, registry, ctx.now());
    ctx.metrics.identityChecks.inc({ source, result: 'refused' });
    throw await refused(ctx, request, registry, auditUser, `${source}: ${check.reason}`, startedAt);
  }
  attempt.succeeded();
  ctx.metrics.identityChecks.inc({ source, result: 'ok' });
  return identityGrant(check.identity, grantType);
}
