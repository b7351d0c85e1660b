// The retention planner: given what a registry holds and what the activity trail says about pushes,
// which tags a RetentionPolicy keeps (and by which rule), which it would delete, and which manifests
// that deletion may actually remove. Pure: no I/O, no clock (`now` is a parameter), so every rule is a
// table test (plan.test.ts) and the runner (lifecycle/) only executes `plan.deletions`.
//
// The safety rules (docs/retention.md), in the order they are applied:
//  1. A tag is kept if any rule keeps it (the union of keeps wins). A policy with no keep rule at all
//     (only pruneUntaggedOlderThan) leaves every tag alone.
//  2. Every digest a kept tag points at is protected, and so is every manifest a protected index lists
//     (a multi-arch image keeps its platform images), recursively.
//  3. Deleting a manifest by digest removes every tag pointing at it, so a candidate tag whose digest
//     is protected is kept instead ("shares digest with kept tag X").
//  4. An untagged manifest is pruned only when it is older than pruneUntaggedOlderThan by a push the
//     trail recorded; with no push on record its age is unknown and it is kept. An untagged index that
//     stays protects its children like a kept tag does.
//  5. Over maxDeletionsPerRun digests, the plan is CapExceeded and deletes nothing at all.

import type { RetentionPolicySpec } from '../../crds/types.js';
import { parseRetentionAge } from './age.js';
import { newestSemverTags } from './newest-semver.js';
import { compileTagGlob } from '../tag-glob.js';

/** The rules by name, as `keptBy` and the status's keptByRule spell them. */
export const RetentionRuleNames = {
  keepNewestSemver: 'keepNewestSemver',
  keepTags: 'keepTags',
  keepPushedWithin: 'keepPushedWithin',
} as const;
export type RetentionRuleName = (typeof RetentionRuleNames)[keyof typeof RetentionRuleNames];

/** The CRD's default for maxDeletionsPerRun. */
export const DEFAULT_MAX_DELETIONS_PER_RUN = 100;

/** One manifest as the registry describes it. */
export interface ManifestInfo {
  mediaType?: string;
  /** For an index (manifest list): the digests of the manifests it lists. */
  children?: readonly string[];
  /** Bytes this manifest accounts for, where the runner knows them (e.g. config + layers). */
  size?: number;
}

/** What one repository holds, and what the activity trail says about it. */
export interface RepositoryInventory {
  /** The repository name, e.g. `team-a/app`. */
  name: string;
  /** tag -> the digest it points at. */
  tags: ReadonlyMap<string, string>;
  /** digest -> manifest, for every digest the runner resolved (tagged ones, their children, untagged). */
  manifests: ReadonlyMap<string, ManifestInfo>;
  /** digest -> the newest push of it the trail recorded. Absent: age unknown. */
  pushedAt: ReadonlyMap<string, Date>;
  /** Digests pushed (per the trail) that no tag points at any more. Tagged digests here are ignored. */
  untagged: readonly string[];
}

export interface KeptTag {
  tag: string;
  digest: string;
  /** The rules that keep it; empty when it is kept only because its digest is protected. */
  keptBy: RetentionRuleName[];
  /** Why a tag no rule keeps is kept anyway, e.g. `shares digest with kept tag latest`. */
  reason?: string;
}

export interface CandidateTag {
  tag: string;
  digest: string;
}

export interface KeptUntagged {
  digest: string;
  /** e.g. `age unknown`, `pushed 2h ago`, `listed by kept index sha256:…`. */
  reason: string;
}

export interface RepositoryPlan {
  repository: string;
  kept: KeptTag[];
  candidates: CandidateTag[];
  /** The distinct digests the candidate tags point at: deleting them removes the candidate tags. */
  digests: string[];
  /** Untagged manifests old enough to prune and referenced by nothing kept. */
  untagged: string[];
  keptUntagged: KeptUntagged[];
  /** Sum of the known sizes of `digests` and `untagged`; `bytesUnknown` counts those without a size. */
  bytes: number;
  bytesUnknown: number;
}

export interface Deletion {
  repository: string;
  digest: string;
  /** The candidate tags this deletion removes; empty for an untagged manifest. */
  tags: string[];
}

