// Decisions remembered for repeated requests. The same user asking for the same scope gets the same
// answer until the policy changes, and docker clients ask for the same few scopes again and again; at
// 10,000 grants evaluating one costs more than signing the token (bench: `npm run bench`).
//
// Why a cached decision is never stale, and never someone else's:
// - a cache belongs to one policy index (a WeakMap keyed by the index object), and the token server builds
//   a new index for every snapshot it loads, so a new snapshot starts from an empty cache; the cache also
//   records the snapshot generation (the hash of the snapshot's content) it was filled under and is emptied
//   wholesale if asked under another, so even an index changed in place could not serve an old decision;
// - the key is the whole requester (kind, name, groups, identity source, authenticated, ServiceAccount) and
//   the whole scope (type, class, name, actions), serialised as JSON, which is injective: two requesters
//   differing in anything `authorize` reads never share an entry.
// A decision depends on nothing else (not the clock, not the credentials), so this is `authorize` exactly.
//
// Bounded: at most `maxEntries` decisions per index, the least recently used forgotten first, so a client
// spraying scopes can only evict, never grow memory. One entry (key and decision of a typical scope) was
// measured at about 0.7 KB: the default 10,000 about 7 MB per registry (docs/benchmarks.md). An entry asked
// about under a shared scope object now also holds its answer and, beside it, the answer's audit text
// (token-audit.ts): a few hundred bytes more, not measured again.

import { BoundedMap } from './bounded-map.js';
import { authorize, type PolicyIndex, type Requester, type ScopeDecision } from './authorize.js';
import { isShared, type ResourceScope } from './scope.js';

export const DEFAULT_MAX_DECISIONS = 10_000;

/** A decision without its scope: the caller's own scope object is put back on every answer. */
interface CachedDecision {
  readonly granted: readonly string[];
  readonly grants: readonly string[];
  readonly reason: string;
  /**
   * The answer last made for a shared scope object (frozen: token.ts's parsed-scope memo), itself frozen
   * and given again while that object is asked about, so what is derived from an answer (the audit line's
   * text, token-audit.ts) can be remembered with it.
   */
  answer?: Readonly<ScopeDecision>;
}

/** JSON of the shared (frozen) scope objects: half of every key, and they never change. */
const scopeJson = new WeakMap<ResourceScope, string>();

function jsonOf(scope: ResourceScope): string {
  let json = scopeJson.get(scope);
  if (json === undefined) {
    json = JSON.stringify(scope);
    if (isShared(scope)) scopeJson.set(scope, json);
  }
  return json;
}

/** The remembered decisions of one policy index. */
export class DecisionCache {
  private readonly entries: BoundedMap<CachedDecision>;
  private generationSeen: string | undefined;
  hits = 0;
  misses = 0;

  constructor(
    private readonly index: PolicyIndex,
    maxEntries: number = DEFAULT_MAX_DECISIONS,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new Error(`maxEntries must be a positive integer, got ${maxEntries}`);
    this.entries = new BoundedMap(maxEntries);
  }

  get size(): number {
    return this.entries.size;
  }

  /** `authorize(index, requester, scopes)`, answered from the cache where it can be. */
  authorize(generation: string, requester: Requester, scopes: readonly ResourceScope[]): ScopeDecision[] {
    if (generation !== this.generationSeen) {
      this.entries.clear();
      this.generationSeen = generation;
    }
    const who = JSON.stringify(requester);
    const keys = scopes.map((scope) => `${who}\n${jsonOf(scope)}`);
    const answers: (ScopeDecision | undefined)[] = scopes.map((scope, i) => {
      const key = keys[i] as string;
      const cached = this.entries.getRecent(key);
      if (cached === undefined) return undefined;
      this.hits++;
      if (cached.answer?.scope === scope) return cached.answer;
      const answer: ScopeDecision = { scope, granted: cached.granted as string[], grants: cached.grants as string[], reason: cached.reason };
      if (isShared(scope)) cached.answer = Object.freeze(answer);
      return answer;
    });
    const missing = scopes.filter((_, i) => answers[i] === undefined);
    if (missing.length === 0) return answers as ScopeDecision[];
    this.misses += missing.length;
    const decided = authorize(this.index, requester, missing);
    let next = 0;
    return answers.map((answer, i) => {
      if (answer !== undefined) return answer;
      const decision = decided[next++] as ScopeDecision;
      this.remember(keys[i] as string, decision);
      return decision;
    });
  }

  private remember(key: string, decision: ScopeDecision): void {
    // Frozen copies: a caller changing its answer cannot change the next requester's.
    const entry: CachedDecision = {
      granted: Object.freeze([...decision.granted]),
      grants: Object.freeze([...decision.grants]),
      reason: decision.reason,
    };
    this.entries.set(key, entry);
  }
}

const caches = new WeakMap<PolicyIndex, DecisionCache>();

/**
 * `authorize` through the cache of `index` (created on first use, collected with the index). `generation`
 * is the snapshot generation the index was built from.
 */
export function authorizeCached(
  index: PolicyIndex,
  generation: string,
  requester: Requester,
  scopes: readonly ResourceScope[],
  maxEntries: number = DEFAULT_MAX_DECISIONS,
): ScopeDecision[] {
  let cache = caches.get(index);
  if (cache === undefined) {
    cache = new DecisionCache(index, maxEntries);
    caches.set(index, cache);
  }
  return cache.authorize(generation, requester, scopes);
}

/** The cache of `index`, if one was made: for tests and metrics. */
export function decisionCacheOf(index: PolicyIndex): DecisionCache | undefined {
  return caches.get(index);
}
