// Abuse limits. Failed logins are counted per username and per client address in a sliding window;
// when either passes its budget, further attempts get 429 with Retry-After before any bcrypt runs.
// Maps are bounded: when full, the least recently touched key is forgotten (an attacker spraying keys
// can only evict, never grow memory).

export interface Limits {
  /** Scopes per request; more is a 400. Default 32. */
  maxScopes: number;
  /** Resource name length in a scope. Default 255 (Distribution's limit). */
  maxNameLength: number;
  /** Total bytes of request header names and values. Default 8 KiB. */
  maxHeaderBytes: number;
  /** POST body bytes. Default 16 KiB. */
  maxBodyBytes: number;
  /** Failed attempts per username within the window. Default 10. */
  failuresPerUser: number;
  /** Failed attempts per client address within the window. Default 30. */
  failuresPerAddress: number;
  /** Default 60 s. */
  failureWindowSeconds: number;
  /** Keys remembered per map. Default 10,000. */
  maxTrackedKeys: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxScopes: 32,
  maxNameLength: 255,
  maxHeaderBytes: 8 * 1024,
  maxBodyBytes: 16 * 1024,
  failuresPerUser: 10,
  failuresPerAddress: 30,
  failureWindowSeconds: 60,
  maxTrackedKeys: 10_000,
};

/** Sliding-window failure counter: per key, the times of the last `budget` failures. */
export class FailureWindow {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly budget: number,
    private readonly windowMs: number,
    private readonly maxKeys: number,
  ) {}

  get size(): number {
    return this.failures.size;
  }

  /** Milliseconds until `key` may try again, or 0 if it may now. */
  retryAfterMs(key: string, now: number): number {
    const times = this.failures.get(key);
    if (times === undefined || times.length < this.budget) return 0;
    const oldest = times[times.length - this.budget] as number;
    return Math.max(0, oldest + this.windowMs - now);
  }

  record(key: string, now: number): void {
    const times = (this.failures.get(key) ?? []).filter((t) => t + this.windowMs > now);
    times.push(now);
    if (times.length > this.budget) times.splice(0, times.length - this.budget);
    this.failures.delete(key);
    while (this.failures.size >= this.maxKeys) {
      const oldest = this.failures.keys().next();
      if (oldest.done === true) break;
      this.failures.delete(oldest.value);
    }
    this.failures.set(key, times);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

export class LoginThrottle {
  private readonly byUser: FailureWindow;
  private readonly byAddress: FailureWindow;

  constructor(limits: Limits) {
    const windowMs = limits.failureWindowSeconds * 1000;
    this.byUser = new FailureWindow(limits.failuresPerUser, windowMs, limits.maxTrackedKeys);
    this.byAddress = new FailureWindow(limits.failuresPerAddress, windowMs, limits.maxTrackedKeys);
  }

  /** Seconds to wait (rounded up, at least 1) if this attempt must be refused, else 0. */
  retryAfterSeconds(username: string | undefined, address: string, now: Date): number {
    const t = now.getTime();
    const ms = Math.max(username === undefined ? 0 : this.byUser.retryAfterMs(username, t), this.byAddress.retryAfterMs(address, t));
    return ms === 0 ? 0 : Math.max(1, Math.ceil(ms / 1000));
  }

  recordFailure(username: string | undefined, address: string, now: Date): void {
    const t = now.getTime();
    if (username !== undefined) this.byUser.record(username, t);
    this.byAddress.record(address, t);
  }

  recordSuccess(username: string): void {
    this.byUser.forget(username);
  }
}
