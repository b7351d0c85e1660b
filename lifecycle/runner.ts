// One run of a RetentionPolicy: find the repositories it covers (the catalog in the Registry's own
// namespace, the activity trail in a delegated one), read each (lifecycle/inventory.ts), plan
// (policy/retention/plan.ts, pure), and, unless it is a dry run, the cap is exceeded or anything could
// not be read, delete what the plan says. Tokens, trail and clock come in as parameters: the CLI passes
// the cluster's, the bench its own.

import type { RetentionPolicyResource, RetentionRunSummary } from '../crds/types.js';
import { planRetention, type RepositoryInventory, type RetentionPlan } from '../policy/retention/plan.js';
import { scopeCovers } from '../policy/retention/tenancy.js';
import { NAMESPACE_VAR, substituteNamespace } from '../policy/match.js';
import { bytesFreed } from './bytes-freed.js';
import { executeDeletions, type Execution } from './executor.js';
import { readRepository } from './inventory.js';
import { Limiter, mapLimit } from './pool.js';
import { ScopedRegistry, type RegistryEndpoint } from './scoped-registry.js';
import type { ManifestPush, TokenSource, TrailSource } from './sources.js';

/** Registry requests in flight at once, unless told otherwise. */
export const DEFAULT_CONCURRENCY = 16;
/** How many candidates status.lastRun names. */
const SAMPLE_SIZE = 50;

export interface RetentionRunOptions {
  policy: RetentionPolicyResource;
  /** "namespace/name" of the Registry. */
  registry: string;
  endpoint: RegistryEndpoint;
  tokens: TokenSource;
  trail: TrailSource;
  /** Forced by `--dry-run`; otherwise spec.dryRun, which defaults to true. */
  dryRun: boolean;
  concurrency?: number;
  now?: () => Date;
}

export interface RetentionRun {
  summary: RetentionRunSummary;
  /** Absent when the run failed before planning. */
  plan?: RetentionPlan;
  execution?: Execution;
  /** Registry API requests the run sent. */
  requests: number;
}

/** The policy's patterns as written, with `${namespace}` replaced: what a literal pattern names is a repository. */
function patternsOf(policy: RetentionPolicyResource): string[] {
  return policy.spec.repositories.map((p) => substituteNamespace(p, policy.metadata.namespace ?? ''));
}

const isLiteral = (pattern: string): boolean => !pattern.split('/').some((s) => s === '*' || s === '**' || s.startsWith('${'));

async function repositoriesOf(options: RetentionRunOptions, home: boolean, registry: ScopedRegistry): Promise<string[]> {
  const patterns = patternsOf(options.policy);
  const covers = scopeCovers({ registry: options.registry, home, patterns });
  let names: string[];
  if (home) names = await (await registry.catalogClient()).catalog();
  // A delegated namespace gets no catalog: its trail, plus what its patterns name outright (asked for by
  // name, so a pattern outside the namespace's prefixes is refused by the token's issuer, not skipped).
  else names = [...(await options.trail.repositoriesSeen()), ...patterns.filter(isLiteral)];
  return [...new Set(names)].filter(covers).sort();
}

function summaryOf(
  start: Date,
  end: Date,
  dryRun: boolean,
  plan: RetentionPlan | undefined,
  execution: Execution | undefined,
  errors: string[],
  leftAlone: string[],
  bytes?: number,
): RetentionRunSummary {
  const sample = (plan?.repositories ?? [])
    .flatMap((r) => [...r.candidates.map((c) => `${r.repository}:${c.tag}@${c.digest}`), ...r.untagged.map((d) => `${r.repository}@${d}`)])
    .slice(0, SAMPLE_SIZE);
  const result = errors.length > 0 ? 'Failed' : plan?.result === 'CapExceeded' ? 'CapExceeded' : 'Succeeded';
  return {
    startTime: start.toISOString(),
    completionTime: end.toISOString(),
    dryRun,
    result,
    repositories: plan?.repositories.length ?? 0,
    tagsSeen: plan?.tagsSeen ?? 0,
    candidates: plan?.selected ?? 0,
    deleted: execution?.deleted.length ?? 0,
    keptByRule: { ...(plan?.keptByRule ?? {}) },
    ...(bytes === undefined ? {} : { bytesFreed: bytes }),
    sample,
    errors,
    ...(leftAlone.length === 0 ? {} : { leftAlone: leftAlone.slice(0, SAMPLE_SIZE) }),
  };
}

