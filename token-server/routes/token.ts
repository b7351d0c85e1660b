// The Docker Registry v2 token protocol: `GET /token` (Basic auth or anonymous; Docker's classic flow)
// and `POST /token` (OAuth2 password and refresh_token grants; Docker with identity tokens, containerd).

import type { FastifyInstance } from 'fastify';
import { sessionRevision } from '../../policy/revision.js';
import type { ScopeDecision } from '../../policy/authorize.js';
import { authorizeCached } from '../../policy/decision-cache.js';
import { READ_ONLY_RETRY_AFTER_SECONDS, writesRefused, type WriteRefusal } from '../../policy/read-only-window.js';
import { BoundedMap } from '../../policy/bounded-map.js';
import { parseScopes, type ResourceScope } from '../../policy/scope.js';
import type { AppContext, SigningMaterial } from '../context.js';
import { registryUserPasswords } from '../../policy/compile/authentication.js';
import { TokenServerError } from '../errors.js';
import { credentialsProblem } from '../basic-auth.js';
import { login } from '../login.js';
import { auditRefusal, throttled, userGrant, type Caller, type Grant } from '../login-steps.js';
import { clientKey } from '../client-key.js';
import { newTokenId, type AccessEntry } from '../../wire/access-token.js';
import { auditTokenIssued, decisionText } from '../token-audit.js';
import type { LoadedRegistry, PolicyState } from '../sources/types.js';

/** Clients assume a token lives at least this long (the token spec's minimum). */
const MIN_EXPIRES_IN = 60;

export type Params = Record<string, unknown>;

/**
 * Marks a body whose `token` and `access_token` are the signer's output as it came: base64url segments
 * and dots (wire/access-token.ts), nothing JSON escapes. token-get.ts then writes the body's JSON without
 * scanning the token, which is most of it. JSON.stringify leaves symbol keys out.
 */
export const SIGNED_TOKEN: unique symbol = Symbol('signed token');

export interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  scope?: string;
  refresh_token?: string;
  [SIGNED_TOKEN]?: true;
}

/** POST /token; GET /token is token-get.ts. */
export function registerTokenRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post('/token', async (request, reply) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null) {
      throw new TokenServerError('INVALID_REQUEST', { detail: 'expected an application/x-www-form-urlencoded body' });
    }
    const form = body as Params;
    const grantType = optionalString(form, 'grant_type');
    if (grantType === undefined) throw new TokenServerError('INVALID_REQUEST', { detail: 'grant_type is required' });
    if (grantType !== 'password' && grantType !== 'refresh_token') throw new TokenServerError('UNSUPPORTED_GRANT_TYPE');
    if (optionalString(form, 'client_id') === undefined) throw new TokenServerError('INVALID_REQUEST', { detail: 'client_id is required' });
    const { state, material } = ready(ctx);
    const service = optionalString(form, 'service');
    const scopes = scopesFrom(ctx, form.scope);

    if (grantType === 'password') {
      const registry = resolveService(state, service);
      const username = optionalString(form, 'username');
      const password = optionalString(form, 'password');
      if (username === undefined || password === undefined) {
        throw new TokenServerError('INVALID_REQUEST', { detail: 'the password grant needs username and password' });
      }
      const problem = credentialsProblem({ username, password });
      if (problem !== undefined) throw new TokenServerError('INVALID_REQUEST', { detail: problem });
      const grant = await login(ctx, request, registry, { username, password }, 'password');
      const offline = optionalString(form, 'access_type') === 'offline';
      reply.header('cache-control', 'no-store');
      return respond(ctx, request, { generation: state.generation, material, registry, scopes, grant, offline, includeScope: true });
    }

    const refreshToken = optionalString(form, 'refresh_token');
    if (refreshToken === undefined) throw new TokenServerError('INVALID_REQUEST', { detail: 'the refresh_token grant needs refresh_token' });
    const { registry, grant } = redeemRefreshToken(ctx, request, state, material, service, refreshToken);
    reply.header('cache-control', 'no-store');
    return respond(ctx, request, { generation: state.generation, material, registry, scopes, grant, offline: false, includeScope: true });
  });
}

export function ready(ctx: AppContext): { state: PolicyState; material: SigningMaterial } {
  const state = ctx.policy.current();
  const material = ctx.signing();
  if (state === undefined || material === undefined) throw new TokenServerError('NOT_READY');
  return { state, material };
}

