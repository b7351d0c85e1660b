// `portcullis delete REPOSITORY:TAG|REPOSITORY@DIGEST --registry NS/NAME [-n NAMESPACE] [--server URL]
// [--ca-file F] [--force] [--yes]`: deletes an image with a registry token from the cluster (RBAC:
// delete on registryimages in the namespace).
//
// Distribution deletes manifests by digest, and deleting a digest removes every tag pointing at it.
// Distribution v3 can also delete a tag alone (DELETE /v2/NAME/manifests/TAG), which is tried first for
// a tag; 2.8 answers that with DIGEST_INVALID, and then the digest is deleted — refused without --force
// when other tags share it, naming them. Before anything is deleted, the activity trail is asked who
// pulled the digest in the last 15 minutes: a pull by anyone else refuses without --force, naming who
// and when.

import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { runAdmin, withRegistryFlags, type AdminFlags } from '../admin/command.js';
import { deleteWarnings, parseImageReference, sharedTagWarning, type DeleteFindings } from '../admin/delete-plan.js';
import { RegistryError, type DistributionClient } from '../../lifecycle/registry-api.js';
import { AdminError, distributionClient, missingAction, obtainRegistryToken, registryTarget, serverSaid, subjectOf } from '../admin/registry-session.js';
import { RECENT_PULL_WINDOW, recentPullsByOthers } from '../admin/trail.js';

interface DeleteFlags extends AdminFlags {
  force: boolean;
  yes: boolean;
}

/** The tags of `repository` other than `except` that point at `digest` (HEAD each, eight at a time). */
async function tagsPointingAt(registry: DistributionClient, repository: string, digest: string, except?: string): Promise<string[]> {
  const tags = (await registry.tags(repository)).filter((t) => t !== except);
  const sharing: string[] = [];
  for (let i = 0; i < tags.length; i += 8) {
    const batch = tags.slice(i, i + 8);
    const digests = await Promise.all(batch.map((t) => registry.digest(repository, t).catch(() => undefined)));
    batch.forEach((t, j) => digests[j] === digest && sharing.push(t));
  }
  return sharing.sort();
}

/** Refuses with every warning unless --force; with --force, says what is being overridden. */
function proceedOrRefuse(warnings: string[], force: boolean): void {
  if (warnings.length === 0) return;
  if (!force) throw new AdminError(`refused; nothing was deleted (--force deletes anyway):\n${warnings.map((w) => `  - ${w}`).join('\n')}`);
  for (const w of warnings) process.stderr.write(`warning: ${w} (deleting anyway: --force)\n`);
}

async function confirm(question: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) throw new AdminError(`${question} Not asked: stdin is not a terminal; pass --yes`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    if (!/^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim())) throw new AdminError('not deleted');
  } finally {
    rl.close();
  }
}

/** 2.8 reads the reference of a manifest DELETE as a digest only. */
const tagDeleteUnsupported = (error: unknown): boolean => error instanceof RegistryError && error.status === 400 && error.code === 'DIGEST_INVALID';

export function register(program: Command): void {
  withRegistryFlags(
    program
      .command('delete')
      .description('delete an image (a tag or a digest) with your Kubernetes permissions (RBAC: delete on registryimages)')
      .argument('<reference>', 'REPOSITORY:TAG or REPOSITORY@DIGEST')
      .option('--force', 'delete even when other tags share the digest or someone else pulled it in the last 15 minutes', false)
      .option('-y, --yes', 'do not ask for confirmation', false),
  ).action(async (text: string, flags: DeleteFlags) => {
    await runAdmin(program, 'delete', async (client) => {
      const target = registryTarget(flags);
      const reference = parseImageReference(text);
      const { repository } = reference;
      const token = await obtainRegistryToken(client, target, [`repository:${repository}:pull,delete`]);
      // Refused here, before the registry is touched: the token would be refused there anyway.
      const missing = missingAction(token, repository, 'delete') ?? missingAction(token, repository, 'pull');
      if (missing !== undefined) throw new AdminError(`refused: ${missing}`);
      const registry = await distributionClient(flags, token);
      try {
        const digest = reference.digest ?? (await registry.digest(repository, reference.tag));
        const findings: DeleteFindings = { reference, digest, sharedTags: [], recentPulls: [], window: RECENT_PULL_WINDOW };
        try {
          findings.recentPulls = await recentPullsByOthers(client, target, repository, digest, subjectOf(token.token));
        } catch (error) {
          findings.trailUnreadable = serverSaid(error as Error);
        }
        if (reference.tag === undefined) findings.sharedTags = await tagsPointingAt(registry, repository, digest);
        proceedOrRefuse(deleteWarnings(findings, reference.tag === undefined), flags.force);
        await confirm(`Delete ${text} (${digest}) from Registry ${target.registry}?`, flags.yes);
        if (reference.tag !== undefined) {
          try {
            await registry.deleteManifest(repository, reference.tag);
            process.stdout.write(`deleted tag ${repository}:${reference.tag}; the manifest ${digest} stays, with any other tags\n`);
            return;
          } catch (error) {
            if (!tagDeleteUnsupported(error)) throw error;
          }
          process.stderr.write(
            `this registry deletes manifests by digest only (Distribution 2.8): deleting ${repository}@${digest}, with every tag pointing at it\n`,
          );
          findings.sharedTags = await tagsPointingAt(registry, repository, digest, reference.tag);
          proceedOrRefuse(
            [sharedTagWarning(findings)].filter((w): w is string => w !== undefined),
            flags.force,
          );
        }
        await registry.deleteManifest(repository, digest);
        const gone = [...(reference.tag === undefined ? [] : [reference.tag]), ...findings.sharedTags];
        process.stdout.write(`deleted ${repository}@${digest}${gone.length === 0 ? '' : ` and its tags ${gone.join(', ')}`}\n`);
      } finally {
        registry.close();
      }
    });
  });
}
