// The planner's rules as a table: each row is a repository, a policy and a clock, and exactly which tags
// are kept (by which rule), which are candidates, and which digests the run may delete. The rows marked
// "safety" are the ones a bad plan would turn into a broken pull.
import { describe, expect, it } from 'vitest';
import type { RetentionRules } from '../../crds/types.js';
import { planRetention, type ManifestInfo, type RepositoryInventory } from './plan.js';

const NOW = new Date('2026-11-27T12:00:00Z');
const daysAgo = (n: number): Date => new Date(NOW.getTime() - n * 86_400_000);
const d = (name: string): string => `sha256:${name}`;

function repo(
  tags: Record<string, string>,
  extra: { manifests?: Record<string, ManifestInfo>; pushed?: Record<string, Date>; untagged?: string[] } = {},
): RepositoryInventory {
  return {
    name: 'team-a/app',
    tags: new Map(Object.entries(tags)),
    manifests: new Map(Object.entries(extra.manifests ?? {})),
    pushedAt: new Map(Object.entries(extra.pushed ?? {})),
    untagged: extra.untagged ?? [],
  };
}

/** kept tags (sorted), candidate tags (sorted), digests to delete (tagged then untagged). */
function outcome(
  rules: RetentionRules,
  inventory: RepositoryInventory,
  maxDeletionsPerRun?: number,
): { kept: string[]; candidates: string[]; deletes: string[] } {
  const plan = planRetention({ rules, ...(maxDeletionsPerRun === undefined ? {} : { maxDeletionsPerRun }) }, [inventory], NOW);
  const p = plan.repositories[0];
  if (p === undefined) throw new Error('no repository plan');
  return { kept: p.kept.map((k) => k.tag), candidates: p.candidates.map((c) => c.tag), deletes: plan.deletions.map((x) => x.digest) };
}

const semverTags = {
  '1.0.0': d('100'),
  '1.1.0': d('110'),
  'v1.2.0': d('120'),
  '2.0.0': d('200'),
  '2.1.0-rc.1': d('21rc1'),
  '2.1.0-rc.2': d('21rc2'),
  latest: d('200'),
};