export interface RetentionPlan {
  /** Planned: `deletions` is what to delete. CapExceeded: more than `maxDeletions`, so `deletions` is empty. */
  result: 'Planned' | 'CapExceeded';
  maxDeletions: number;
  /** Digests the rules select across all repositories (what a run would delete without the cap). */
  selected: number;
  /** What to delete; empty when the cap is exceeded. The only list a runner may act on. */
  deletions: Deletion[];
  repositories: RepositoryPlan[];
  tagsSeen: number;
  candidates: number;
  keptByRule: Record<RetentionRuleName, number>;
  bytes: number;
}

/** Why every tag is kept by a policy that only prunes untagged manifests. */
export const NO_KEEP_RULE = 'the policy has no keep rule, so it prunes untagged manifests only';

interface CompiledRules {
  spec: RetentionPolicySpec['rules'];
  /** Without any keep rule, tags are out of the policy's reach: "prune untagged" must not mean "delete every tag". */
  hasKeepRule: boolean;
  keepTags: ((tag: string) => boolean)[];
  keepPushedWithinMs?: number;
  pruneUntaggedOlderThanMs?: number;
}

function compileRules(rules: RetentionPolicySpec['rules']): CompiledRules {
  const hasKeepRule = rules.keepNewestSemver !== undefined || (rules.keepTags ?? []).length > 0 || rules.keepPushedWithin !== undefined;
  const compiled: CompiledRules = { spec: rules, hasKeepRule, keepTags: (rules.keepTags ?? []).map(compileTagGlob) };
  if (rules.keepPushedWithin !== undefined) compiled.keepPushedWithinMs = parseRetentionAge(rules.keepPushedWithin);
  if (rules.pruneUntaggedOlderThan !== undefined) compiled.pruneUntaggedOlderThanMs = parseRetentionAge(rules.pruneUntaggedOlderThan);
  return compiled;
}

/** Plans one run of a policy over the repositories it covers. Throws on an invalid age or count. */
export function planRetention(
  spec: Pick<RetentionPolicySpec, 'rules' | 'maxDeletionsPerRun'>,
  repositories: readonly RepositoryInventory[],
  now: Date,
): RetentionPlan {
  const maxDeletions = spec.maxDeletionsPerRun ?? DEFAULT_MAX_DELETIONS_PER_RUN;
  const count = spec.rules.keepNewestSemver?.count;
  if (count !== undefined && !(Number.isInteger(count) && count >= 1)) throw new Error(`keepNewestSemver.count must be a whole number >= 1, not ${count}`);
  const rules = compileRules(spec.rules);
  const plans = [...repositories].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((repo) => planRepository(repo, rules, now.getTime()));
  const selected: Deletion[] = plans.flatMap((p) => [
    ...p.digests.map((digest) => ({ repository: p.repository, digest, tags: p.candidates.filter((c) => c.digest === digest).map((c) => c.tag) })),
    ...p.untagged.map((digest) => ({ repository: p.repository, digest, tags: [] })),
  ]);
  const keptByRule: Record<RetentionRuleName, number> = { keepNewestSemver: 0, keepTags: 0, keepPushedWithin: 0 };
  for (const plan of plans) for (const kept of plan.kept) for (const rule of kept.keptBy) keptByRule[rule]++;
  const capExceeded = selected.length > maxDeletions;
  return {
    result: capExceeded ? 'CapExceeded' : 'Planned',
    maxDeletions,
    selected: selected.length,
    deletions: capExceeded ? [] : selected,
    repositories: plans,
    tagsSeen: plans.reduce((n, p) => n + p.kept.length + p.candidates.length, 0),
    candidates: plans.reduce((n, p) => n + p.candidates.length, 0),
    keptByRule,
    bytes: plans.reduce((n, p) => n + p.bytes, 0),
  };
}

function rulesKeeping(
  tag: string,
  digest: string,
  semverKept: ReadonlySet<string>,
  rules: CompiledRules,
  pushedAt: ReadonlyMap<string, Date>,
  now: number,
): RetentionRuleName[] {
  const keptBy: RetentionRuleName[] = [];
  if (semverKept.has(tag)) keptBy.push('keepNewestSemver');
  if (rules.keepTags.some((matches) => matches(tag))) keptBy.push('keepTags');
  const pushed = pushedAt.get(digest);
  if (rules.keepPushedWithinMs !== undefined && pushed !== undefined && now - pushed.getTime() <= rules.keepPushedWithinMs) keptBy.push('keepPushedWithin');
  return keptBy;
}

