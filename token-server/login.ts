// Basic credentials -> who is asking, through whichever source checks them: RegistryUsers (bcrypt), LDAP,
// an OIDC issuer or the cluster (ServiceAccount tokens). Every path has the same shape:
//   a verification still cached          -> granted at once, never throttled;
//   the attempt counted against the budgets (429 before any check when over; an OIDC token is verified
//   first, see verifiedFirst; a ServiceAccount token is never counted against the account it claims
//   unless the cluster has reviewed that account from this client before, see reviewedWithinAddressBudget);
//   the check (bcrypt and the remote checks queued fairly by client, client-key.ts);
//   a failure                            -> one audit line, padded to the registry's failure time, 401;
//   a source that cannot answer          -> 503 IDENTITY_SOURCE_UNAVAILABLE, nothing granted.
// A failure says nothing about which check failed: unknown user, wrong password, wrong audience and an
// expired token all look the same to the client; the audit line says which. A name a delegated
// namespace's RegistryUser shares with the directory gets both checks as one attempt (shared-name-login.ts).

import { performance } from 'node:perf_hooks';
import type { BasicCredentials } from './basic-auth.js';
import { clientKey, type ClientKey } from './client-key.js';
import type { AppContext } from './context.js';
import type { CredentialCheck } from './credentials.js';
import type { TokenServerError } from './errors.js';
import type { LoginAttempt } from './limits.js';
import { hasJwtShape, type UnverifiedJwt } from './identity/jwt-shape.js';
import { refusedOnClaims } from './identity/service-accounts.js';
import type { IdentityRoute } from './identity/sources.js';
import type { IdentityCheck, VerifiedIdentity } from './identity/types.js';
import {
  accountKey,
  auditRefusal,
  countedCheck,
  identityGrant,
  overBudget,
  passwordRefused,
  queued,
  refused,
  sourceUnavailable,
  userGrant,
  type Caller,
  type Grant,
} from './login-steps.js';
import { inClientTurn } from './login-turns.js';
import { sharedNameLogin } from './shared-name-login.js';
import type { LoadedRegistry } from './sources/types.js';

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
  if (route.kind === 'password-or-ldap') return sharedNameLogin(ctx, request, registry, credentials, grantType);
  if (route.kind === 'ldap') {
    const lookup = ctx.identities.lookup(registry, 'ldap', username, password);
    if (!('miss' in lookup)) {
      ctx.metrics.identityChecks.inc({ source: 'ldap', result: 'cached' });
      return identityGrant(lookup, grantType);
    }
    return inClientTurn(ctx, request, registry, username, lookup.miss, () => identityLogin(ctx, request, registry, credentials, grantType, route, lookup));
  }
  // Only a JWT routes to a token source, so the lookup above is the one a token login needs.
  return identityLogin(ctx, request, registry, credentials, grantType, route, tokenLookup ?? ctx.identities.lookup(registry, 'token', username, password));
}

function passwordLogin(
  ctx: AppContext,
  request: Caller,
  registry: LoadedRegistry,
  credentials: BasicCredentials,
  grantType: 'basic' | 'password',
): Grant | Promise<Grant> {
  // A password verified within the cache TTL needs no bcrypt, so it is never throttled: others failing
  // from the same address cannot lock out a client that is already logging in.
  const lookup = ctx.verifier.lookup(registry, credentials.username, credentials.password);
  if ('hit' in lookup) return userGrant(lookup.hit.user, lookup.hit.revision, grantType);
  // The failure time runs from the turn's start: time spent waiting for it is the burst's, not this login's.
  return inClientTurn(ctx, request, registry, credentials.username, lookup.miss, () =>
    verifyPassword(ctx, request, registry, credentials, grantType, lookup, performance.now()),
  );
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
  const client = clientKey(request.ip);
  const fail = (reason: string): Promise<TokenServerError> => passwordRefused(ctx, request, registry, username, reason, startedAt);

  const { result: check, attempt } = await countedCheck<CredentialCheck>(ctx, request, client, registry, username, username, () =>
    ctx.verifier.check(registry, username, password, lookup.miss, client),
  );
  if (!check.ok) {
    attempt.failed();
    // Not while the directory is down: a directory name's attempt, unanswered then, is not remembered
    // (it says nothing of the password), so a RegistryUser's replays must not be answered without a
    // count either: ten 503s then a 429 for one, 503s for ever for the other.
    if (!ctx.identities.directoryDown(registry)) ctx.recentFailures.remember(lookup.miss, client, registry, ctx.now());
    throw await fail(check.reason);
  }
  attempt.succeeded();
  return userGrant(check.user, check.revision, grantType);
}

