// Which tags were moved to other content after they were first pushed: the detection half of "immutable
// releases" (docs/adr/0007-immutable-tags-detected-not-enforced.md explains why Portcullis reports
// overwrites instead of refusing them). The input is the trail's push events, in any order; the output
// is one entry per push that gave an existing tag a different digest, oldest first. Pushing the same
// digest again is not an overwrite (CI re-runs do that), and a tag deleted and pushed again with other
// content is one: the people who deployed the first digest by tag get the second.

import { compileTagGlob } from './tag-glob.js';

/** A push as the trail records it (activity/event.ts RegistryEvent, the fields this needs). */
export interface TagPush {
  repository: string;
  tag: string;
  digest: string;
  /** ISO 8601. */
  timestamp: string;
  actor?: string;
}

export interface TagOverwrite {
  repository: string;
  tag: string;
  /** What the tag named before this push. */
  previousDigest: string;
  digest: string;
  timestamp: string;
  actor?: string;
}

/** The overwrites among `pushes` of tags matching `tagGlobs` (all tags when empty), oldest first. */
export function findTagOverwrites(pushes: readonly TagPush[], tagGlobs: readonly string[] = []): TagOverwrite[] {
  const globs = tagGlobs.map(compileTagGlob);
  const ordered = pushes
    .filter((p) => globs.length === 0 || globs.some((matches) => matches(p.tag)))
    .sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
  const current = new Map<string, string>();
  const overwrites: TagOverwrite[] = [];
  for (const push of ordered) {
    // A repository name cannot contain a space, so this key cannot collide.
    const key = `${push.repository} ${push.tag}`;
    const previous = current.get(key);
    if (previous !== undefined && previous !== push.digest) {
      overwrites.push({
        repository: push.repository,
        tag: push.tag,
        previousDigest: previous,
        digest: push.digest,
        timestamp: push.timestamp,
        ...(push.actor === undefined ? {} : { actor: push.actor }),
      });
    }
    current.set(key, push.digest);
  }
  return overwrites;
}
