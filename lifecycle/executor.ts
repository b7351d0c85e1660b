// Carries out a plan's deletions, one DELETE /v2/NAME/manifests/DIGEST at a time (a run deletes at most
// maxDeletionsPerRun manifests, and one at a time makes "stop at the first refusal" exact). Indexes go
// before the manifests they list, so no moment exists where a kept-looking index points at a deleted
// child. A manifest already gone counts as done; any other refusal (DENIED, UNAUTHORIZED, UNSUPPORTED)
// stops the run there and is reported with the registry's own code.

import type { Deletion, RepositoryInventory } from '../policy/retention/plan.js';
import { isIndex } from './inventory.js';
import { RegistryError } from './registry-api.js';
import type { ScopedRegistry } from './scoped-registry.js';

export interface Execution {
  deleted: Deletion[];
  /** Deleted by someone else between planning and deleting. */
  alreadyGone: Deletion[];
  /** The refusal that stopped the run, as a sentence; absent when every deletion was done. */
  stoppedBy?: string;
}

/** Indexes first, then by repository and digest, so the order is the same every run. */
export function deletionOrder(deletions: readonly Deletion[], inventories: ReadonlyMap<string, RepositoryInventory>): Deletion[] {
  const rank = (d: Deletion): number => (isIndex(inventories.get(d.repository)?.manifests.get(d.digest)?.mediaType) ? 0 : 1);
  return [...deletions].sort((a, b) => rank(a) - rank(b) || a.repository.localeCompare(b.repository) || a.digest.localeCompare(b.digest));
}

export async function executeDeletions(
  registry: ScopedRegistry,
  deletions: readonly Deletion[],
  inventories: ReadonlyMap<string, RepositoryInventory>,
): Promise<Execution> {
  const execution: Execution = { deleted: [], alreadyGone: [] };
  for (const deletion of deletionOrder(deletions, inventories)) {
    try {
      const client = await registry.client(deletion.repository);
      await client.deleteManifest(deletion.repository, deletion.digest);
      execution.deleted.push(deletion);
    } catch (error) {
      if (error instanceof RegistryError && error.code === 'MANIFEST_UNKNOWN') {
        execution.alreadyGone.push(deletion);
        continue;
      }
      execution.stoppedBy = `stopped at ${deletion.repository}@${deletion.digest}: ${(error as Error).message}`;
      break;
    }
  }
  return execution;
}