describe('planRetention: rules', () => {
  it.each<[string, RetentionRules, RepositoryInventory, { kept: string[]; candidates: string[]; deletes: string[] }]>([
    [
      'keepNewestSemver keeps the newest N releases and, by default, N pre-releases separately',
      { keepNewestSemver: { count: 2, preReleases: 'Separate', preReleaseCount: 1 } },
      repo(semverTags),
      // latest shares 2.0.0's digest: deleting 2.0.0 would delete it, and 2.0.0 is kept, so latest is too.
      { kept: ['2.0.0', '2.1.0-rc.2', 'latest', 'v1.2.0'], candidates: ['1.0.0', '1.1.0', '2.1.0-rc.1'], deletes: [d('100'), d('110'), d('21rc1')] },
    ],
    [
      'preReleaseCount defaults to count',
      { keepNewestSemver: { count: 1 } },
      repo(semverTags),
      { kept: ['2.0.0', '2.1.0-rc.2', 'latest'], candidates: ['1.0.0', '1.1.0', '2.1.0-rc.1', 'v1.2.0'], deletes: [d('100'), d('110'), d('120'), d('21rc1')] },
    ],
    [
      'Together: a pre-release of the next version counts as the newest',
      { keepNewestSemver: { count: 2, preReleases: 'Together' } },
      repo(semverTags),
      { kept: ['2.1.0-rc.1', '2.1.0-rc.2'], candidates: ['1.0.0', '1.1.0', '2.0.0', 'latest', 'v1.2.0'], deletes: [d('100'), d('110'), d('120'), d('200')] },
    ],
    [
      'Ignore: pre-releases are never kept by this rule',
      { keepNewestSemver: { count: 1, preReleases: 'Ignore' } },
      repo(semverTags),
      {
        kept: ['2.0.0', 'latest'],
        candidates: ['1.0.0', '1.1.0', '2.1.0-rc.1', '2.1.0-rc.2', 'v1.2.0'],
        deletes: [d('100'), d('110'), d('120'), d('21rc1'), d('21rc2')],
      },
    ],
    [
      'N counts versions, not spellings: 1.2.0 and v1.2.0 are one release',
      { keepNewestSemver: { count: 1 } },
      repo({ '1.2.0': d('a'), 'v1.2.0': d('b'), '1.1.0': d('c') }),
      { kept: ['1.2.0', 'v1.2.0'], candidates: ['1.1.0'], deletes: [d('c')] },
    ],
    [
      'tags that are not strict semver are left to other rules (here: none keeps them)',
      { keepNewestSemver: { count: 5 } },
      repo({ '1.2': d('a'), V2: d('b'), 'V1.0.0': d('c'), '=1.0.0': d('e'), 'vv1.0.0': d('f'), '01.0.0': d('g'), '1.0.0': d('h') }),
      { kept: ['1.0.0'], candidates: ['01.0.0', '1.2', '=1.0.0', 'V1.0.0', 'V2', 'vv1.0.0'], deletes: [d('a'), d('b'), d('c'), d('e'), d('f'), d('g')] },
    ],
    [
      'keepTags globs: * any run, ? one character, . literal',
      { keepTags: ['latest', 'stable-?', 'v1.*'] },
      repo({ latest: d('a'), 'stable-1': d('b'), 'stable-10': d('c'), 'v1.2': d('e'), v1x2: d('f') }),
      { kept: ['latest', 'stable-1', 'v1.2'], candidates: ['stable-10', 'v1x2'], deletes: [d('c'), d('f')] },
    ],
    [
      'keepPushedWithin keeps recent pushes; an unknown age is not kept by it',
      { keepPushedWithin: '7d' },
      repo({ fresh: d('a'), old: d('b'), unknown: d('c'), edge: d('e') }, { pushed: { [d('a')]: daysAgo(1), [d('b')]: daysAgo(8), [d('e')]: daysAgo(7) } }),
      { kept: ['edge', 'fresh'], candidates: ['old', 'unknown'], deletes: [d('b'), d('c')] },
    ],
    [
      'keepPushedWithin as a Go duration',
      { keepPushedWithin: '90m' },
      repo({ a: d('a'), b: d('b') }, { pushed: { [d('a')]: new Date(NOW.getTime() - 89 * 60_000), [d('b')]: new Date(NOW.getTime() - 91 * 60_000) } }),
      { kept: ['a'], candidates: ['b'], deletes: [d('b')] },
    ],
    [
      'the union of keeps wins',
      { keepNewestSemver: { count: 1 }, keepTags: ['1.0.0'], keepPushedWithin: '168h' },
      repo({ '1.0.0': d('a'), '1.1.0': d('b'), '1.2.0': d('c'), '1.3.0': d('e') }, { pushed: { [d('b')]: daysAgo(2), [d('c')]: daysAgo(30) } }),
      { kept: ['1.0.0', '1.1.0', '1.3.0'], candidates: ['1.2.0'], deletes: [d('c')] },
    ],
    [
      'pruneUntaggedOlderThan prunes old untagged manifests; young and unknown ones stay',
      { keepTags: ['*'], pruneUntaggedOlderThan: '3d' },
      repo({ latest: d('a') }, { pushed: { [d('old')]: daysAgo(4), [d('young')]: daysAgo(1) }, untagged: [d('old'), d('young'), d('unknown')] }),
      { kept: ['latest'], candidates: [], deletes: [d('old')] },
    ],
    [
      'safety: a policy with only pruneUntaggedOlderThan leaves every tag alone',
      { pruneUntaggedOlderThan: '3d' },
      repo({ latest: d('a'), old: d('b') }, { pushed: { [d('b')]: daysAgo(400), [d('old')]: daysAgo(4) }, untagged: [d('old')] }),
      { kept: ['latest', 'old'], candidates: [], deletes: [d('old')] },
    ],
    [
      'without pruneUntaggedOlderThan no untagged manifest is deleted',
      { keepTags: ['*'] },
      repo({ latest: d('a') }, { pushed: { [d('old')]: daysAgo(400) }, untagged: [d('old')] }),
      { kept: ['latest'], candidates: [], deletes: [] },
    ],
    [
      'a digest both tagged and listed as untagged is treated as tagged',
      { keepTags: ['latest'], pruneUntaggedOlderThan: '1d' },
      repo({ latest: d('a') }, { pushed: { [d('a')]: daysAgo(10) }, untagged: [d('a')] }),
      { kept: ['latest'], candidates: [], deletes: [] },
    ],
  ])('%s', (_name, rules, inventory, expected) => {
    expect(outcome(rules, inventory)).toEqual(expected);
  });
});

