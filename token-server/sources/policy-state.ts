// Turns a parsed snapshot and credentials into what requests read: per service, the policy index
// (built once per reload, never per request) and the users' stored credentials.

import { buildPolicyIndex } from '../../policy/authorize.js';
import { credentialRevision } from '../../policy/revision.js';
import type { Credentials, Snapshot } from '../../policy/types.js';
import type { LoadedRegistry, PolicyState, StoredCredential } from './types.js';

/** Native bcrypt only knows `$2a$`/`$2b$`; htpasswd files use `$2y$`. The algorithms are identical. */
export function normaliseBcryptHash(hash: string): string {
  return /^\$2[xy]\$/.test(hash) ? `$2b$${hash.slice(4)}` : hash;
}

export function buildPolicyState(snapshot: Snapshot, credentials: Credentials | undefined, loadedAt: Date): PolicyState {
  const registries = new Map<string, LoadedRegistry>();
  for (const policy of snapshot.registries) {
    const stored = new Map<string, StoredCredential>();
    const hashes = credentials?.registries[policy.id] ?? {};
    for (const user of policy.users) {
      const hash = Object.hasOwn(hashes, user.username) ? hashes[user.username] : undefined;
      if (hash === undefined) continue;
      // The revision is of the stored hash as written, so it equals what compileSnapshot recorded.
      stored.set(user.username, { hash: normaliseBcryptHash(hash), revision: credentialRevision(hash) });
    }
    registries.set(policy.service, { policy, index: buildPolicyIndex(policy), credentials: stored });
  }
  return { generation: snapshot.generation, loadedAt, registries };
}
