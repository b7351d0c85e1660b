// Basic credentials -> who is asking, through whichever source checks them: RegistryUsers (bcrypt), LDAP,
// an OIDC issuer or the cluster (ServiceAccount tokens). Every path has the same shape:
//   a verification still cached          -> granted at once, never throttled;
//   the attempt counted against the budgets (429 before any check when over);
//   the check (bcrypt and the remote checks queued fairly by client address);
//   a failure                            -> one audit line, padded to the registry's failure time, 401;
//   a source that cannot answer          -> 503 IDENTITY_SOURCE_UNAVAILABLE, nothing granted.
// A failure says nothing about which check failed: unknown user, wrong password, wrong audience and an
// expired token all look the same to the client; the audit line says which.

import { performance } from 'node:perf_hooks';
import type { FastifyRequest } from 'fastify';
import type { Requester } from '../policy/authorize.js';
import type { UserEntry } from '../policy/types.js';
import type { BasicCredentials } from './basic-auth.js';
import type { AppContext } from './context.js';
import type { CredentialCheck } from './credentials.js';
import { TokenServerError } from './errors.js';
import { hasJwtShape } from './identity/jwt-shape.js';
import type { LoginRoute } from './identity/sources.js';
import type { IdentityCheck, VerifiedIdentity } from './identity/types.js';
import type { LoadedRegistry } from './sources/types.js';
import { VerificationBusy } from './verification-queue.js';

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

export function auditRefusal(ctx: AppContext, request: FastifyRequest, registry: LoadedRegistry | undefined, user: string | undefined, reason: string): void {
  ctx.audit.info({ audit: 'refused', client: request.ip, user: user ?? null, service: registry?.policy.service ?? null, reason }, 'token refused');
}

export async function login(
  ctx: AppContext,
  request: FastifyRequest,
  registry: LoadedRegistry,
  credentials: BasicCredentials,
  grantType: 'basic' | 'password',
): Promise<Grant> {
  if (registry.policy.authentication !== undefined && hasJwtShape(credentials.password)) {
    const cached = ctx.identities.cachedToken(registry, credentials.password);
    if (cached !== undefined) {
      ctx.metrics.identityChecks.inc({ source: cached.source, result: 'cached' });
      return identityGrant(cached, grantType);
    }
  }
  const route = ctx.identities.route(registry, credentials.username, credentials.password);
  if (route.kind === 'password') return passwordLogin(ctx, request, registry, credentials, grantType);
  return identityLogin(ctx, request, registry, credentials, grantType, route);
}

async function passwordLogin(
  ctx: AppContext,
  request: FastifyRequest,
  registry: LoadedRegistry,
  credentials: BasicCredentials,
  grantType: 'basic' | 'password',
): Promise<Grant> {
  const startedAt = performance.now();
  const { username, password } = credentials;
  // A password verified within the cache TTL needs no bcrypt, so it is never throttled: others failing
  // from the same address cannot lock out a client that is already logging in.
  const lookup = ctx.verifier.lookup(registry, username, password);
  if ('hit' in lookup) return userGrant(lookup.hit.user, lookup.hit.revision, grantType);
  if (ctx.recentFailures.isRepeat(lookup.miss, request.ip, registry, ctx.now())) {
    auditRefusal(ctx, request, registry, username, 'the same wrong password again (counted once)');
    await ctx.verifier.padFailure(registry, startedAt);
    if (ctx.identities.directoryDown(registry)) throw sourceUnavailable();
    throw challenge(registry, 'BAD_CREDENTIALS');
  }

  const admitted = ctx.throttle.begin(`${registry.policy.service}\u0000${username}`, request.ip, ctx.now());
  if ('retryAfterSeconds' in admitted) {
    ctx.metrics.passwordChecksRefused.inc({ reason: 'budget' });
    auditRefusal(ctx, request, registry, username, 'too many failed attempts');
    throw throttled(admitted.retryAfterSeconds);
  }
  let check: CredentialCheck;
  try {
    check = await ctx.verifier.check(registry, username, password, lookup.miss, request.ip);
  } catch (error) {
    admitted.attempt.abandoned();
    if (!(error instanceof VerificationBusy)) throw error;
    ctx.metrics.passwordChecksRefused.inc({ reason: 'queue' });
    auditRefusal(ctx, request, registry, username, `not checked: ${error.message}`);
    throw throttled(1);
  }
  if (!check.ok) {
    admitted.attempt.failed();
    ctx.recentFailures.remember(lookup.miss, request.ip, registry, ctx.now());
    auditRefusal(ctx, request, registry, username, check.reason);
    await ctx.verifier.padFailure(registry, startedAt);
    // While the directory is down, every failed password login of the registry says so: a 401 for
    // RegistryUsers beside a 503 for everyone else would tell which names are RegistryUsers.
    if (ctx.identities.directoryDown(registry)) throw sourceUnavailable();
    throw challenge(registry, 'BAD_CREDENTIALS');
  }
  admitted.attempt.succeeded();
  return userGrant(check.user, check.revision, grantType);
}

