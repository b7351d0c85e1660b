// Which signing key signs now: the one rule the operator (reporting the active key, deciding what to
// prune) and the token server (signing) share, so they never disagree about the key in use.

export interface KeyValidity {
  kid: string;
  /** Epoch milliseconds: the key signs from here... */
  notBefore: number;
  /** ...until here (exclusive). */
  notAfter: number;
  /** The registry id the key is for; undefined: any registry. */
  registry?: string | undefined;
  algorithm?: string | undefined;
}

/** Newer first; at the same notBefore, the lower kid (so every reader picks the same one). */
function newer(a: KeyValidity, b: KeyValidity): boolean {
  return a.notBefore > b.notBefore || (a.notBefore === b.notBefore && a.kid < b.kid);
}

/**
 * The newest key valid at `now` that serves `registryId` (keys without a registry serve any), preferring
 * `algorithm` when a key of it qualifies, else the newest of any algorithm.
 */
export function activeKey<K extends KeyValidity>(keys: readonly K[], now: number, scope: { registryId?: string; algorithm?: string } = {}): K | undefined {
  let best: K | undefined;
  let preferred: K | undefined;
  for (const key of keys) {
    if (key.registry !== undefined && scope.registryId !== undefined && key.registry !== scope.registryId) continue;
    if (!(key.notBefore <= now && now < key.notAfter)) continue;
    if (best === undefined || newer(key, best)) best = key;
    if (scope.algorithm !== undefined && key.algorithm === scope.algorithm && (preferred === undefined || newer(key, preferred))) preferred = key;
  }
  return preferred ?? best;
}
