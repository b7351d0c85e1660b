// What the routes share: the sources, the clock, the limits and the per-key-set signing material.

import type { Logger } from 'pino';
import { CredentialVerifier } from './credentials.js';
import { LoginThrottle, type Limits } from './limits.js';
import type { IdentitySources } from './identity/sources.js';
import type { TokenServerMetrics } from './metrics.js';
import { RefreshTokens } from './refresh.js';
import type { RecentFailures } from './repeated-failures.js';
import { AccessTokenSigner } from '../wire/access-token.js';
import type { KeySource, KeyState, PolicySource } from './sources/types.js';
import type { VerificationQueue } from './verification-queue.js';

export interface SigningMaterial {
  state: KeyState;
  signer: AccessTokenSigner;
  refresh: RefreshTokens;
}

export interface AppContext {
  policy: PolicySource;
  keys: KeySource;
  now: () => Date;
  limits: Limits;
  refreshTokenTTLSeconds: number;
  verifier: CredentialVerifier;
  /** LDAP, OIDC and ServiceAccount logins, and their cache. */
  identities: IdentitySources;
  /** Directory binds and TokenReviews: checks that cost a peer, queued fairly by client like bcrypt. */
  remoteChecks: VerificationQueue;
  /** On a Registry with a directory, a client's uncached password logins one at a time (login-turns.ts). */
  loginTurns: VerificationQueue;
  throttle: LoginThrottle;
  /** Wrong passwords of the last seconds, so a client's immediate retry (containerd: POST, then GET) counts once. */
  recentFailures: RecentFailures;
  metrics: TokenServerMetrics;
  /** Audit lines: one per token decision. */
  audit: Logger;
  logger: Logger;
  /** Signing material for the current key set, imported once per set. */
  signing(): SigningMaterial | undefined;
}

/** Caches the imported keys of the last key state seen; a new state (a reload) imports again. */
export function signingMaterialCache(keys: KeySource, logger: Logger): () => SigningMaterial | undefined {
  let material: SigningMaterial | undefined;
  let failedState: KeyState | undefined;
  return () => {
    const state = keys.current();
    if (state === undefined) return undefined;
    if (material?.state === state || failedState === state) return material;
    try {
      material = { state, signer: new AccessTokenSigner(state.set), refresh: new RefreshTokens(state.set.refreshKeys) };
    } catch (err) {
      // Keep signing with what worked before; the source validated the set, so this is unexpected.
      failedState = state;
      logger.error({ err: { message: (err as Error).message } }, 'could not import the signing keys; keeping the previous ones');
    }
    return material;
  };
}
