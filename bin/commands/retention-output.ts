// What `portcullis retention` prints: per policy, the run's result in one line, then per repository the
// manifests it deletes (or would) and every kept tag with the rule or reason that kept it, then the
// errors as sentences. `-o json` prints the same as one JSON document, for scripts.

import type { RetentionPolicyResource } from '../../crds/types.js';
import type { RepositoryPlan } from '../../policy/retention/plan.js';
import type { RetentionRun } from '../../lifecycle/runner.js';

export interface PolicyRun {
  policy: RetentionPolicyResource;
  run: RetentionRun;
}

const short = (digest: string): string => digest.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]+$/, '$1');

function repositoryLines(plan: RepositoryPlan, dryRun: boolean): string[] {
  const verb = dryRun ? 'would delete' : 'delete';
  const lines = [`  ${plan.repository}`];
  for (const digest of plan.digests) {
    const tags = plan.candidates.filter((c) => c.digest === digest).map((c) => c.tag);
    lines.push(`    ${verb} ${short(digest)}  tags ${tags.join(', ')}`);
  }
  for (const digest of plan.untagged) lines.push(`    ${verb} ${short(digest)}  untagged`);
  for (const kept of plan.kept)
    lines.push(`    keep ${kept.tag} (${short(kept.digest)}): ${kept.keptBy.length > 0 ? kept.keptBy.join(', ') : (kept.reason ?? '')}`);
  for (const kept of plan.keptUntagged) lines.push(`    keep ${short(kept.digest)} untagged: ${kept.reason}`);
  return lines;
}

function headline({ policy, run }: PolicyRun): string {
  const s = run.summary;
  const name = `RetentionPolicy ${policy.metadata.namespace ?? ''}/${policy.metadata.name}`;
  const mode = s.dryRun ? 'dry run' : 'run';
  const counts = `${s.repositories} repositories, ${s.tagsSeen} tags, ${s.candidates} manifests to delete, ${s.deleted} deleted`;
  const bytes = s.bytesFreed === undefined ? '' : `, ${s.bytesFreed} bytes ${s.dryRun ? 'would be ' : ''}freed`;
  return `${name} (${mode}): ${s.result}: ${counts}${bytes}`;
}

export function formatText(runs: readonly PolicyRun[]): string {
  const out: string[] = [];
  for (const entry of runs) {
    out.push(headline(entry));
    const { plan, summary } = entry.run;
    if (plan?.result === 'CapExceeded') {
      out.push(
        `  ${plan.selected} manifests selected, more than maxDeletionsPerRun ${plan.maxDeletions}: nothing was deleted (check the patterns, or raise the cap)`,
      );
      // Which repositories filled the cap: one tenant's thousands of tags can hold up a policy over many.
      const most = plan.repositories
        .map((r) => ({ repository: r.repository, selected: r.digests.length + r.untagged.length }))
        .filter((r) => r.selected > 0)
        .sort((a, b) => b.selected - a.selected || a.repository.localeCompare(b.repository))
        .slice(0, 3);
      out.push(`  most selected in: ${most.map((r) => `${r.repository} (${r.selected})`).join(', ')}`);
    }
    for (const repository of plan?.repositories ?? []) out.push(...repositoryLines(repository, summary.dryRun));
    if ((summary.leftAlone ?? []).length > 0) out.push('  left alone this run:', ...(summary.leftAlone ?? []).map((e) => `    ${e}`));
    if (summary.errors.length > 0) out.push('  errors:', ...summary.errors.map((e) => `    ${e}`));
  }
  return `${out.join('\n')}\n`;
}

export function formatJson(runs: readonly PolicyRun[]): string {
  const items = runs.map(({ policy, run }) => ({
    policy: { namespace: policy.metadata.namespace, name: policy.metadata.name },
    summary: run.summary,
    ...(run.plan === undefined
      ? {}
      : { result: run.plan.result, maxDeletions: run.plan.maxDeletions, deletions: run.plan.deletions, repositories: run.plan.repositories }),
    deleted: run.execution?.deleted ?? [],
  }));
  return `${JSON.stringify({ runs: items }, null, 2)}\n`;
}
