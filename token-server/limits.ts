// Abuse limits. A login attempt that needs a password check is counted before the check runs, against two
// sliding-window budgets: per (account, client address) and per client address. An attempt over either
// budget gets 429 with Retry-After before any bcrypt runs; a successful one gives its place back, a failed
// one keeps it for the window. A credential that names no account until it is verified (an OIDC or
// ServiceAccount token) or needs no bcrypt (a refresh token) counts only when it fails, and then against
// the client address budget alone; a ServiceAccount or refresh token is refused once that is spent
// (login.ts says why). The exception is a ServiceAccount token whose claimed account is a known client
// at that address: it is counted as a password login of a known client is (begin), since its claim can
// only cost that account's own per-(account, address) budget, and only from that address.
// A "client address" here is a client key (client-key.ts): an IPv4 address, or an IPv6 client's whole /64,
// since every IPv6 host is given one and would otherwise have 2^64 budgets.
//
// Who is never refused by these limits:
// - a correct password the credential cache already verified: that is checked before the budgets, so a
//   flood of bad logins from the same address (everyone behind one NAT or proxy) never locks out clients
//   that are already logging in;
// - an account that logged in successfully from this address recently (a "known client"), by the
//   address-wide budget: others failing from its address cannot lock it out. That holds for a
//   ServiceAccount too (all of a node's image pulls come from the node's address), but only one the
//   cluster has reviewed from there makes it known, under the name the cluster answered with;
// - an account from any other address: there is no account-wide budget, so nobody who can reach the
//   endpoint can lock `ci-bot` out. Guessing one account from many addresses is slowed instead by the
//   per-address budgets, the failed-login delay and the verification queue (see credentials.ts).
// Maps are bounded: when full, the least recently touched key is forgotten, so spraying keys can only
// evict, never grow memory.

import { BoundedMap } from '../policy/bounded-map.js';
import type { ClientKey } from './client-key.js';

export interface Limits {
  /** Scopes per request; more is a 400. Default 32. */
  maxScopes: number;
  /** Resource name length in a scope. Default 255 (Distribution's limit). */
  maxNameLength: number;
  /** Total bytes of request header names and values. Default 8 KiB. */
  maxHeaderBytes: number;
  /** POST body bytes. Default 16 KiB. */
  maxBodyBytes: number;
  /** Failed (or in-flight) password checks per account from one client address within the window. Default 10. */
  failuresPerAccountAndAddress: number;
  /** Failed (or in-flight) password checks per client address within the window. Default 30. */
  failuresPerAddress: number;
  /** Default 60 s. */
  failureWindowSeconds: number;
  /** How long an account that logged in from an address is exempt from that address's budget. Default 24 h. */
  knownClientSeconds: number;
  /** Keys remembered per map. Default 10,000. */
  maxTrackedKeys: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxScopes: 32,
  maxNameLength: 255,
  maxHeaderBytes: 8 * 1024,
  maxBodyBytes: 16 * 1024,
  failuresPerAccountAndAddress: 10,
  failuresPerAddress: 30,
  failureWindowSeconds: 60,
  knownClientSeconds: 24 * 3600,
  maxTrackedKeys: 10_000,
};

/** Sliding-window counter: per key, the times of the attempts still counted (at most `budget`). */
export class AttemptWindow {
  private readonly attempts: BoundedMap<number[]>;

  constructor(
    private readonly budget: number,
    private readonly windowMs: number,
    maxKeys: number,
  ) {
    this.attempts = new BoundedMap(maxKeys);
  }

  get size(): number {
    return this.attempts.size;
  }

  private live(key: string, now: number): number[] {
    return (this.attempts.get(key) ?? []).filter((t) => t + this.windowMs > now);
  }

  /** Milliseconds until `key` may try again, or 0 if it may now. */
  retryAfterMs(key: string, now: number): number {
    const times = this.live(key, now);
    if (times.length < this.budget) return 0;
    const oldest = times[times.length - this.budget] as number;
    return Math.max(1, oldest + this.windowMs - now);
  }

  /** Counts an attempt at `now`; `release` takes it back (a success, or a check that never ran). */
  record(key: string, now: number): void {
    const times = this.live(key, now);
    times.push(now);
    if (times.length > this.budget) times.splice(0, times.length - this.budget);
    this.attempts.set(key, times);
  }

  release(key: string, at: number): void {
    const times = this.attempts.get(key);
    if (times === undefined) return;
    const i = times.indexOf(at);
    if (i >= 0) times.splice(i, 1);
    if (times.length === 0) this.attempts.delete(key);
  }
}

