// The images the retention e2e pushes into one repository, and what a policy keeping the newest five
// releases, the newest pre-release, `latest` and `stable`, and pruning untagged manifests older than a
// second must do with them — worked out here by hand, not by the planner:
//   1.0.0 .. 1.29.0   thirty releases; 1.25.0 .. 1.29.0 are kept (keepNewestSemver count 5)
//   1.29.0            a multi-arch index: amd64 child A, arm64 child B; B's layer is 1.0.0's layer
//   1.2.0             A itself (same manifest): kept, listed by the kept index
//   1.1.0             a multi-arch index of its own (children D1, D2): a candidate, and D1, D2 (pushed
//                     by digest, tagged never) are pruned with it
//   1.3.0 + stable    one digest: stable is kept by keepTags, so 1.3.0 is kept with it
//   2.0.0-rc.1 .. 3   pre-releases counted separately (preReleaseCount 1): rc.3 kept
//   latest            kept by keepTags
//   scratch           pushed twice: the first digest (U1) is untagged and pruned, the second a candidate
import { join } from 'node:path';
import type { Blob } from '../../local/image.js';
import { imageLayout, indexLayout, randomLayer, type Layout } from './oci-layouts.js';

export interface RetentionFixture {
  /** [tag, layout] in push order. */
  pushes: [string, Layout][];
  /** tag -> digest after every push. */
  tagged: Map<string, string>;
  keptTags: string[];
  candidateTags: string[];
  /** Untagged digests the run prunes. */
  prunedUntagged: string[];
  /** Every digest the run deletes. */
  deletedDigests: string[];
  /** Manifests that must stay although no tag names them (the kept index's children). */
  keptChildren: string[];
  /** Config and layer bytes the deletions free: blobs of deleted images no kept image uses. */
  bytesFreed: number;
  /** The config and layer blobs whose bytes bytesFreed counts (what garbage collection then removes, besides the deleted manifests). */
  freedBlobs: string[];
  /** image digest -> its config and layer blobs as built (to compare what is pulled back). */
  blobsOf: Map<string, Blob[]>;
}

const releases = Array.from({ length: 30 }, (_, i) => `1.${i}.0`);

export async function buildRetentionFixture(dir: string): Promise<RetentionFixture> {
  const shared = randomLayer();
  const layerA = randomLayer();
  const layouts = new Map<string, Layout>();
  layouts.set('1.0.0', await imageLayout(join(dir, '1.0.0'), { layer: shared, architecture: 's390x' }));
  layouts.set('1.29.0', await indexLayout(join(dir, '1.29.0'), ['amd64', 'arm64'], [layerA, shared]));
  layouts.set('1.2.0', await imageLayout(join(dir, '1.2.0'), { layer: layerA, architecture: 'amd64' }));
  layouts.set('1.1.0', await indexLayout(join(dir, '1.1.0'), ['amd64', 'arm64']));
  layouts.set('1.3.0', await imageLayout(join(dir, '1.3.0')));
  layouts.set('stable', layouts.get('1.3.0') as Layout);
  for (const tag of [...releases, '2.0.0-rc.1', '2.0.0-rc.2', '2.0.0-rc.3', 'latest']) {
    if (!layouts.has(tag)) layouts.set(tag, await imageLayout(join(dir, tag)));
  }
  const scratchFirst = await imageLayout(join(dir, 'scratch-1'));
  const scratch = await imageLayout(join(dir, 'scratch-2'));

  const index29 = layouts.get('1.29.0') as Layout;
  const index11 = layouts.get('1.1.0') as Layout;
  if (index29.children[0]?.digest !== layouts.get('1.2.0')?.digest) throw new Error('1.2.0 should be the amd64 child of 1.29.0');

  const pushes: [string, Layout][] = [...layouts.entries(), ['scratch', scratchFirst], ['scratch', scratch]];
  const tagged = new Map(pushes.map(([tag, layout]) => [tag, layout.digest]));
  const keptTags = ['1.25.0', '1.26.0', '1.27.0', '1.28.0', '1.29.0', '2.0.0-rc.3', 'latest', 'stable', '1.3.0', '1.2.0'];
  const candidateTags = [...tagged.keys()].filter((t) => !keptTags.includes(t)).sort();
  const prunedUntagged = [scratchFirst.digest, ...index11.children.map((c) => c.digest)];
  const deletedDigests = [...new Set([...candidateTags.map((t) => tagged.get(t) as string), ...prunedUntagged])].sort();

  // Images (not indexes) that go, and blobs of every image that stays.
  const imagesOf = (layout: Layout): { digest: string; blobs: Blob[] }[] =>
    layout.children.length > 0 ? layout.children : [{ digest: layout.digest, blobs: layout.blobs }];
  const allImages = new Map<string, Blob[]>();
  for (const [, layout] of pushes) for (const image of imagesOf(layout)) allImages.set(image.digest, image.blobs);
  const keptBlobs = new Set([...allImages].filter(([digest]) => !deletedDigests.includes(digest)).flatMap(([, blobs]) => blobs.map((b) => b.digest)));
  const freed = new Map<string, number>();
  for (const [digest, blobs] of allImages)
    if (deletedDigests.includes(digest)) for (const b of blobs) if (!keptBlobs.has(b.digest)) freed.set(b.digest, b.size);
  const bytesFreed = [...freed.values()].reduce((a, b) => a + b, 0);

  return {
    pushes,
    tagged,
    keptTags,
    candidateTags,
    prunedUntagged,
    deletedDigests,
    keptChildren: index29.children.map((c) => c.digest),
    bytesFreed,
    freedBlobs: [...freed.keys()].sort(),
    blobsOf: allImages,
  };
}