/** An attempt that counts only if it fails, and then against the client's address budget only. */
function addressOnlyAttempt(ctx: AppContext, client: ClientKey): LoginAttempt {
  const settled = (): void => undefined;
  return { succeeded: settled, succeededAsAnother: settled, abandoned: settled, failed: () => ctx.throttle.recordAddressFailure(client, ctx.now()) };
}

/**
 * An OIDC token is verified before it is counted. Until it verifies, nothing in it (`iss`, `sub`) says who
 * sent it, so no budget keyed by it may be one the issuer's real users share: keyed by the issuer, ten
 * forged tokens would lock every uncached user of the issuer at that address out. The check is local (a
 * signature; the key set is re-read at most every 30 s whatever the `kid`s), so it needs no budget in
 * front of it. A token that verifies is granted whatever the address has spent (it is no guess); one that
 * does not counts against the address's budget only, which throttles the sender's password guesses.
 */
async function verifiedFirst(
  ctx: AppContext,
  client: ClientKey,
  check: () => Promise<IdentityCheck>,
): Promise<{ result: IdentityCheck; attempt: LoginAttempt }> {
  return { result: await check(), attempt: addressOnlyAttempt(ctx, client) };
}

/** What a ServiceAccount's budget and known clients are kept under: the NUL keeps it apart from Basic auth's login names. */
function serviceAccountOf(username: string): string {
  return `serviceaccount\u0000${username}`;
}

/**
 * A ServiceAccount token is as unverified as an OIDC one until the cluster reviews it: its `sub` is the
 * sender's to write, so no budget keyed by it may be one the real account needs (ten forged tokens naming
 * `ci:builder` would lock the real builder out at that address). But a TokenReview costs the API server a
 * call, so unlike a signature check it stays behind a budget: the remote-check queue bounds the reviews of
 * one client in flight, and
 * - a token claiming an account not known at this client faces the client's address budget alone (429
 *   before any review once spent); a review that fails counts against the address only;
 * - a token claiming an account the cluster has reviewed from this client before (a known client) skips
 *   the address budget and faces the per-(account, address) one instead, as a known password login does.
 *   A node's image pulls all come from the node's address (pods behind SNAT share it too), so without
 *   this anyone there spending the address budget would turn every uncached pull credential of the node
 *   into a 429. Forgeries naming that account can still spend its per-pair budget, but only from the
 *   same address (or /64), and only for that account: a failure counts against the pair and the address.
 * A review that passes gives back what was counted (it was no guess) and makes the account the cluster
 * named known at this client; the claim alone never makes anyone known. A token its own claims refuse
 * (no expiry, expired, another audience) needs no review and counts against the address only, as a
 * forged OIDC token does: otherwise ten junk tokens naming a known account would spend its per-pair budget
 * without costing the sender anything the cluster sees.
 */