/** One counted login attempt: say how it ended exactly once. */
export interface LoginAttempt {
  /** The password was right: the places are given back and the client becomes known (see markKnownClient). */
  succeeded(): void;
  /**
   * The check passed for someone other than the account counted (a tenant's RegistryUser holding a
   * directory user's name; a ServiceAccount token whose review named another account than its claim): the
   * places are given back, and the counted account does not become known, which would exempt its guesses.
   */
  succeededAsAnother(): void;
  /** The password was wrong: the places stay taken for the window. */
  failed(): void;
  /** No check ran (the queue refused it): the places are given back. */
  abandoned(): void;
}

export type Admission = { attempt: LoginAttempt } | { retryAfterSeconds: number };

/** One account at one client: the key of its budget and of its known-client mark. */
function pairKey(account: string, client: ClientKey): string {
  return `${account}\u0000${client}`;
}

export class LoginThrottle {
  private readonly byAccount: AttemptWindow;
  private readonly byAddress: AttemptWindow;
  private readonly knownClients: BoundedMap<number>;

  constructor(
    private readonly limits: Limits,
    /** When a failure is recorded: an attempt may end long after it began (queued, a slow directory). */
    private readonly clock: () => Date = () => new Date(),
  ) {
    const windowMs = limits.failureWindowSeconds * 1000;
    this.byAccount = new AttemptWindow(limits.failuresPerAccountAndAddress, windowMs, limits.maxTrackedKeys);
    this.byAddress = new AttemptWindow(limits.failuresPerAddress, windowMs, limits.maxTrackedKeys);
    this.knownClients = new BoundedMap(limits.maxTrackedKeys);
  }

  /**
   * Counts a password check for `account` (unique per service) from `client` before it runs, or says how
   * long to wait. `client` budgets apply unless this account logged in from there recently.
   */
  begin(account: string, client: ClientKey, now: Date): Admission {
    const t = now.getTime();
    const pair = pairKey(account, client);
    const known = this.isKnownClient(account, client, now);
    const wait = Math.max(this.byAccount.retryAfterMs(pair, t), known ? 0 : this.byAddress.retryAfterMs(client, t));
    if (wait > 0) return { retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) };
    this.byAccount.record(pair, t);
    // A known client passes while the address budget is full, and a window holds no more than its budget:
    // a place taken there up front would push out one of the failures that filled it, and giving the place
    // back on success would free that failure's. So a known client's attempt takes an address place only
    // once it has failed.
    if (!known) this.byAddress.record(client, t);
    let settled = false;
    const release = (): void => {
      this.byAccount.release(pair, t);
      if (!known) this.byAddress.release(client, t);
    };
    const once = (fn: () => void) => () => {
      if (settled) return;
      settled = true;
      fn();
    };
    return {
      attempt: {
        succeeded: once(() => {
          release();
          this.markKnownClient(account, client, now);
        }),
        succeededAsAnother: once(release),
        // At the time it failed, not when it began: a window keeps its times in order and no more than its
        // budget, so an older time pushed into a full window would drop a newer failure's place.
        failed: once(() => {
          if (known) this.byAddress.record(client, this.clock().getTime());
        }),
        abandoned: once(release),
      },
    };
  }

  /** Whether `account` (unique per service) logged in successfully from `client` within knownClientSeconds. */
  isKnownClient(account: string, client: ClientKey, now: Date): boolean {
    return (this.knownClients.get(pairKey(account, client)) ?? 0) > now.getTime();
  }

  /**
   * `account` proved itself from `client`: exempt from that client's address budget for knownClientSeconds.
   * Called by a success of `begin`, and for a credential that was not counted by `begin` (a ServiceAccount
   * token reviewed within the address budget) under the account its verification named.
   */
  markKnownClient(account: string, client: ClientKey, now: Date): void {
    this.knownClients.set(pairKey(account, client), now.getTime() + this.limits.knownClientSeconds * 1000);
  }

  /**
   * How long until `client` may try a check whose failures count against the address budget alone: a
   * refresh token (no bcrypt), a ServiceAccount token of an account not known there (before its TokenReview).
   */
  addressRetryAfterSeconds(client: ClientKey, now: Date): number {
    const wait = this.byAddress.retryAfterMs(client, now.getTime());
    return wait === 0 ? 0 : Math.max(1, Math.ceil(wait / 1000));
  }

  /**
   * A failure that names no account the server can trust (a bad refresh token, an OIDC token that did not
   * verify, a ServiceAccount token claiming an account not known there): counted against the address only,
   * so it locks out no account that others share.
   */
  recordAddressFailure(client: ClientKey, now: Date): void {
    this.byAddress.record(client, now.getTime());
  }
}