// A multi-arch image: index `multi` lists amd64 and arm64; the single-arch image `single` is the same
// amd64 manifest, so they share its blobs and even its digest.
const multiArch = {
  manifests: {
    [d('multi')]: { mediaType: 'application/vnd.oci.image.index.v1+json', children: [d('amd64'), d('arm64')], size: 10 },
    [d('amd64')]: { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1000 },
    [d('arm64')]: { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 2000 },
    [d('other')]: { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 500 },
  },
  pushed: { [d('amd64')]: daysAgo(30), [d('arm64')]: daysAgo(30), [d('orphan')]: daysAgo(30) },
  untagged: [d('amd64'), d('arm64'), d('orphan')],
};

describe('planRetention: safety', () => {
  it.each<[string, RetentionRules, RepositoryInventory, { kept: string[]; candidates: string[]; deletes: string[] }]>([
    [
      'safety: a candidate tag on a platform image of a kept index is kept',
      { keepTags: ['multi'], pruneUntaggedOlderThan: '1d' },
      repo({ multi: d('multi'), single: d('amd64'), other: d('other') }, multiArch),
      { kept: ['multi', 'single'], candidates: ['other'], deletes: [d('other'), d('orphan')] },
    ],
    [
      'safety: untagged children of a kept index are never pruned',
      { keepTags: ['multi'], pruneUntaggedOlderThan: '1d' },
      repo({ multi: d('multi') }, multiArch),
      { kept: ['multi'], candidates: [], deletes: [d('orphan')] },
    ],
    [
      'a candidate index goes, and its old untagged children with it when nothing kept lists them',
      { keepTags: ['other'], pruneUntaggedOlderThan: '1d' },
      repo({ multi: d('multi'), other: d('other') }, multiArch),
      { kept: ['other'], candidates: ['multi'], deletes: [d('multi'), d('amd64'), d('arm64'), d('orphan')] },
    ],
    [
      'safety: a kept single-arch tag keeps its digest even when the index listing it is deleted',
      { keepTags: ['single'], pruneUntaggedOlderThan: '1d' },
      repo({ multi: d('multi'), single: d('amd64') }, multiArch),
      { kept: ['single'], candidates: ['multi'], deletes: [d('multi'), d('arm64'), d('orphan')] },
    ],
    [
      'safety: an untagged index too young to prune keeps its children',
      { pruneUntaggedOlderThan: '7d' },
      repo(
        {},
        {
          manifests: multiArch.manifests,
          pushed: { [d('multi')]: daysAgo(1), [d('amd64')]: daysAgo(30), [d('arm64')]: daysAgo(30) },
          untagged: [d('multi'), d('amd64'), d('arm64')],
        },
      ),
      { kept: [], candidates: [], deletes: [] },
    ],
    [
      'safety: two tags on one digest, one kept: neither is deleted',
      { keepTags: ['stable'] },
      repo({ stable: d('a'), 'build-17': d('a'), 'build-16': d('b') }),
      { kept: ['build-17', 'stable'], candidates: ['build-16'], deletes: [d('b')] },
    ],
    [
      'two candidate tags on one digest are one deletion',
      { keepTags: ['none'] },
      repo({ x: d('a'), y: d('a') }),
      { kept: [], candidates: ['x', 'y'], deletes: [d('a')] },
    ],
  ])('%s', (_name, rules, inventory, expected) => {
    expect(outcome(rules, inventory)).toEqual(expected);
  });

  it('says why a tag no rule keeps is kept', () => {
    const plan = planRetention({ rules: { keepTags: ['multi'] } }, [repo({ multi: d('multi'), single: d('amd64'), alias: d('multi') }, multiArch)], NOW);
    expect(plan.repositories[0]?.kept).toEqual([
      { tag: 'alias', digest: d('multi'), keptBy: [], reason: 'shares digest with kept tag multi' },
      { tag: 'multi', digest: d('multi'), keptBy: ['keepTags'] },
      { tag: 'single', digest: d('amd64'), keptBy: [], reason: `listed by kept index ${d('multi')}` },
    ]);
  });

  it('counts tags by rule, candidates and the bytes it knows of', () => {
    const plan = planRetention(
      { rules: { keepNewestSemver: { count: 1 }, keepTags: ['1.*'], pruneUntaggedOlderThan: '1d' } },
      [repo({ '1.0.0': d('other'), '1.1.0': d('multi'), x: d('arm64') }, multiArch)],
      NOW,
    );
    expect(plan).toMatchObject({
      result: 'Planned',
      tagsSeen: 3,
      candidates: 0,
      keptByRule: { keepNewestSemver: 1, keepTags: 2, keepPushedWithin: 0 },
      bytes: 0,
    });
    expect(plan.repositories[0]).toMatchObject({ untagged: [d('orphan')], bytesUnknown: 1 });
    const second = planRetention({ rules: { keepTags: ['none'] } }, [repo({ a: d('amd64'), b: d('arm64') }, multiArch)], NOW);
    expect(second).toMatchObject({ candidates: 2, bytes: 3000 });
  });
});