async function reviewedWithinAddressBudget(
  ctx: AppContext,
  request: Caller,
  client: ClientKey,
  registry: LoadedRegistry,
  jwt: UnverifiedJwt,
  review: () => Promise<IdentityCheck>,
): Promise<{ result: IdentityCheck; attempt: LoginAttempt }> {
  const policy = registry.policy.authentication?.serviceAccounts;
  const onClaims = policy === undefined ? undefined : refusedOnClaims(jwt, policy, ctx.now());
  // Refused on claims anyone can write, without asking the cluster: no per-account place, only the address's.
  if (onClaims !== undefined) return { result: onClaims, attempt: addressOnlyAttempt(ctx, client) };
  const inQueue = () => ctx.remoteChecks.run(client, review);
  const claimed = jwt.claims.sub;
  const account = typeof claimed === 'string' ? serviceAccountOf(claimed) : undefined;
  let counted: { result: IdentityCheck; attempt: LoginAttempt };
  if (account !== undefined && ctx.throttle.isKnownClient(accountKey(registry, account), client, ctx.now())) {
    const { result, attempt } = await countedCheck(ctx, request, client, registry, account, undefined, inQueue);
    // The claim is never made known (below, the account the cluster named is): a review that passed
    // gives the places back without marking it.
    counted = { result, attempt: { ...attempt, succeeded: () => attempt.succeededAsAnother() } };
  } else {
    const wait = ctx.throttle.addressRetryAfterSeconds(client, ctx.now());
    if (wait > 0) throw overBudget(ctx, request, registry, undefined, wait);
    const nothingCounted = (): void => undefined;
    counted = { result: await queued(ctx, request, registry, undefined, inQueue, nothingCounted), attempt: addressOnlyAttempt(ctx, client) };
  }
  const { result } = counted;
  if ('ok' in result && result.ok) ctx.throttle.markKnownClient(accountKey(registry, serviceAccountOf(result.identity.username)), client, ctx.now());
  return counted;
}

/** The account an attempt counts against: the login name; for a JWT no source accepts, one account of its own (none of them succeeds). */
function accountOf(route: Exclude<IdentityRoute, { kind: 'oidc' | 'serviceaccount' }>, username: string): string {
  return route.kind === 'ldap' ? username : 'token';
}

async function identityLogin(
  ctx: AppContext,
  request: Caller,
  registry: LoadedRegistry,
  credentials: BasicCredentials,
  grantType: 'basic' | 'password',
  route: IdentityRoute,
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
  const client = clientKey(request.ip);
  // (A directory name's repeat is answered before its turn, in login.)
  if (ctx.recentFailures.isRepeat(lookup.miss, client, registry, ctx.now())) {
    throw await refused(ctx, request, registry, auditUser, `${source}: the same refused credentials again (counted once)`, startedAt);
  }

  const verify = () => ctx.identities.verify(registry, username, password, route, lookup.miss);
  // A signature check is local and cheap; a directory bind or a TokenReview costs a peer, so those queue.
  const { result: check, attempt } =
    route.kind === 'oidc'
      ? await verifiedFirst(ctx, client, verify)
      : route.kind === 'serviceaccount'
        ? await reviewedWithinAddressBudget(ctx, request, client, registry, route.jwt, verify)
        : await countedCheck<IdentityCheck>(ctx, request, client, registry, accountOf(route, username), username, () =>
            route.kind === 'ldap' ? ctx.remoteChecks.run(client, verify) : verify(),
          );
  if ('unavailable' in check) {
    // A directory name's attempt counts as a RegistryUser's wrong password does while the directory is
    // down (both then answer 503): given back, the 11th guess would be a 503 for one and a 429 for the other.
    if (route.kind === 'ldap') attempt.failed();
    else attempt.abandoned();
    ctx.metrics.identityChecks.inc({ source, result: 'unavailable' });
    auditRefusal(ctx, request, registry, username, `${source} unavailable: ${check.unavailable}`);
    // While the directory is down a RegistryUser's wrong password is a 503 after the failure time
    // (passwordRefused): a directory name's 503 at once would tell the two apart.
    if (route.kind === 'ldap') await ctx.verifier.padFailure(registry, startedAt, ctx.identities.expectedDirectoryMs(registry));
    throw sourceUnavailable();
  }
  if (!check.ok) {
    attempt.failed();
    ctx.recentFailures.remember(lookup.miss, client, registry, ctx.now());
    ctx.metrics.identityChecks.inc({ source, result: 'refused' });
    throw await refused(ctx, request, registry, auditUser, `${source}: ${check.reason}`, startedAt);
  }
  attempt.succeeded();
  ctx.metrics.identityChecks.inc({ source, result: 'ok' });
  return identityGrant(check.identity, grantType);
}