/** A query or form field given at most once. Repeating a single-valued field is a client bug, not a choice to guess. */
export function optionalString(params: Params, name: string): string | undefined {
  const value = params[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new TokenServerError('INVALID_REQUEST', { detail: `${name} must be given once` });
  return value;
}

export function resolveService(state: PolicyState, service: string | undefined): LoadedRegistry {
  if (service === undefined) {
    if (state.registries.size === 1) return state.registries.values().next().value as LoadedRegistry;
    throw new TokenServerError('SERVICE_REQUIRED');
  }
  const registry = state.registries.get(service);
  if (registry === undefined) throw new TokenServerError('UNSUPPORTED_SERVICE', { detail: JSON.stringify(service.slice(0, 200)) });
  return registry;
}

export function scopesFrom(ctx: AppContext, value: unknown): ResourceScope[] {
  const params = value === undefined ? [] : Array.isArray(value) ? value : [value];
  if (!params.every((p): p is string => typeof p === 'string')) throw new TokenServerError('INVALID_SCOPE');
  if (params.length > ctx.limits.maxScopes) {
    throw new TokenServerError('INVALID_SCOPE', { detail: `too many scopes: at most ${ctx.limits.maxScopes} allowed` });
  }
  // Clients ask for the same few scope strings again and again: the parse of a single one is remembered.
  const single = params.length === 1 ? (params[0] as string) : undefined;
  if (single !== undefined) {
    const known = parsedScopesOf(ctx).getRecent(single);
    if (known !== undefined) return known;
  }
  const parsed = parseScopes(params, { maxScopes: ctx.limits.maxScopes, maxNameLength: ctx.limits.maxNameLength });
  if (!parsed.ok) throw new TokenServerError('INVALID_SCOPE', { detail: parsed.message });
  if (single !== undefined && single.length <= REMEMBERED_SCOPE_CHARS) parsedScopesOf(ctx).set(single, frozenScopes(parsed.scopes));
  return parsed.scopes;
}

/** At most this many distinct scope strings are remembered per server: a client spraying them only evicts. */
const PARSED_SCOPES_KEPT = 4096;
/**
 * Longer scope strings are parsed every time, never remembered: a scope padded with empty segments still
 * parses, and 4,096 of 30 KB each, sent anonymously, held 130 MB of a server with a 384 Mi limit. A
 * client's real scope (a name of at most maxNameLength, its type and actions) is far shorter.
 */
export const REMEMBERED_SCOPE_CHARS = 1024;
const parsedScopes = new WeakMap<AppContext, BoundedMap<ResourceScope[]>>();

function parsedScopesOf(ctx: AppContext): BoundedMap<ResourceScope[]> {
  let memo = parsedScopes.get(ctx);
  if (memo === undefined) {
    memo = new BoundedMap(PARSED_SCOPES_KEPT);
    parsedScopes.set(ctx, memo);
  }
  return memo;
}

/** Shared by every request naming the same string, so nobody may change them. */
function frozenScopes(scopes: ResourceScope[]): ResourceScope[] {
  for (const scope of scopes) {
    Object.freeze(scope.actions);
    Object.freeze(scope);
  }
  return Object.freeze(scopes) as ResourceScope[];
}

function redeemRefreshToken(
  ctx: AppContext,
  request: Caller,
  state: PolicyState,
  material: SigningMaterial,
  service: string | undefined,
  token: string,
): { registry: LoadedRegistry; grant: Grant } {
  const now = ctx.now();
  const client = clientKey(request.ip);
  const refuse = (registry: LoadedRegistry | undefined, user: string | undefined, reason: string): TokenServerError => {
    auditRefusal(ctx, request, registry, user, `refresh token refused: ${reason}`);
    return new TokenServerError('INVALID_REFRESH_TOKEN');
  };
  // The MAC is checked before the address budget: a refresh token that verifies is never a guess, so
  // junk sent from a shared address (a NAT, CI runners) must not stop its holders. Only a token that does
  // not verify waits and counts; a genuine one refused later (its user disabled, its password changed)
  // is a stale session, which a client behind a NAT may retry at every pull: it spends no one's budget.
  const checked = material.refresh.verify(token, now);
  if (!checked.ok) {
    const wait = ctx.throttle.addressRetryAfterSeconds(client, now);
    if (wait > 0) throw throttled(wait);
    ctx.throttle.recordAddressFailure(client, now);
    throw refuse(undefined, undefined, checked.reason);
  }
  const claims = checked.claims;
  if (service !== undefined && service !== claims.aud) throw refuse(undefined, claims.sub, 'issued for another service');
  const registry = state.registries.get(claims.aud);
  if (registry === undefined) throw refuse(undefined, claims.sub, 'its service is no longer served');
  if (claims.iss !== registry.policy.issuer) throw refuse(registry, claims.sub, 'issued under another issuer');
  // Only a RegistryUser's password earns a refresh token, so none outlives switching those passwords off.
  if (!registryUserPasswords(registry.policy)) throw refuse(registry, claims.sub, 'RegistryUser passwords are off for this registry (registryUsers: false)');
  const user = registry.index.users.get(claims.sub);
  if (user === undefined) throw refuse(registry, claims.sub, 'user no longer exists');
  if (user.disabled) throw refuse(registry, claims.sub, 'user is disabled');
  const stored = registry.credentials.get(claims.sub);
  // Bound to the credential and to the RegistryUser object as it was: a password change, a delete and
  // re-create, a disable and re-enable (any spec edit) all end it.
  if (stored === undefined || stored.revision === '' || sessionRevision(stored.revision, user.objectRevision) !== claims.crev) {
    throw refuse(registry, claims.sub, 'the user or its credential changed since it was issued');
  }
  return { registry, grant: userGrant(user, stored.revision, 'refresh_token') };
}

export interface Issue {
  /** The generation of the policy state `registry` comes from: what cached decisions are bound to. */
  generation: string;
  material: SigningMaterial;
  registry: LoadedRegistry;
  scopes: ResourceScope[];
  grant: Grant;
  offline: boolean;
  includeScope: boolean;
}

/** Authorizes, signs and audits; the caller sends the body with `cache-control: no-store`. */
export function respond(ctx: AppContext, request: Caller, issue: Issue): TokenResponse {
  const { registry, grant } = issue;
  const policy = registry.policy;
  const now = ctx.now();
  const key = issue.material.signer.keyFor(policy.id, policy.signingAlgorithm, now);
  if (key === undefined) throw new TokenServerError('NOT_READY', { detail: `no valid signing key for service ${JSON.stringify(policy.service)}` });

  const decisions = issue.scopes.length === 0 ? [] : authorizeCached(registry.index, issue.generation, grant.requester, issue.scopes);
  // After authentication and authorization: see writesRefused for who is refused and why.
  const readOnly = writesRefused(policy.maintenance, decisions);
  if (readOnly !== undefined) throw readOnlyRefusal(ctx, request, registry, grant, readOnly);
  const access: AccessEntry[] = [];
  for (const d of decisions) {
    if (d.granted.length === 0) continue;
    const entry: AccessEntry = { type: d.scope.type, name: d.scope.name, actions: d.granted };
    if (d.scope.class !== undefined) entry.class = d.scope.class;
    access.push(entry);
  }
  const iat = Math.floor(now.getTime() / 1000);
  const expiresIn = Math.max(MIN_EXPIRES_IN, policy.tokenTTLSeconds);
  const username = grant.requester.kind === 'anonymous' ? '' : grant.requester.username;
  // Every token is signed afresh with its own jti: one token per decision, as the audit line says.
  const token = issue.material.signer.sign(key, {
    iss: policy.issuer,
    sub: username,
    aud: policy.service,
    exp: iat + expiresIn,
    nbf: iat,
    iat,
    jti: newTokenId(),
    access,
  });
  const body: TokenResponse = { token, access_token: token, expires_in: expiresIn, issued_at: issuedAt(iat), [SIGNED_TOKEN]: true };
  if (issue.includeScope) body.scope = grantedScopesOf(decisions).join(' ');
  if (issue.offline && grant.revision !== undefined && grant.user !== undefined && issue.material.refresh.canIssue) {
    body.refresh_token = issue.material.refresh.issue({
      issuer: policy.issuer,
      service: policy.service,
      username,
      sessionRevision: sessionRevision(grant.revision, grant.user.objectRevision),
      now,
      ttlSeconds: ctx.refreshTokenTTLSeconds,
    });
  }
  ctx.metrics.tokenRequests.inc({ outcome: 'issued' });
  auditTokenIssued(ctx.audit, {
    client: request.ip,
    grant,
    service: policy.service,
    registry: policy.id,
    decisions,
    kid: key.key.kid,
    refreshToken: body.refresh_token !== undefined,
  });
  return body;
}

/** A write refused during a maintenance window: one audit line, then the 503 with Retry-After to throw. */
function readOnlyRefusal(ctx: AppContext, request: Caller, registry: LoadedRegistry, grant: Grant, refusal: WriteRefusal): TokenServerError {
  const user = grant.requester.kind === 'anonymous' ? undefined : grant.requester.username;
  const since = refusal.since === undefined ? '' : ` since ${refusal.since}`;
  auditRefusal(ctx, request, registry, user, `registry read-only for garbage collection${since}: would grant a write on ${refusal.scopes.join(' ')}`);
  return new TokenServerError('REGISTRY_READ_ONLY', {
    ...(refusal.since === undefined ? {} : { detail: `read-only since ${refusal.since}` }),
    headers: { 'retry-after': String(READ_ONLY_RETRY_AFTER_SECONDS) },
  });
}

let issuedAtSecond = Number.NaN;
let issuedAtText = '';

/** `issued_at` for a token issued at `iat` (whole seconds): the tokens of one second share the text. */
function issuedAt(iat: number): string {
  if (iat !== issuedAtSecond) {
    issuedAtText = new Date(iat * 1000).toISOString();
    issuedAtSecond = iat;
  }
  return issuedAtText;
}

/** formatScope of each access entry, in the token's order. */
function grantedScopesOf(decisions: ScopeDecision[]): string[] {
  const scopes: string[] = [];
  for (const d of decisions) {
    const granted = decisionText(d).granted;
    if (granted !== undefined) scopes.push(granted);
  }
  return scopes;
}