export async function runRetention(options: RetentionRunOptions): Promise<RetentionRun> {
  const now = options.now ?? (() => new Date());
  const start = now();
  const namespace = options.policy.metadata.namespace ?? '';
  const home = options.registry.split('/')[0] === namespace;
  const registry = new ScopedRegistry(options.endpoint, options.tokens, options.dryRun ? ['pull'] : ['pull', 'delete'], now);
  const limiter = new Limiter(options.concurrency ?? DEFAULT_CONCURRENCY);
  const errors: string[] = [];
  const leftAlone: string[] = [];
  try {
    if (options.policy.spec.repositories.some((p) => p.includes(NAMESPACE_VAR) && namespace === '')) throw new Error('the policy has no namespace');
    const repositories = await repositoriesOf(options, home, registry);
    registry.cover(repositories);
    const history = await options.trail.pushes(repositories);
    const pushesOf = new Map<string, ManifestPush[]>();
    for (const push of history.pushes) {
      const list = pushesOf.get(push.repository);
      if (list === undefined) pushesOf.set(push.repository, [push]);
      else list.push(push);
    }

    const read = await mapLimit(repositories, options.concurrency ?? DEFAULT_CONCURRENCY, async (name) => {
      // Left out of the plan, not a failure of the run: deletions are decided per repository, and one
      // repository's long trail (a tenant's thousands of pushes) must not stop the owner's run everywhere.
      if (history.truncated.has(name)) {
        leftAlone.push(`${name}: the activity trail returned only its newest pushes, so the age of older manifests is unknown`);
        return undefined;
      }
      try {
        return await readRepository(await registry.client(name), limiter, name, pushesOf.get(name) ?? []);
      } catch (error) {
        errors.push(`${name}: ${(error as Error).message}`);
        return undefined;
      }
    });
    const inventories = new Map(read.filter((r): r is RepositoryInventory => r !== undefined).map((r) => [r.name, r]));
    const plan = planRetention(options.policy.spec, [...inventories.values()], start);

    let bytes: number | undefined;
    if (plan.result === 'Planned') {
      const freed = await Promise.all(
        plan.repositories.map(async (p) => {
          const inventory = inventories.get(p.repository);
          if (inventory === undefined || p.digests.length + p.untagged.length === 0) return { bytes: 0, unknown: 0 };
          return bytesFreed(await registry.client(p.repository), limiter, inventory, p);
        }),
      );
      bytes = freed.reduce((n, f) => n + f.bytes, 0);
    }

    let execution: Execution | undefined;
    if (!options.dryRun && errors.length === 0 && plan.result === 'Planned') {
      execution = await executeDeletions(registry, plan.deletions, inventories);
      if (execution.stoppedBy !== undefined) errors.push(execution.stoppedBy);
      // Freed is what was deleted: a run stopped half way freed less than planned.
      if (execution.stoppedBy !== undefined) bytes = undefined;
    }
    return {
      summary: summaryOf(start, now(), options.dryRun, plan, execution, errors, leftAlone, bytes),
      plan,
      ...(execution ? { execution } : {}),
      requests: registry.requests,
    };
  } catch (error) {
    errors.push((error as Error).message);
    return { summary: summaryOf(start, now(), options.dryRun, undefined, undefined, errors, leftAlone), requests: registry.requests };
  } finally {
    registry.close();
  }
}
