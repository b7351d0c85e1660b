// `portcullis images --registry NS/NAME [-n NAMESPACE] [--server URL] [--ca-file F]`: the repositories
// of a Registry, with a registry token from the cluster (no registry password). In the Registry's own
// namespace that is the catalog; a delegated namespace is never given the catalog (it lists every
// repository, beyond the namespace's prefixes), so there the repositories its activity trail has seen
// are listed instead, and the command says so.

import type { Command } from 'commander';
import { runAdmin, withRegistryFlags, type AdminFlags } from '../admin/command.js';
import { distributionClient, obtainRegistryToken, registryTarget } from '../admin/registry-session.js';
import { repositoriesSeen } from '../admin/trail.js';

export function register(program: Command): void {
  withRegistryFlags(program.command('images').description("list a Registry's repositories with your Kubernetes permissions (RBAC on registryimages)")).action(
    async (flags: AdminFlags) => {
      await runAdmin(program, 'images', async (client) => {
        const target = registryTarget(flags);
        let repositories: string[];
        if (target.home) {
          const token = await obtainRegistryToken(client, target, ['registry:catalog:*']);
          const registry = await distributionClient(flags, token);
          try {
            repositories = await registry.catalog();
          } finally {
            registry.close();
          }
        } else {
          process.stderr.write(
            `namespace ${target.namespace} is delegated by Registry ${target.registry}: the catalog lists every repository of the registry, ` +
              'so a delegated namespace is not given it. The repositories under its prefixes seen in the activity trail:\n',
          );
          repositories = await repositoriesSeen(client, target);
        }
        process.stdout.write(repositories.map((r) => `${r}\n`).join(''));
      });
    },
  );
}
