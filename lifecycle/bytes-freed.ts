// How many bytes a repository's deletions free, where the manifests say so: the config and layer sizes
// of the manifests deleted, each blob counted once, and only if no manifest that stays in the
// repository uses it (Distribution links blobs per repository; a blob still linked from a kept image
// is not collected). An index frees nothing of its own here: its children stay unless deleted too.
// Estimated before any delete, from GETs of the repository's image manifests.

import type { RepositoryInventory, RepositoryPlan } from '../policy/retention/plan.js';
import { isIndex } from './inventory.js';
import type { Limiter } from './pool.js';
import type { DistributionClient } from './registry-api.js';

interface Descriptor {
  digest?: unknown;
  size?: unknown;
}

/** blob digest -> size, for an image manifest's config and layers. */
function blobsOf(text: string): Map<string, number> {
  const parsed = JSON.parse(text) as { config?: Descriptor; layers?: Descriptor[] };
  const blobs = new Map<string, number>();
  for (const d of [parsed.config, ...(parsed.layers ?? [])]) {
    if (d !== undefined && typeof d.digest === 'string' && typeof d.size === 'number') blobs.set(d.digest, d.size);
  }
  return blobs;
}

export interface FreedBytes {
  bytes: number;
  /** Deleted image manifests whose sizes could not be read. */
  unknown: number;
}

export async function bytesFreed(client: DistributionClient, limiter: Limiter, inventory: RepositoryInventory, plan: RepositoryPlan): Promise<FreedBytes> {
  const deleted = new Set([...plan.digests, ...plan.untagged]);
  if (deleted.size === 0) return { bytes: 0, unknown: 0 };
  const images = [...inventory.manifests.entries()].filter(([, m]) => !isIndex(m.mediaType)).map(([digest]) => digest);
  const read = await Promise.all(
    images.map((digest) =>
      limiter
        .run(() => client.manifest(inventory.name, digest))
        .then(
          (m) => blobsOf(m.text),
          () => undefined,
        ),
    ),
  );
  const keptBlobs = new Set<string>();
  const freed = new Map<string, number>();
  let unknown = 0;
  images.forEach((digest, i) => {
    const blobs = read[i];
    if (!deleted.has(digest)) for (const blob of blobs?.keys() ?? []) keptBlobs.add(blob);
    else if (blobs === undefined) unknown++;
    else for (const [blob, size] of blobs) freed.set(blob, size);
  });
  let bytes = 0;
  for (const [blob, size] of freed) if (!keptBlobs.has(blob)) bytes += size;
  return { bytes, unknown };
}
