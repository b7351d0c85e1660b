// `portcullis retention --registry NS/NAME [-n NAMESPACE] [--policy NAME] [--dry-run] [--server URL]
// [--ca-file F] [-o text|json]`: runs the RetentionPolicies of NAMESPACE (default the Registry's) that
// reference the Registry, or only --policy, through the same admin path as `portcullis delete`: registry
// tokens from the cluster scoped to the repositories each policy covers (pull for a dry run,
// pull,delete otherwise), the activity trail for push times. Each run is written to the policy's
// status (lastRun and the LastRunSucceeded condition). Exits 1 when a run is CapExceeded or Failed.

import type { Command } from 'commander';
import type { Condition, RetentionPolicyResource, RetentionRunSummary } from '../../crds/types.js';
import { KubeStatusSink, RETENTION_POLICIES } from '../../lifecycle/kube-status.js';
import { KubeTrail } from '../../lifecycle/kube-trail.js';
import { runRetention } from '../../lifecycle/runner.js';
import type { TokenSource } from '../../lifecycle/sources.js';
import { collectionPath, objectPath, type KubeClient } from '../../kube/request.js';
import { ConditionTypes, Reasons } from '../../policy/reasons.js';
import { runAdmin, withRegistryFlags, type AdminFlags } from '../admin/command.js';
import { AdminError, obtainRegistryToken, registryTarget, serverSaid, type RegistryTarget } from '../admin/registry-session.js';
import { formatJson, formatText, type PolicyRun } from './retention-output.js';

/** How many of a run's errors status.lastRun keeps. */
const STATUS_ERRORS = 50;

interface RetentionFlags extends AdminFlags {
  policy?: string;
  dryRun: boolean;
  output: string;
}

function kubeTokens(client: KubeClient, target: RegistryTarget): TokenSource {
  return {
    async token(scopes) {
      const status = await obtainRegistryToken(client, target, [...scopes]);
      return {
        token: status.token,
        expiresAt: new Date(status.expirationTimestamp),
        access: status.access,
        withheld: status.withheld,
        service: status.service,
      };
    },
  };
}

/** The policies to run: --policy, or every policy of the namespace referencing the Registry (suspended ones aside). */
async function policiesToRun(client: KubeClient, target: RegistryTarget, name: string | undefined): Promise<RetentionPolicyResource[]> {
  const [registryNamespace, registryName] = target.registry.split('/') as [string, string];
  const references = (p: RetentionPolicyResource): boolean =>
    p.spec.registryRef.name === registryName && (p.spec.registryRef.namespace ?? p.metadata.namespace) === registryNamespace;
  if (name !== undefined) {
    const policy = await client.get<RetentionPolicyResource>(objectPath(RETENTION_POLICIES, target.namespace, name));
    if (!references(policy))
      throw new AdminError(
        `RetentionPolicy ${target.namespace}/${name} is for Registry ${policy.spec.registryRef.namespace ?? target.namespace}/${policy.spec.registryRef.name}, not ${target.registry}`,
      );
    return [policy];
  }
  const list = await client.get<{ items: RetentionPolicyResource[] }>(collectionPath(RETENTION_POLICIES, target.namespace));
  const policies = list.items.filter((p) => references(p) && p.spec.suspend !== true).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  if (policies.length === 0)
    throw new AdminError(
      `no RetentionPolicy in namespace ${target.namespace} references Registry ${target.registry} (suspended ones are run only with --policy)`,
    );
  return policies;
}

export function lastRunCondition(summary: RetentionRunSummary): Condition {
  const what = summary.dryRun ? `dry run: ${summary.candidates} manifests would be deleted` : `${summary.deleted} of ${summary.candidates} manifests deleted`;
  if (summary.result === 'Succeeded') return { type: ConditionTypes.LastRunSucceeded, status: 'True', reason: Reasons.RetentionSucceeded, message: what };
  const reason = summary.result === 'CapExceeded' ? Reasons.CapExceeded : Reasons.RetentionFailed;
  const detail = summary.result === 'CapExceeded' ? 'more than maxDeletionsPerRun selected; nothing deleted' : (summary.errors[0] ?? 'failed');
  return { type: ConditionTypes.LastRunSucceeded, status: 'False', reason, message: `${what}; ${detail}`.slice(0, 1000) };
}

export function register(program: Command): void {
  withRegistryFlags(
    program
      .command('retention')
      .description("run a Registry's RetentionPolicies with your Kubernetes permissions (RBAC: ClusterRole portcullis-retention)")
      .option('--policy <name>', 'run only this RetentionPolicy (even if suspended)')
      .option('--dry-run', "report what would be deleted and delete nothing, whatever the policy's spec.dryRun says", false)
      .option('-o, --output <format>', 'text or json', 'text'),
  ).action(async (flags: RetentionFlags) => {
    await runAdmin(program, 'retention', async (client) => {
      if (flags.output !== 'text' && flags.output !== 'json') throw new AdminError(`--output must be text or json, not ${JSON.stringify(flags.output)}`);
      const target = registryTarget(flags);
      const ca = flags.caFile === undefined ? undefined : await import('node:fs/promises').then((fs) => fs.readFile(flags.caFile as string));
      const endpoint = { ...(flags.server === undefined ? {} : { server: flags.server.replace(/\/$/, '') }), ...(ca ? { ca } : {}) };
      const status = new KubeStatusSink(client);
      const runs: PolicyRun[] = [];
      for (const policy of await policiesToRun(client, target, flags.policy)) {
        const run = await runRetention({
          policy,
          registry: target.registry,
          endpoint,
          tokens: kubeTokens(client, target),
          trail: new KubeTrail(client, target.namespace, target.registry),
          dryRun: flags.dryRun || policy.spec.dryRun !== false,
        });
        try {
          // The status is an etcd object: the first errors, as the sample holds the first candidates.
          const lastRun = { ...run.summary, errors: run.summary.errors.slice(0, STATUS_ERRORS) };
          await status.record({ namespace: target.namespace, name: policy.metadata.name }, lastRun, lastRunCondition(run.summary));
        } catch (error) {
          run.summary.errors.push(
            `the run's status could not be written to RetentionPolicy ${target.namespace}/${policy.metadata.name}: ${serverSaid(error as Error)}`,
          );
          run.summary.result = 'Failed';
        }
        runs.push({ policy, run });
      }
      process.stdout.write(flags.output === 'json' ? formatJson(runs) : formatText(runs));
      const failed = runs.filter((r) => r.run.summary.result !== 'Succeeded');
      if (failed.length > 0) {
        throw new AdminError(failed.map((r) => `RetentionPolicy ${target.namespace}/${r.policy.metadata.name}: ${r.run.summary.result}`).join('; '));
      }
    });
  });
}
