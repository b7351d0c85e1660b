// Turns a parsed snapshot and credentials into what requests read: per service, the policy index
// (built once per reload, never per request) and the users' stored credentials. A hash the token server
// would not accept (not bcrypt, or a cost outside the accepted range) is left out: that user cannot log
// in, and its logins take the unknown-user path rather than hanging on a `$2y$31$` comparison.

import { buildPolicyIndex } from '../../policy/authorize.js';
import { updatePolicyIndex } from '../../policy/policy-index-delta.js';
import { bcryptCost, checkBcryptHash, normaliseBcryptHash } from '../../policy/password-hash.js';
import { credentialRevision } from '../../policy/revision.js';
import type { Credentials, Snapshot } from '../../policy/types.js';
import type { LoadedRegistry, PolicyState, StoredCredential } from './types.js';

/**
 * Stored hash -> its checked credential. A source that keeps one across reloads passes it in: a new
 * generation then checks and hashes only the credentials that changed. Holds only the last state's entries.
 */
export type StoredCredentialMemo = Map<string, StoredCredential | null>;

/**
 * `previous`: the state served now, when the snapshot came from the shard reader (which hands back the
 * very entry objects of unchanged shards): each index is then patched with the changed entries rather
 * than built again (policy/policy-index-delta.ts); `previous` itself is left as it is.
 */
export function buildPolicyState(
  snapshot: Snapshot,
  credentials: Credentials | undefined,
  loadedAt: Date,
  memo?: StoredCredentialMemo,
  previous?: PolicyState,
): PolicyState {
  const registries = new Map<string, LoadedRegistry>();
  const used: StoredCredentialMemo = new Map();
  for (const policy of snapshot.registries) {
    const stored = new Map<string, StoredCredential>();
    const hashes = credentials?.registries[policy.id] ?? {};
    let maxCost: number | undefined;
    for (const user of policy.users) {
      const hash = Object.hasOwn(hashes, user.username) ? hashes[user.username] : undefined;
      if (hash === undefined) continue;
      let credential = memo?.get(hash);
      if (credential === undefined) {
        // The revision is of the stored hash as written, so it equals what compileSnapshot recorded.
        credential =
          checkBcryptHash(hash) !== undefined
            ? null
            : { hash: normaliseBcryptHash(hash), cost: bcryptCost(hash) as number, revision: credentialRevision(hash) };
      }
      used.set(hash, credential);
      if (credential === null) continue;
      maxCost = Math.max(maxCost ?? credential.cost, credential.cost);
      stored.set(user.username, credential);
    }
    const before = previous?.registries.get(policy.service)?.index;
    const index = before === undefined ? buildPolicyIndex(policy) : updatePolicyIndex(before, policy);
    const loaded: LoadedRegistry = { policy, index, credentials: stored };
    if (maxCost !== undefined) loaded.maxCost = maxCost;
    const identity = credentials?.identity?.[policy.id];
    if (identity !== undefined) loaded.identitySecrets = identity;
    registries.set(policy.service, loaded);
  }
  if (memo !== undefined) {
    memo.clear();
    for (const [hash, credential] of used) memo.set(hash, credential);
  }
  return { generation: snapshot.generation, loadedAt, registries };
}
