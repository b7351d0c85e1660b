// What one repository holds, read through the registry API and joined with the activity trail: every
// tag and the digest it points at (HEAD with every manifest type: a HEAD is not a pull, so a run does
// not fill the trail with pulls), the children of every index (GET the index), and the manifests
// pushed by digest or left untagged by a re-push that the trail remembers and the registry still
// stores. This is the planner's input (policy/retention/plan.ts RepositoryInventory).

import type { ManifestInfo, RepositoryInventory } from '../policy/retention/plan.js';
import type { Limiter } from './pool.js';
import { RegistryError, type DistributionClient } from './registry-api.js';
import type { ManifestPush } from './sources.js';

const INDEX_TYPES: ReadonlySet<string> = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

export const isIndex = (mediaType: string | undefined): boolean => mediaType !== undefined && INDEX_TYPES.has(mediaType);

/** Gone between listing and asking (deleted meanwhile): not an error, just not there. */
const gone = (error: unknown): boolean => error instanceof RegistryError && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'NAME_UNKNOWN');

/** `answer`, or undefined when what it asked for is gone; any other failure is thrown. */
async function unlessGone<T>(answer: Promise<T>): Promise<T | undefined> {
  try {
    return await answer;
  } catch (error) {
    if (gone(error)) return undefined;
    throw error;
  }
}

/** The digests an index lists. */
export function childrenOf(text: string): { digest: string; mediaType?: string }[] {
  const parsed = JSON.parse(text) as { manifests?: { digest?: unknown; mediaType?: unknown }[] };
  return (parsed.manifests ?? []).flatMap((m) =>
    typeof m.digest === 'string' ? [{ digest: m.digest, ...(typeof m.mediaType === 'string' ? { mediaType: m.mediaType } : {}) }] : [],
  );
}

/** digest -> its newest push in the trail. */
function newestPushes(pushes: readonly ManifestPush[]): Map<string, Date> {
  const newest = new Map<string, Date>();
  for (const push of pushes) {
    const at = new Date(push.timestamp);
    const known = newest.get(push.digest);
    if (Number.isFinite(at.getTime()) && (known === undefined || at > known)) newest.set(push.digest, at);
  }
  return newest;
}

/** Reads one repository; every registry call goes through `limiter`. */
export async function readRepository(
  client: DistributionClient,
  limiter: Limiter,
  name: string,
  pushes: readonly ManifestPush[],
): Promise<RepositoryInventory> {
  const tagNames = await limiter
    .run(() => client.tags(name))
    .catch((error: unknown) => {
      if (gone(error)) return [];
      throw error;
    });
  const manifests = new Map<string, ManifestInfo>();
  const tags = new Map<string, string>();
  const heads = await Promise.all(tagNames.map((tag) => unlessGone(limiter.run(() => client.head(name, tag)))));
  tagNames.forEach((tag, i) => {
    const head = heads[i];
    if (head === undefined) return;
    tags.set(tag, head.digest);
    manifests.set(head.digest, { mediaType: head.mediaType });
  });

  // Pushed once, tagged no more: the registry lists no such digests, the trail remembers them.
  const pushedAt = newestPushes(pushes);
  const tagged = new Set(tags.values());
  const remembered = [...pushedAt.keys()].filter((digest) => !tagged.has(digest)).sort();
  const stored = await Promise.all(remembered.map((digest) => unlessGone(limiter.run(() => client.head(name, digest)))));
  const untagged: string[] = [];
  remembered.forEach((digest, i) => {
    const head = stored[i];
    if (head === undefined) return;
    untagged.push(digest);
    manifests.set(digest, { mediaType: head.mediaType });
  });

  // Every index's children, and theirs (an index may list indexes).
  const queue = [...manifests.entries()].filter(([, m]) => isIndex(m.mediaType)).map(([digest]) => digest);
  const read = new Set<string>();
  while (queue.length > 0) {
    const batch = queue.splice(0).filter((d) => !read.has(d));
    batch.forEach((d) => read.add(d));
    const bodies = await Promise.all(batch.map((digest) => limiter.run(() => client.manifest(name, digest))));
    batch.forEach((digest, i) => {
      const children = childrenOf((bodies[i] as { text: string }).text);
      manifests.set(digest, { ...manifests.get(digest), children: children.map((c) => c.digest) });
      for (const child of children) {
        if (!manifests.has(child.digest)) manifests.set(child.digest, child.mediaType === undefined ? {} : { mediaType: child.mediaType });
        if (isIndex(child.mediaType) && !read.has(child.digest)) queue.push(child.digest);
      }
    });
  }
  return { name, tags, manifests, pushedAt, untagged };
}