/** digest -> why it is protected, for every digest reachable from `roots` through index children. */
function protectedDigests(roots: ReadonlyMap<string, string>, manifests: ReadonlyMap<string, ManifestInfo>): Map<string, string> {
  const reasons = new Map(roots);
  const queue = [...roots.keys()];
  while (queue.length > 0) {
    const digest = queue.shift() as string;
    for (const child of manifests.get(digest)?.children ?? []) {
      if (reasons.has(child)) continue;
      reasons.set(child, `listed by kept index ${digest}`);
      queue.push(child);
    }
  }
  return reasons;
}

function planRepository(repo: RepositoryInventory, rules: CompiledRules, now: number): RepositoryPlan {
  const tags = [...repo.tags.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const semverKept = rules.spec.keepNewestSemver === undefined ? new Set<string>() : newestSemverTags(repo.tags.keys(), rules.spec.keepNewestSemver);
  const keptByRules = new Map<string, RetentionRuleName[]>();
  const roots = new Map<string, string>();
  for (const [tag, digest] of tags) {
    const keptBy = rulesKeeping(tag, digest, semverKept, rules, repo.pushedAt, now);
    if (keptBy.length === 0 && rules.hasKeepRule) continue;
    keptByRules.set(tag, keptBy);
    if (!roots.has(digest)) roots.set(digest, `shares digest with kept tag ${tag}`);
  }

  // Untagged manifests that stay (too young, or of unknown age) are roots too: their children stay.
  const tagged = new Set(repo.tags.values());
  const untagged = [...new Set(repo.untagged)].filter((d) => !tagged.has(d)).sort();
  const keptUntagged: KeptUntagged[] = [];
  const oldUntagged: string[] = [];
  for (const digest of untagged) {
    const why = untaggedStays(digest, rules, repo.pushedAt, now);
    if (why === undefined) oldUntagged.push(digest);
    else {
      keptUntagged.push({ digest, reason: why });
      if (!roots.has(digest)) roots.set(digest, `listed by kept untagged index ${digest}`);
    }
  }
  const protection = protectedDigests(roots, repo.manifests);

  const kept: KeptTag[] = [];
  const candidates: CandidateTag[] = [];
  for (const [tag, digest] of tags) {
    const keptBy = keptByRules.get(tag);
    if (!rules.hasKeepRule) kept.push({ tag, digest, keptBy: [], reason: NO_KEEP_RULE });
    else if (keptBy !== undefined) kept.push({ tag, digest, keptBy });
    else if (protection.has(digest)) kept.push({ tag, digest, keptBy: [], reason: protection.get(digest) });
    else candidates.push({ tag, digest });
  }
  const prunable: string[] = [];
  for (const digest of oldUntagged) {
    const reason = protection.get(digest);
    if (reason === undefined) prunable.push(digest);
    else keptUntagged.push({ digest, reason });
  }
  keptUntagged.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const digests = [...new Set(candidates.map((c) => c.digest))].sort();
  let bytes = 0;
  let bytesUnknown = 0;
  for (const digest of [...digests, ...prunable]) {
    const size = repo.manifests.get(digest)?.size;
    if (size === undefined) bytesUnknown++;
    else bytes += size;
  }
  return { repository: repo.name, kept, candidates, digests, untagged: prunable, keptUntagged, bytes, bytesUnknown };
}

/** Why an untagged manifest is not old enough to prune, or undefined if it is. */
function untaggedStays(digest: string, rules: CompiledRules, pushedAt: ReadonlyMap<string, Date>, now: number): string | undefined {
  if (rules.pruneUntaggedOlderThanMs === undefined) return 'pruneUntaggedOlderThan is not set';
  const pushed = pushedAt.get(digest);
  if (pushed === undefined) return 'age unknown: no push in the activity trail';
  if (now - pushed.getTime() <= rules.pruneUntaggedOlderThanMs) return `pushed at ${pushed.toISOString()}, younger than ${rules.spec.pruneUntaggedOlderThan}`;
  return undefined;
}
