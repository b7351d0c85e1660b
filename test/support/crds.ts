// The CRDs an operator test needs, applied to a test control plane and waited on until Established.
import { kubectl, type ControlPlane } from '../../local/controlPlane.js';

const CRDS = ['registries', 'registryusers', 'repositorygrants', 'retentionpolicies'];

export async function applyOperatorCrds(cp: Pick<ControlPlane, 'kubeconfigPath'>): Promise<void> {
  for (const args of [
    ['apply', ...CRDS.flatMap((name) => ['-f', `crds/${name}.yaml`])],
    ['wait', '--for=condition=Established', '--timeout=60s', ...CRDS.map((name) => `crd/${name}.portcullis.dev`)],
  ]) {
    const r = await kubectl(cp, args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  }
}
