// One OIDC issuer: discovery, its key set (jose's remote JWKS: cached, re-read on an unknown `kid` at most
// every 30 s), and the checks a token must pass: signature under an allowed asymmetric algorithm, `iss`,
// `aud`, `exp` (required) and `nbf` with a small leeway, then the claim conditions. The username and groups
// come from the configured claims, with the issuer's prefix. The token itself is never logged or echoed.

import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTPayload } from 'jose';
import { compileClaimCondition, type ClaimCondition } from '../../policy/claim-conditions.js';
import type { OidcIssuerPolicy } from '../../policy/types.js';
import { httpsGet, httpsGetJson } from './https-get.js';
import { prefixed, refused, unavailable, type IdentityCheck } from './types.js';

/** Clocks of the issuer and this server may disagree by this much. */
export const CLOCK_LEEWAY_SECONDS = 30;
/** A verified token is reused (without verifying again) at most this long. */
const MAX_REUSE_MS = 60_000;
/** After a failed discovery, logins to this issuer fail fast for this long instead of each asking again. */
const DISCOVERY_RETRY_MS = 10_000;
const FETCH_TIMEOUT_MS = 5000;
const MAX_GROUPS = 256;

interface Discovered {
  keys: ReturnType<typeof createRemoteJWKSet>;
}

export class OidcIssuer {
  private discovered: Promise<Discovered> | undefined;
  private discoveryFailedAt = 0;
  private readonly conditions: { check: ClaimCondition; message: string }[];

  constructor(
    readonly policy: OidcIssuerPolicy,
    private readonly now: () => Date,
    /** A token with an unknown `kid` re-reads the key set at most this often (so forged kids cannot hammer the issuer). */
    private readonly keySetCooldownMs = 30_000,
    /**
     * After a failed read of the key set, the next is sent no sooner than this: forged kids cannot make one
     * read each, and a failed refresh (jose re-reads a key set older than 10 minutes at every login)
     * holds logins up only this long.
     */
    private readonly keySetRetryMs = 2000,
  ) {
    this.conditions = policy.conditions.map((c) => {
      const compiled = compileClaimCondition(c.expression);
      // compileSnapshot refused the Registry for an expression that does not compile; be safe anyway.
      return { check: 'error' in compiled ? () => false : compiled, message: c.message };
    });
  }

  async verify(token: string): Promise<IdentityCheck> {
    let discovered: Discovered;
    try {
      discovered = await this.discover();
    } catch (error) {
      return unavailable(`issuer ${this.policy.issuer} could not be reached: ${(error as Error).message}`);
    }
    let claims: JWTPayload;
    try {
      const verified = await jwtVerify(token, discovered.keys, {
        issuer: this.policy.issuer,
        audience: this.policy.audiences,
        algorithms: this.policy.algorithms,
        clockTolerance: CLOCK_LEEWAY_SECONDS,
        currentDate: this.now(),
        requiredClaims: ['exp'],
      });
      claims = verified.payload;
    } catch (error) {
      // jose's generic error comes from reading the key set (a non-200 answer, not JSON): the issuer's fault.
      if (error instanceof errors.JWKSTimeout || !(error instanceof errors.JOSEError) || error.code === 'ERR_JOSE_GENERIC') {
        return unavailable(`the key set of issuer ${this.policy.issuer} could not be read: ${(error as Error).message}`);
      }
      return refused(`token from ${this.policy.issuer} refused: ${describeJoseError(error)}`);
    }
    for (const condition of this.conditions) {
      if (!condition.check(claims)) return refused(`token from ${this.policy.issuer} refused: ${condition.message}`);
    }
    const name = claims[this.policy.username.claim];
    if (typeof name !== 'string' || name === '')
      return refused(`token from ${this.policy.issuer} has no string claim ${JSON.stringify(this.policy.username.claim)}`);
    let groups: string[] = [];
    if (this.policy.groups !== undefined) {
      const value = claims[this.policy.groups.claim];
      const list = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
      groups = prefixed(this.policy.groups.prefix, list.filter((g): g is string => typeof g === 'string' && g !== '').slice(0, MAX_GROUPS));
    }
    const nowMs = this.now().getTime();
    const expiresMs = (claims.exp as number) * 1000;
    return {
      ok: true,
      identity: {
        source: 'oidc',
        username: `${this.policy.username.prefix}${name}`,
        groups,
        authenticated: this.policy.authenticated,
        reuseUntil: Math.min(expiresMs, nowMs + MAX_REUSE_MS),
      },
    };
  }

  private discover(): Promise<Discovered> {
    if (this.discovered === undefined && this.now().getTime() - this.discoveryFailedAt < DISCOVERY_RETRY_MS) {
      return Promise.reject(new Error('discovery failed moments ago'));
    }
    this.discovered ??= this.readDiscovery().catch((error: unknown) => {
      this.discovered = undefined;
      this.discoveryFailedAt = this.now().getTime();
      throw error;
    });
    return this.discovered;
  }

  private async readDiscovery(): Promise<Discovered> {
    const base = this.policy.discoveryURL ?? this.policy.issuer.replace(/\/$/, '');
    const url = base.endsWith('/.well-known/openid-configuration') ? base : `${base}/.well-known/openid-configuration`;
    const ca = this.policy.certificateAuthority;
    // jose starts its cooldown only after a read that succeeded: while the key set cannot be read, every
    // token with an unknown kid (anyone can make one) read it again, one request to a failing issuer per
    // login (review, Low). After a failed read (an error or an answer other than 200), the next waits
    // keySetRetryMs.
    let keySetFailedAt = Number.NEGATIVE_INFINITY;
    const readKeySet = async (target: string, init: { signal?: AbortSignal | null; headers: Headers }): Promise<Response> => {
      if (this.now().getTime() - keySetFailedAt < this.keySetRetryMs) throw new Error('the key set could not be read moments ago');
      try {
        const response = await httpsGet(target, {
          timeoutMs: FETCH_TIMEOUT_MS,
          ...(init.signal ? { signal: init.signal } : {}),
          headers: Object.fromEntries(init.headers),
          ...(ca === undefined ? {} : { ca }),
        });
        if (response.status !== 200) keySetFailedAt = this.now().getTime();
        return response;
      } catch (error) {
        keySetFailedAt = this.now().getTime();
        throw error;
      }
    };
    const doc = (await httpsGetJson(url, { timeoutMs: FETCH_TIMEOUT_MS, ...(ca === undefined ? {} : { ca }) })) as Record<string, unknown>;
    // The discovery document must name the issuer we trust: a document at a lookalike URL may not.
    if (doc.issuer !== this.policy.issuer) throw new Error(`discovery names issuer ${JSON.stringify(doc.issuer)}, not ${JSON.stringify(this.policy.issuer)}`);
    if (typeof doc.jwks_uri !== 'string' || !doc.jwks_uri.startsWith('https://')) throw new Error('discovery has no https jwks_uri');
    const keys = createRemoteJWKSet(new URL(doc.jwks_uri), {
      timeoutDuration: FETCH_TIMEOUT_MS,
      cooldownDuration: this.keySetCooldownMs,
      cacheMaxAge: 10 * 60_000,
      [customFetch]: (target, init) => readKeySet(target, init),
    });
    return { keys };
  }
}

function describeJoseError(error: InstanceType<typeof errors.JOSEError>): string {
  switch (error.code) {
    case 'ERR_JWT_EXPIRED':
      return 'expired';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'algorithm not allowed';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'not signed by a key of the issuer';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return `claim ${(error as InstanceType<typeof errors.JWTClaimValidationFailed>).claim} is not acceptable`;
    default:
      return 'malformed';
  }
}
