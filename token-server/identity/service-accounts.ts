// Kubernetes ServiceAccount tokens as passwords, verified by the cluster itself (TokenReview): a token
// bound to a pod stops working when the pod is deleted, which no local signature check could know. A
// positive answer is reused no longer than the source's cacheTTL (at most a minute) and never past the
// token's own expiry. Before asking the API server, the unverified claims must already look right (an
// audience of this registry, not expired): a garbage JWT costs the attacker a request, not the cluster one.

import type { KubeClient } from '../../kube/request.js';
import type { ServiceAccountPolicy } from '../../policy/types.js';
import type { UnverifiedJwt } from './jwt-shape.js';
import { refused, unavailable, type IdentityCheck } from './types.js';

export const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';
const REVIEW_TIMEOUT_MS = 5000;
const LEEWAY_SECONDS = 30;

interface TokenReview {
  status?: {
    authenticated?: boolean;
    user?: { username?: string };
    audiences?: string[];
    error?: string;
  };
}

/** Whether an unverified JWT looks like a ServiceAccount token (the claim Kubernetes adds to bound tokens). */
export function looksLikeServiceAccountToken(jwt: UnverifiedJwt): boolean {
  return typeof jwt.claims['kubernetes.io'] === 'object' && jwt.claims['kubernetes.io'] !== null;
}

function audiencesOf(aud: unknown): string[] {
  return typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

/**
 * A token refused on its own claims, before any review: no expiry, expired, or for another audience.
 * Anyone can write such claims, so a refusal here says nothing about the account the token names.
 */
export function refusedOnClaims(jwt: UnverifiedJwt, policy: ServiceAccountPolicy, now: Date): IdentityCheck | undefined {
  const exp = jwt.claims.exp;
  // Legacy Secret-based tokens never expire; a registry credential that cannot be revoked by time is refused.
  if (typeof exp !== 'number') return refused('ServiceAccount token has no expiry (legacy Secret-based tokens are not accepted)');
  if (exp + LEEWAY_SECONDS < now.getTime() / 1000) return refused('ServiceAccount token expired');
  if (!audiencesOf(jwt.claims.aud).some((a) => policy.audiences.includes(a))) return refused('ServiceAccount token is for another audience');
  return undefined;
}

export class ServiceAccountReviewer {
  constructor(
    /** Undefined: this token server has no cluster connection, so ServiceAccount logins are unavailable. */
    private readonly client: () => Promise<KubeClient | undefined>,
    private readonly now: () => Date,
  ) {}

  async verify(token: string, jwt: UnverifiedJwt, policy: ServiceAccountPolicy): Promise<IdentityCheck> {
    const onClaims = refusedOnClaims(jwt, policy, this.now());
    if (onClaims !== undefined) return onClaims;
    const exp = jwt.claims.exp as number;

    const client = await this.client().catch(() => undefined);
    if (client === undefined) return unavailable('this token server has no connection to the cluster to review ServiceAccount tokens');
    let review: TokenReview;
    try {
      review = await client.request<TokenReview>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: policy.audiences } },
        timeoutMs: REVIEW_TIMEOUT_MS,
      });
    } catch (error) {
      // 403 (no RBAC for tokenreviews), 5xx, a network error: the cluster cannot say; never a grant.
      return unavailable(`TokenReview failed: ${(error as Error).message.split('\n')[0]}`);
    }
    const status = review.status ?? {};
    if (status.authenticated !== true) return refused(`the cluster did not authenticate the ServiceAccount token${status.error ? `: ${status.error}` : ''}`);
    const username = status.user?.username ?? '';
    const parts = username.startsWith(SERVICE_ACCOUNT_PREFIX) ? username.slice(SERVICE_ACCOUNT_PREFIX.length).split(':') : [];
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') return refused('the token is not a ServiceAccount token');
    if (!audiencesOf(status.audiences).some((a) => policy.audiences.includes(a))) return refused('the cluster did not confirm an audience of this registry');
    const [namespace, name] = parts as [string, string];
    return {
      ok: true,
      identity: {
        source: 'serviceaccount',
        username,
        groups: [],
        authenticated: policy.authenticated,
        serviceAccount: { namespace, name },
        reuseUntil: Math.min(exp * 1000, this.now().getTime() + policy.cacheTTLSeconds * 1000),
      },
    };
  }
}
