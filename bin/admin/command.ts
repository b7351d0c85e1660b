// What the three admin commands share: their flags, the Kubernetes client from the caller's kubeconfig,
// and one way to report a failure (the sentence, on stderr, exit 1).

import type { Command } from 'commander';
import type { KubeClient } from '../../kube/request.js';
import { RegistryError } from '../../lifecycle/registry-api.js';
import { AdminError, serverSaid, type RegistryFlags } from './registry-session.js';

/** --registry, --namespace, --server, --ca-file. */
export function withRegistryFlags(command: Command): Command {
  return command
    .requiredOption('--registry <namespace/name>', 'the Registry')
    .option('-n, --namespace <namespace>', "ask as this namespace (default: the Registry's); a delegated namespace reaches its own prefixes only")
    .option('--server <url>', "the registry's URL (default: https:// and the Registry's spec.service)")
    .option('--ca-file <file>', "PEM of the CA the registry's certificate chains to (default: the system's trust)");
}

export type AdminFlags = RegistryFlags;

/** What a registry code usually means for these commands. */
function hint(error: RegistryError): string {
  if (error.code === 'UNSUPPORTED') return '\n  the registry has deletion turned off (storage.delete.enabled: false)';
  if (error.code === 'UNAUTHORIZED' || error.code === 'DENIED')
    return "\n  the registry did not accept the token for this: is --server the Registry's own registry (its service and signing CA)?";
  return '';
}

/**
 * Runs `work` with a client for the caller's kubeconfig (KUBECONFIG or ~/.kube/config, as kubectl reads
 * it); any failure becomes `portcullis NAME: sentence` and exit 1.
 */
export async function runAdmin(program: Command, name: string, work: (client: KubeClient) => Promise<void>): Promise<void> {
  // Loaded when run, so other commands do not pay for client-node's config module.
  const [{ loadKubeConfig }, { KubeApiError, KubeClient }] = await Promise.all([import('../../kube/config.js'), import('../../kube/request.js')]);
  let client: KubeClient | undefined;
  try {
    client = new KubeClient(await loadKubeConfig());
    await work(client);
  } catch (error) {
    if (error instanceof RegistryError) program.error(`${name}: the registry refused: ${error.message}${hint(error)}`);
    if (error instanceof KubeApiError) program.error(`${name}: ${serverSaid(error)}`);
    if (error instanceof AdminError) program.error(`${name}: ${error.message}`);
    program.error(`${name}: ${(error as Error).message}`);
  } finally {
    client?.close();
  }
}
