// Basic credentials -> a verified user. bcrypt is deliberately slow, so a verified (user, password) pair
// is remembered briefly; the cache key is an HMAC under a per-process random key, so the cache never
// holds a password or anything a password could be recovered from offline. Each entry is bound to the
// user's credential revision, so a password change in the snapshot drops it on the next lookup.
//
// Unknown users, users without a credential and disabled users all run one bcrypt comparison of the
// same cost as real users, so response time does not reveal which names exist.

import { createHmac, randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import type { UserEntry } from '../policy/types.js';
import type { LoadedRegistry } from './sources/types.js';

export type CredentialCheck =
  | { ok: true; user: UserEntry; revision: string; cached: boolean }
  | { ok: false; reason: string };

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
}

interface CacheEntry {
  revision: string;
  expiresAt: number;
}

const DEFAULT_COST = 10;

export class CredentialVerifier {
  private readonly cacheKeySecret = randomBytes(32);
  private readonly cache = new Map<string, CacheEntry>();
  /** Concurrent logins with the same credentials share one bcrypt run. */
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly dummyHashes = new Map<number, Promise<string>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly compare: PasswordCompare;

  constructor(private readonly options: CredentialVerifierOptions) {
    this.ttlMs = (options.ttlSeconds ?? 60) * 1000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.compare = options.compare ?? ((password, hash) => bcrypt.compare(password, hash));
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  async verify(registry: LoadedRegistry, username: string, password: string): Promise<CredentialCheck> {
    const user = registry.index.users.get(username);
    const stored = registry.credentials.get(username);
    const key = createHmac('sha256', this.cacheKeySecret)
      .update(`${registry.policy.id}\u0000${username}\u0000${password}`)
      .digest('base64');
    const now = this.options.now().getTime();

    const cached = this.cache.get(key);
    if (cached !== undefined) {
      if (cached.expiresAt > now && stored !== undefined && cached.revision === stored.revision && user !== undefined && !user.disabled) {
        this.options.onCacheLookup?.(true);
        return { ok: true, user, revision: stored.revision, cached: true };
      }
      this.cache.delete(key);
    }
    this.options.onCacheLookup?.(false);

    if (user === undefined || stored === undefined) {
      await this.compare(password, await this.dummyHash(registry));
      return { ok: false, reason: user === undefined ? 'unknown user' : 'user has no usable credential' };
    }
    const matches = await this.compareOnce(key, password, stored.hash);
    if (user.disabled) return { ok: false, reason: 'user is disabled' };
    if (!matches) return { ok: false, reason: 'wrong password' };
    this.remember(key, { revision: stored.revision, expiresAt: now + this.ttlMs });
    return { ok: true, user, revision: stored.revision, cached: false };
  }

  private compareOnce(key: string, password: string, hash: string): Promise<boolean> {
    const running = this.inFlight.get(key);
    if (running !== undefined) return running;
    const result = this.compare(password, hash)
      .catch(() => false)
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, result);
    return result;
  }

  private remember(key: string, entry: CacheEntry): void {
    this.cache.delete(key);
    while (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next();
      if (oldest.done === true) break;
      this.cache.delete(oldest.value);
    }
    this.cache.set(key, entry);
  }

  /** A hash of a random password at the cost real users of this registry have. */
  private dummyHash(registry: LoadedRegistry): Promise<string> {
    const cost = costOf(registry.credentials.values().next().value?.hash) ?? DEFAULT_COST;
    let hash = this.dummyHashes.get(cost);
    if (hash === undefined) {
      hash = bcrypt.hash(randomBytes(18).toString('base64'), cost);
      this.dummyHashes.set(cost, hash);
    }
    return hash;
  }
}

function costOf(hash: string | undefined): number | undefined {
  const m = hash === undefined ? null : /^\$2[abxy]\$(\d{2})\$/.exec(hash);
  if (m === null) return undefined;
  const cost = Number(m[1]);
  return cost >= 4 && cost <= 31 ? cost : undefined;
}
