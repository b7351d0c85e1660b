// keepNewestSemver: which tags are among the newest N semantic versions. A tag counts when it is a
// strict semver version, optionally with a leading `v` (`v1.2.3`, `1.2.3-rc.1`); anything else
// (`latest`, `1.2`, `V1.2.3`, `=1.2.3`) is not counted by this rule and is left to the others.
// N counts distinct versions, not tags: `1.2.3` and `v1.2.3` (or `1.2.3+build.1`) are one release, and
// keeping a release keeps every tag spelling it.

import { SemVer, compare, parse } from 'semver';
import type { RetentionRules } from '../../crds/types.js';

export type PreReleaseMode = 'Separate' | 'Together' | 'Ignore';

/** Pre-releases are counted on their own (with their own N) unless the policy says otherwise. */
export const DEFAULT_PRE_RELEASE_MODE: PreReleaseMode = 'Separate';

/** The version a tag spells, or undefined if it is not a strict semver tag. */
export function semverOfTag(tag: string): SemVer | undefined {
  const text = tag.startsWith('v') ? tag.slice(1) : tag;
  const version = parse(text);
  // parse() accepts a leading `=`/`v` and surrounding spaces itself; only the exact spelling counts.
  return version !== null && version.raw === text && !/^[=v\s]/.test(text) ? version : undefined;
}

/** The tags kept by the rule, from the tags of one repository. */
export function newestSemverTags(tags: Iterable<string>, rule: NonNullable<RetentionRules['keepNewestSemver']>): Set<string> {
  const mode = rule.preReleases ?? DEFAULT_PRE_RELEASE_MODE;
  const releases: [string, SemVer][] = [];
  const preReleases: [string, SemVer][] = [];
  for (const tag of tags) {
    const version = semverOfTag(tag);
    if (version === undefined) continue;
    if (version.prerelease.length > 0 && mode !== 'Together') preReleases.push([tag, version]);
    else releases.push([tag, version]);
  }
  const kept = newest(releases, rule.count);
  if (mode === 'Separate') for (const tag of newest(preReleases, rule.preReleaseCount ?? rule.count)) kept.add(tag);
  return kept;
}

/** The tags spelling the `count` highest distinct versions. */
function newest(tagged: [string, SemVer][], count: number): Set<string> {
  const byVersion = [...tagged].sort(([, a], [, b]) => compare(b, a));
  const kept = new Set<string>();
  let distinct = 0;
  let previous: SemVer | undefined;
  for (const [tag, version] of byVersion) {
    if (previous === undefined || compare(previous, version) !== 0) {
      if (distinct === count) break;
      distinct++;
      previous = version;
    }
    kept.add(tag);
  }
  return kept;
}
