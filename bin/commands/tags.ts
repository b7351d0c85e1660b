// `portcullis tags REPOSITORY --registry NS/NAME [-n NAMESPACE] [--server URL] [--ca-file F]`: a
// repository's tags, with a registry token from the cluster carrying pull on that repository only.

import type { Command } from 'commander';
import { isRepositoryName } from '../../policy/scope.js';
import { runAdmin, withRegistryFlags, type AdminFlags } from '../admin/command.js';
import { distributionClient, obtainRegistryToken, registryTarget } from '../admin/registry-session.js';

export function register(program: Command): void {
  withRegistryFlags(
    program
      .command('tags')
      .description("list a repository's tags with your Kubernetes permissions (RBAC on registryimages)")
      .argument('<repository>', 'the repository, e.g. team-a/app'),
  ).action(async (repository: string, flags: AdminFlags) => {
    await runAdmin(program, 'tags', async (client) => {
      const target = registryTarget(flags);
      if (!isRepositoryName(repository)) throw new Error(`${JSON.stringify(repository)} is not a repository name`);
      const token = await obtainRegistryToken(client, target, [`repository:${repository}:pull`]);
      const registry = await distributionClient(flags, token);
      try {
        const tags = await registry.tags(repository);
        process.stdout.write(tags.map((t) => `${t}\n`).join(''));
      } finally {
        registry.close();
      }
    });
  });
}