/**
 * The account an attempt counts against: the login name; for an OIDC token its issuer (the subject of a
 * token not yet verified is the sender's to choose, so it cannot be the key); for a ServiceAccount token
 * its claimed subject, which the cluster checks.
 */
function accountOf(route: LoginRoute, username: string): string {
  if (route.kind === 'oidc') return `oidc\u0000${route.issuer.policy.issuer}`;
  if (route.kind === 'serviceaccount') return `serviceaccount\u0000${String(route.jwt.claims.sub)}`;
  if (route.kind === 'ldap') return username;
  return 'token';
}

async function identityLogin(
  ctx: AppContext,
  request: FastifyRequest,
  registry: LoadedRegistry,
  credentials: BasicCredentials,
  grantType: 'basic' | 'password',
  route: Exclude<LoginRoute, { kind: 'password' }>,
): Promise<Grant> {
  const startedAt = performance.now();
  const { username, password } = credentials;
  const source = route.kind === 'unroutable' ? 'token' : route.kind;
  const cached = ctx.identities.lookup(registry, username, password, route);
  if (!('miss' in cached)) {
    ctx.metrics.identityChecks.inc({ source, result: 'cached' });
    return identityGrant(cached, grantType);
  }
  if (ctx.recentFailures.isRepeat(cached.miss, request.ip, registry, ctx.now())) {
    auditRefusal(ctx, request, registry, route.kind === 'ldap' ? username : undefined, `${source}: the same refused credentials again (counted once)`);
    await ctx.verifier.padFailure(registry, startedAt);
    throw challenge(registry, 'BAD_CREDENTIALS');
  }

  const admitted = ctx.throttle.begin(`${registry.policy.service}\u0000${accountOf(route, username)}`, request.ip, ctx.now());
  if ('retryAfterSeconds' in admitted) {
    ctx.metrics.passwordChecksRefused.inc({ reason: 'budget' });
    auditRefusal(ctx, request, registry, username, 'too many failed attempts');
    throw throttled(admitted.retryAfterSeconds);
  }
  let check: IdentityCheck;
  try {
    const verify = () => ctx.identities.verify(registry, username, password, route, cached.miss);
    // A signature check is local and cheap; a directory bind or a TokenReview costs a peer, so those queue.
    check = route.kind === 'ldap' || route.kind === 'serviceaccount' ? await ctx.remoteChecks.run(request.ip, verify) : await verify();
  } catch (error) {
    admitted.attempt.abandoned();
    if (!(error instanceof VerificationBusy)) throw error;
    ctx.metrics.passwordChecksRefused.inc({ reason: 'queue' });
    auditRefusal(ctx, request, registry, username, `not checked: ${error.message}`);
    throw throttled(1);
  }
  if ('unavailable' in check) {
    admitted.attempt.abandoned();
    ctx.metrics.identityChecks.inc({ source, result: 'unavailable' });
    auditRefusal(ctx, request, registry, username, `${source} unavailable: ${check.unavailable}`);
    throw sourceUnavailable();
  }
  if (!check.ok) {
    admitted.attempt.failed();
    ctx.recentFailures.remember(cached.miss, request.ip, registry, ctx.now());
    ctx.metrics.identityChecks.inc({ source, result: 'refused' });
    auditRefusal(ctx, request, registry, route.kind === 'ldap' ? username : undefined, `${source}: ${check.reason}`);
    await ctx.verifier.padFailure(registry, startedAt);
    throw challenge(registry, 'BAD_CREDENTIALS');
  }
  admitted.attempt.succeeded();
  ctx.metrics.identityChecks.inc({ source, result: 'ok' });
  return identityGrant(check.identity, grantType);
}
