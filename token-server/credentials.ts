// Basic credentials -> a verified user.
//
// bcrypt is deliberately slow, so a verified (user, password) pair is remembered briefly; the cache key is
// a SHA-256 keyed by a per-process random prefix, so the cache never holds a password or anything a
// password could be recovered from offline. Each entry is bound to the user's credential revision, so a password change
// in the snapshot drops it on the next lookup.
//
// A failed login reveals nothing and takes as long as any other failed login of the registry:
// - every check that misses the cache runs exactly one bcrypt comparison, through the same queue and the
//   same single-flight: against the user's hash, or, for an unknown user (or one without a usable hash),
//   against a dummy hash at the highest cost the registry holds;
// - a failure is answered no sooner than the registry's slowest comparison is expected to take (measured
//   per cost as the server runs), so a cost-5 htpasswd import and an unknown name look the same as a
//   cost-12 user. The wait is a timer: it costs the attacker time, not the server CPU.

import { hash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcrypt';
import { registryUserPasswords } from '../policy/compile/authentication.js';
import type { UserEntry } from '../policy/types.js';
import type { LoadedRegistry } from './sources/types.js';
import type { ClientKey } from './client-key.js';
import { BoundedMap } from '../policy/bounded-map.js';
import { DEFAULT_VERIFICATION_QUEUE, VerificationQueue, type VerificationBusy, type VerificationQueueOptions } from './verification-queue.js';

export type CredentialCheck = { ok: true; user: UserEntry; revision: string; cached: boolean } | { ok: false; reason: string };

export type PasswordCompare = (password: string, hash: string) => Promise<boolean>;

export interface CredentialVerifierOptions {
  now: () => Date;
  /** Default 60 s. */
  ttlSeconds?: number;
  /** Default 10,000. The oldest entry goes first when full. */
  maxEntries?: number;
  /** Default bcrypt.compare; injectable so tests can observe that every path compares. */
  compare?: PasswordCompare;
  onCacheLookup?: (hit: boolean) => void;
  /** Called for every bcrypt comparison actually run, with the cost of the hash. */
  onComparison?: (cost: number) => void;
  queue?: Partial<VerificationQueueOptions>;
  /** A failed login takes at least this long, whatever the costs. Default 0: the registry's costs decide. */
  minFailureMs?: number;
  /** Default: a fresh, empty record, filled as comparisons run. */
  timings?: BcryptTimings;
}

/** What a cache lookup returns: a verified user, or the key a full check continues with. */
export type CacheLookup = { hit: CredentialCheck & { ok: true } } | { miss: string };

interface CacheEntry {
  revision: string;
  expiresAt: number;
}

/** A failure is padded to this multiple of the slowest expected comparison, absorbing ordinary jitter. */
const PADDING_FACTOR = 1.25;
const DEFAULT_COST = 10;

/** Expected bcrypt time per cost: measured as comparisons run, extrapolated (x2 per step) where unmeasured. */
export class BcryptTimings {
  private readonly ms = new Map<number, number>();

  observe(cost: number, ms: number): void {
    const before = this.ms.get(cost);
    this.ms.set(cost, before === undefined ? ms : before * 0.8 + ms * 0.2);
  }

  /** Whether a comparison at exactly this cost has been timed. */
  has(cost: number): boolean {
    return this.ms.has(cost);
  }

  expectedMs(cost: number): number | undefined {
    const known = this.ms.get(cost);
    if (known !== undefined) return known;
    let nearest: [number, number] | undefined;
    for (const [c, ms] of this.ms) if (nearest === undefined || Math.abs(c - cost) < Math.abs(nearest[0] - cost)) nearest = [c, ms];
    return nearest === undefined ? undefined : nearest[1] * 2 ** (cost - nearest[0]);
  }
}

export class CredentialVerifier {
  // A secret prefix rather than an HMAC: the key is only compared for equality inside this process, where
  // length extension gains nothing, and one-shot hash() costs a quarter of createHmac on every token.
  private readonly cacheKeyPrefix = `${randomBytes(32).toString('base64')}\u0000`;
  private readonly cache: BoundedMap<CacheEntry>;
  /** Concurrent checks of the same (registry, username, password) share one comparison, known user or not. */
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly dummyHashes = new Map<number, Promise<string>>();
  private readonly ttlMs: number;
  private readonly compare: PasswordCompare;
  private readonly queue: VerificationQueue;
  readonly timings: BcryptTimings;

  constructor(private readonly options: CredentialVerifierOptions) {
    this.timings = options.timings ?? new BcryptTimings();
    this.ttlMs = (options.ttlSeconds ?? 60) * 1000;
    this.cache = new BoundedMap(options.maxEntries ?? 10_000);
    this.compare = options.compare ?? ((password, hash) => bcrypt.compare(password, hash));
    this.queue = new VerificationQueue({ ...DEFAULT_VERIFICATION_QUEUE, ...options.queue });
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  get queueStats(): { running: number; queued: number } {
    return this.queue.stats;
  }

  /** Why a comparison for `client` would be turned away now (the queue's limits), or undefined. */
  queueRefusal(client: ClientKey): VerificationBusy | undefined {
    return this.queue.refusal(client);
  }

  /** Prepares a new policy: dummy hashes at each registry's highest cost, so no login waits for one. */
  prepare(registries: Iterable<LoadedRegistry>): void {
    for (const registry of registries) void this.dummyHash(registry.maxCost ?? DEFAULT_COST).catch(() => undefined);
  }

  /** A correct password verified within the TTL, for a user still enabled with the same credential. */
  lookup(registry: LoadedRegistry, username: string, password: string): CacheLookup {
    const key = hash('sha256', `${this.cacheKeyPrefix}${registry.policy.id}\u0000${username}\u0000${password}`, 'base64');
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      const user = registry.index.users.get(username);
      const stored = registry.credentials.get(username);
      // With registryUsers: false every name is unknown, hashes or not: a snapshot written before the switch
      // (or by an older compiler) may still carry them, and a success cached before it may outlive it.
      if (
        registryUserPasswords(registry.policy) &&
        cached.expiresAt > this.options.now().getTime() &&
        stored !== undefined &&
        cached.revision === stored.revision &&
        user !== undefined &&
        !user.disabled
      ) {
        this.options.onCacheLookup?.(true);
        return { hit: { ok: true, user, revision: stored.revision, cached: true } };
      }
      this.cache.delete(key);
    }
    this.options.onCacheLookup?.(false);
    return { miss: key };
  }

  /**
   * One bcrypt comparison, queued by `client`; rejects with VerificationBusy when the queue is full. Every
   * outcome but success takes the same path: unknown, no usable hash, disabled, wrong password.
   */
  async check(registry: LoadedRegistry, username: string, password: string, key: string, client: ClientKey): Promise<CredentialCheck> {
    const passwords = registryUserPasswords(registry.policy);
    const user = passwords ? registry.index.users.get(username) : undefined;
    const stored = passwords ? registry.credentials.get(username) : undefined;
    const hash = stored?.hash ?? (await this.dummyHash(registry.maxCost ?? DEFAULT_COST));
    const matches = await this.compareOnce(key, client, password, hash, stored?.cost ?? registry.maxCost ?? DEFAULT_COST);
    if (!passwords) return { ok: false, reason: 'RegistryUser passwords are off for this registry (registryUsers: false)' };
    if (user === undefined) return { ok: false, reason: 'unknown user' };
    if (stored === undefined) return { ok: false, reason: 'user has no usable credential' };
    if (user.disabled) return { ok: false, reason: 'user is disabled' };
    if (!matches) return { ok: false, reason: 'wrong password' };
    this.cache.set(key, { revision: stored.revision, expiresAt: this.options.now().getTime() + this.ttlMs });
    return { ok: true, user, revision: stored.revision, cached: false };
  }

  /**
   * Resolves when a failed login that started at `startedAt` (performance.now()) has taken the registry's
   * failure time: its slowest bcrypt comparison, plus `directoryMs` where a directory is asked too (a
   * shared name's wrong password costs both), with room for jitter.
   */
  async padFailure(registry: LoadedRegistry, startedAt: number, directoryMs = 0): Promise<void> {
    const expected = this.timings.expectedMs(registry.maxCost ?? DEFAULT_COST) ?? 0;
    const floor = Math.max(this.options.minFailureMs ?? 0, (expected + directoryMs) * PADDING_FACTOR);
    const left = startedAt + floor - performance.now();
    if (left > 1) await sleep(left);
  }

  private compareOnce(key: string, client: ClientKey, password: string, hash: string, cost: number): Promise<boolean> {
    const running = this.inFlight.get(key);
    if (running !== undefined) return running;
    const result = this.queue
      .run(client, async () => {
        const started = performance.now();
        this.options.onComparison?.(cost);
        try {
          return await this.compare(password, hash);
        } catch {
          return false;
        } finally {
          this.timings.observe(cost, performance.now() - started);
        }
      })
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, result);
    return result;
  }

  /** A hash of a random password at `cost`; making it is also the first timing sample for that cost. */
  private dummyHash(cost: number): Promise<string> {
    let hash = this.dummyHashes.get(cost);
    if (hash === undefined) {
      const started = performance.now();
      hash = bcrypt.hash(randomBytes(18).toString('base64'), cost).then((h) => {
        if (!this.timings.has(cost)) this.timings.observe(cost, performance.now() - started);
        return h;
      });
      this.dummyHashes.set(cost, hash);
    }
    return hash;
  }
}
