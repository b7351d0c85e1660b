// What an identity source says about a login: who it is (names already prefixed), until when that may be
// believed, or why not. `unavailable` is the source being down or unreachable: the login gets a 503-style
// error, never a grant and never a "wrong password" that would make a user doubt their password.

import type { IdentitySource } from '../../policy/authorize.js';

export interface VerifiedIdentity {
  source: IdentitySource;
  /** With the source's prefix. */
  username: string;
  /** With the source's prefix. Sorted, de-duplicated. */
  groups: string[];
  /** Whether the source lets its identities match `Authenticated` subjects. */
  authenticated: boolean;
  serviceAccount?: { namespace: string; name: string };
  /** Until when (ms since the epoch) this verification may be reused: the cache TTL, never past the token's expiry. */
  reuseUntil: number;
}

export type IdentityCheck = { ok: true; identity: VerifiedIdentity } | { ok: false; reason: string } | { unavailable: string };

export function refused(reason: string): IdentityCheck {
  return { ok: false, reason };
}

export function unavailable(reason: string): IdentityCheck {
  return { unavailable: reason };
}

/** Sorted and de-duplicated, each with the prefix. */
export function prefixed(prefix: string, names: Iterable<string>): string[] {
  return [...new Set([...names].map((n) => `${prefix}${n}`))].sort();
}
