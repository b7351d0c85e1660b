// `portcullis keys rotate REGISTRY [--ca] [--emergency] [-n NAMESPACE]`: asks the operator to rotate now,
// by setting the `portcullis.dev/rotate` annotation on the Registry (the operator clears it once acted on).

import { loadKubeConfig } from '../../kube/config.js';
import { DEFAULT_NAMESPACE } from '../../policy/object-keys.js';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Command } from 'commander';
import { isNotFound, KubeClient, MERGE_PATCH, objectPath, Resources } from '../../kube/request.js';
import { Annotations } from '../../wire/labels.js';
import type { RotationRequest } from '../../policy/rotation.js';

export function rotationRequestFor(options: { ca: boolean; emergency: boolean }): RotationRequest {
  if (options.emergency) return 'ca-emergency';
  return options.ca ? 'ca' : 'keys';
}

export async function requestRotation(kc: KubeConfig, namespace: string, name: string, request: RotationRequest): Promise<void> {
  const client = new KubeClient(kc);
  try {
    await client.request('PATCH', objectPath(Resources.registries, namespace, name), {
      body: { metadata: { annotations: { [Annotations.rotate]: request } } },
      contentType: MERGE_PATCH,
    });
  } finally {
    client.close();
  }
}

export function register(keysCommand: Command): void {
  keysCommand
    .command('rotate')
    .description("ask the operator to rotate a Registry's signing key now (--ca: its CA, with overlap; --emergency: the CA at once)")
    .argument('<registry>', 'name of the Registry')
    .option('-n, --namespace <namespace>', "the Registry's namespace (default: the kubeconfig context's, else default)")
    .option('--ca', 'rotate the CA: stage a new CA, roll the registry to trust both, switch keys, then drop the old CA', false)
    .option('--emergency', 'with a compromised CA or signing key: trust only a new CA at once (clients may see brief failures)', false)
    .action(async (registry: string, opts: { namespace?: string; ca: boolean; emergency: boolean }) => {
      // Loaded when run, so other commands do not pay for client-node's config module.
      const kc = await loadKubeConfig();
      const namespace = opts.namespace || kc.getContextObject(kc.getCurrentContext())?.namespace || DEFAULT_NAMESPACE;
      const request = rotationRequestFor(opts);
      try {
        await requestRotation(kc, namespace, registry, request);
      } catch (error) {
        if (isNotFound(error)) keysCommand.error(`keys rotate: Registry ${namespace}/${registry} not found`);
        keysCommand.error(`keys rotate: ${(error as Error).message}`);
      }
      process.stdout.write(`requested ${request} rotation of Registry ${namespace}/${registry}; watch its status.signing and Events\n`);
    });
}
