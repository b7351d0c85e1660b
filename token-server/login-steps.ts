// The steps every login path is made of (login.ts, shared-name-login.ts): who asked, what a verified
// credential grants, how a refusal is answered (one audit line, the registry's failure time, a 401 that
// says nothing about which check failed), and the budgets an attempt is counted against before it runs.

import { performance } from 'node:perf_hooks';
import type { Requester } from '../policy/authorize.js';
import type { UserEntry } from '../policy/types.js';
import type { ClientKey } from './client-key.js';
import type { AppContext } from './context.js';
import { TokenServerError } from './errors.js';
import type { LoginAttempt } from './limits.js';
import type { VerifiedIdentity } from './identity/types.js';
import type { LoadedRegistry } from './sources/types.js';
import { VerificationBusy } from './verification-queue.js';

/**
 * Who sent a request, as far as logins and audit lines need to know: the client address (trust-proxy.ts),
 * written whole in audit lines; every abuse limit counts it under its clientKey (an IPv6 client's /64).
 */
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

export function sourceUnavailable(): TokenServerError {
  return new TokenServerError('IDENTITY_SOURCE_UNAVAILABLE', { headers: { 'retry-after': '5' } });
}

export function userGrant(user: UserEntry, revision: string, grantType: Grant['grantType']): Grant {
  return { requester: { kind: 'user', username: user.username, groups: user.groups }, user, revision, grantType };
}

export function identityGrant(identity: VerifiedIdentity, grantType: Grant['grantType']): Grant {
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
export async function refused(
  ctx: AppContext,
  request: Caller,
  registry: LoadedRegistry,
  user: string | undefined,
  reason: string,
  startedAt: number,
): Promise<TokenServerError> {
  auditRefusal(ctx, request, registry, user, reason);
  await ctx.verifier.padFailure(registry, startedAt, ctx.identities.expectedDirectoryMs(registry));
  return challenge(registry, 'BAD_CREDENTIALS');
}

/** A check refused for a spent budget, before it runs: one audit line, the 429 to throw. */
export function overBudget(ctx: AppContext, request: Caller, registry: LoadedRegistry, user: string | undefined, retryAfterSeconds: number): TokenServerError {
  ctx.metrics.passwordChecksRefused.inc({ reason: 'budget' });
  auditRefusal(ctx, request, registry, user, 'too many failed attempts');
  return throttled(retryAfterSeconds);
}

/** Runs `check`; when a queue turned it away, `notRun` gives back what was counted and it is a quick 429. */
export async function queued<T>(
  ctx: AppContext,
  request: Caller,
  registry: LoadedRegistry,
  user: string | undefined,
  check: () => Promise<T>,
  notRun: () => void,
): Promise<T> {
  try {
    return await check();
  } catch (error) {
    notRun();
    if (!(error instanceof VerificationBusy)) throw error;
    ctx.metrics.passwordChecksRefused.inc({ reason: 'queue' });
    auditRefusal(ctx, request, registry, user, `not checked: ${error.message}`);
    throw throttled(1);
  }
}

/** What the throttle keys `account` by: one registry's `ci-bot` is not another's. */
export function accountKey(registry: LoadedRegistry, account: string): string {
  return `${registry.policy.service}\u0000${account}`;
}

/**
 * Counts an attempt against `account` (per service) and the client before `check` runs, 429 when over a
 * budget, then runs it; a check the queue turned away gives its places back and is a quick 429. The
 * caller says how the attempt ended. `user` is the name the audit line gives, if any is worth giving.
 */
export async function countedCheck<T>(
  ctx: AppContext,
  request: Caller,
  client: ClientKey,
  registry: LoadedRegistry,
  account: string,
  user: string | undefined,
  check: () => Promise<T>,
): Promise<{ result: T; attempt: LoginAttempt }> {
  const admitted = ctx.throttle.begin(accountKey(registry, account), client, ctx.now());
  if ('retryAfterSeconds' in admitted) throw overBudget(ctx, request, registry, user, admitted.retryAfterSeconds);
  return { result: await queued(ctx, request, registry, user, check, () => admitted.attempt.abandoned()), attempt: admitted.attempt };
}

/**
 * The same refused credentials again from this client (repeated-failures.ts): no check, no count, no
 * turn (login-turns.ts), the answer of any wrong password (a 503 while the directory is down), padded
 * from `since` (default: now).
 */
export async function repeatRefused(ctx: AppContext, request: Caller, registry: LoadedRegistry, username: string, since = performance.now()): Promise<never> {
  throw await passwordRefused(ctx, request, registry, username, 'the same wrong password again (counted once)', since);
}

/**
 * A failed password check: the 401, or while the registry's directory is down the 503. A 401 for
 * RegistryUsers beside a 503 for everyone else would tell which names are RegistryUsers.
 */
export async function passwordRefused(
  ctx: AppContext,
  request: Caller,
  registry: LoadedRegistry,
  user: string,
  reason: string,
  startedAt: number,
): Promise<TokenServerError> {
  const error = await refused(ctx, request, registry, user, reason, startedAt);
  return ctx.identities.directoryDown(registry) ? sourceUnavailable() : error;
}
