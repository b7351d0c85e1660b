// Reading and writing one Registry's signing material: the CA Secret (the CAs with their private keys;
// operator-only), the signing Secret (what token servers sign with) and the bundle ConfigMap (what the
// registry trusts), plus the Registry and its Deployment. Read fresh for every reconcile (the informers
// are only triggers), written by server-side apply under the Registry as owner.

import type { RegistryResource } from '../../../crds/types.js';
import { getIfExists, objectPath, Resources, type KubeClient } from '../../../kube/request.js';
import { KEY_FILES } from '../../../wire/files.js';
import { Annotations, Labels, MANAGED_BY } from '../../../wire/labels.js';
import { bundleConfigMapName, caSecretName, signingSecretName } from '../../../wire/names.js';
import { parseSigningKeySet, type SigningKeySet } from '../../../wire/signing-key-set.js';
import { bundleHash, emptyKeySet, parseCAs, serializeCAs, type Changed, type Material } from '../../signing/material.js';
import { applyObject, controllerReference, type AppliedObject } from '../../writes/apply.js';
import { getDeployment, type Deployment } from '../deployment.js';

/** What one reconcile works on; `material`, `registry` and `deployment` are replaced as it writes. */
export interface Observed {
  registry: RegistryResource;
  material: Material;
  deployment?: Deployment;
}

const decode = (v: string | undefined): string | undefined => (v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8'));
const encode = (v: string): string => Buffer.from(v, 'utf8').toString('base64');

/** The Registry and its material as the API server has them now; undefined when the Registry is gone. */
export async function observe(client: KubeClient, namespace: string, name: string): Promise<Observed | undefined> {
  const registry = await getIfExists<RegistryResource>(client, objectPath(Resources.registries, namespace, name));
  if (registry === undefined) return undefined;
  const [caSecret, signingSecret, bundle] = await Promise.all([
    getIfExists<{ data?: Record<string, string> }>(client, objectPath(Resources.secrets, namespace, caSecretName(name))),
    getIfExists<{ data?: Record<string, string> }>(client, objectPath(Resources.secrets, namespace, signingSecretName(name))),
    getIfExists<{ data?: Record<string, string> }>(client, objectPath(Resources.configMaps, namespace, bundleConfigMapName(name))),
  ]);
  const deploymentName = registry.spec.distribution?.deployment;
  const deployment = deploymentName === undefined ? undefined : await getDeployment(client, namespace, deploymentName);
  const signingText = decode(signingSecret?.data?.[KEY_FILES.signing]);
  // A malformed set is an error (retried with backoff) rather than replaced: replacing it would throw away keys in use.
  const signing: SigningKeySet = signingText === undefined ? emptyKeySet() : parseSigningKeySet(signingText);
  const material: Material = { cas: parseCAs(decode(caSecret?.data?.[KEY_FILES.cas])), signing, bundlePem: bundle?.data?.[KEY_FILES.bundle] ?? '' };
  return { registry, material, ...(deployment ? { deployment } : {}) };
}

function owned(registry: RegistryResource, name: string): AppliedObject['metadata'] {
  return {
    name,
    namespace: registry.metadata.namespace as string,
    labels: { [Labels.registry]: registry.metadata.name, [Labels.managedBy]: MANAGED_BY },
    ownerReferences: [controllerReference(registry)],
  };
}

/** Writes the changed objects; the CA Secret first, so no published key or bundle names a CA the operator does not hold. */
export async function writeMaterial(client: KubeClient, observed: Observed, changed: readonly Changed[]): Promise<void> {
  const { registry, material } = observed;
  const name = registry.metadata.name;
  if (changed.includes('cas')) {
    await applyObject(client, Resources.secrets, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: owned(registry, caSecretName(name)),
      type: 'Opaque',
      data: { [KEY_FILES.cas]: encode(serializeCAs(material.cas)) },
    });
  }
  if (changed.includes('signing')) {
    await applyObject(client, Resources.secrets, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: owned(registry, signingSecretName(name)),
      type: 'Opaque',
      data: { [KEY_FILES.signing]: encode(`${JSON.stringify(material.signing, null, 2)}\n`) },
    });
  }
  if (changed.includes('bundle')) {
    const metadata = owned(registry, bundleConfigMapName(name));
    metadata.annotations = { [Annotations.bundleHash]: bundleHash(material.bundlePem) };
    await applyObject(client, Resources.configMaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: { [KEY_FILES.bundle]: material.bundlePem } });
  }
}
