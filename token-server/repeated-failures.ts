// containerd asks POST /token (grant_type=password) first and, refused, asks again with GET and the same
// credentials: one wrong password arrives as two requests. Counting both would halve a user's budget
// (five typos instead of ten) and run bcrypt twice for nothing. So a failed password is remembered for a
// few seconds, per client (client-key.ts), under the verifier's keyed hash of (registry, username,
// password): the same attempt again within the window is answered with the same 401, without a
// comparison and without counting. It reveals nothing the client did not already learn, and it is
// forgotten when the registry's snapshot changes (a password changed meanwhile is checked anew).
import { BoundedMap } from '../policy/bounded-map.js';
import type { ClientKey } from './client-key.js';
import type { LoadedRegistry } from './sources/types.js';

export const REPEAT_WINDOW_MS = 10_000;

interface Failure {
  registry: LoadedRegistry;
  until: number;
}

export class RecentFailures {
  private readonly failures: BoundedMap<Failure>;

  constructor(maxEntries = 10_000) {
    this.failures = new BoundedMap(maxEntries);
  }

  /** Whether `key` (the verifier's hash of the credentials) failed from `client` moments ago, under this snapshot. */
  isRepeat(key: string, client: ClientKey, registry: LoadedRegistry, now: Date): boolean {
    const failure = this.failures.get(`${client}\u0000${key}`);
    return failure !== undefined && failure.registry === registry && failure.until > now.getTime();
  }

  remember(key: string, client: ClientKey, registry: LoadedRegistry, now: Date): void {
    this.failures.set(`${client}\u0000${key}`, { registry, until: now.getTime() + REPEAT_WINDOW_MS });
  }
}
