// Where a component's Kubernetes connection and its own namespace come from: KUBECONFIG (or
// ~/.kube/config) outside a cluster, the ServiceAccount mount inside one.

import { readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_NAMESPACE } from '../policy/object-keys.js';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * The kubeconfig from KUBECONFIG, ~/.kube/config or the in-cluster ServiceAccount. client-node is
 * imported here, when asked for: its config module alone is ~70 MB of RSS, which commands that never
 * talk to a cluster should not carry.
 */
export async function loadKubeConfig(): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

/** This pod's namespace: POD_NAMESPACE, else the ServiceAccount mount, else `default`. */
export function podNamespace(): string {
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() || DEFAULT_NAMESPACE;
  } catch {
    return DEFAULT_NAMESPACE;
  }
}