describe('planRetention: the cap', () => {
  const many = (n: number, name: string): RepositoryInventory => ({
    ...repo(Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${i}`, d(`${name}${i}`)]))),
    name,
  });

  it('a plan within the cap lists every deletion, across repositories', () => {
    const plan = planRetention({ rules: { keepTags: ['t0'] }, maxDeletionsPerRun: 4 }, [many(3, 'b'), many(3, 'a')], NOW);
    expect(plan.result).toBe('Planned');
    expect(plan.deletions.map((x) => `${x.repository}@${x.digest}`)).toEqual(['a@sha256:a1', 'a@sha256:a2', 'b@sha256:b1', 'b@sha256:b2']);
  });

  it('over the cap nothing is deleted at all, though the candidates are reported', () => {
    const plan = planRetention({ rules: { keepTags: ['t0'] }, maxDeletionsPerRun: 3 }, [many(3, 'b'), many(3, 'a')], NOW);
    expect(plan).toMatchObject({ result: 'CapExceeded', selected: 4, maxDeletions: 3, deletions: [], candidates: 4 });
  });

  it('the default cap is 100', () => {
    expect(planRetention({ rules: { keepTags: ['none'] } }, [many(100, 'a')], NOW).result).toBe('Planned');
    expect(planRetention({ rules: { keepTags: ['none'] } }, [many(101, 'a')], NOW)).toMatchObject({ result: 'CapExceeded', deletions: [] });
  });

  it('untagged prunes count towards the cap', () => {
    const inventory = repo({ t: d('t') }, { pushed: { [d('u1')]: daysAgo(9), [d('u2')]: daysAgo(9) }, untagged: [d('u1'), d('u2')] });
    expect(planRetention({ rules: { keepTags: ['none'], pruneUntaggedOlderThan: '1d' }, maxDeletionsPerRun: 2 }, [inventory], NOW)).toMatchObject({
      result: 'CapExceeded',
      selected: 3,
    });
  });
});

describe('planRetention: bad input', () => {
  it.each<[string, RetentionRules, RegExp]>([
    ['a count of zero', { keepNewestSemver: { count: 0 } }, /count must be a whole number >= 1/],
    ['a fractional count', { keepNewestSemver: { count: 1.5 } }, /count must be a whole number >= 1/],
    ['an age in weeks', { keepPushedWithin: '2w' }, /invalid age "2w"/],
    ['an empty age', { pruneUntaggedOlderThan: '' }, /invalid age ""/],
  ])('refuses %s', (_name, rules, message) => {
    expect(() => planRetention({ rules }, [repo({ a: d('a') })], NOW)).toThrow(message);
  });
});
