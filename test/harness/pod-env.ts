// A container's environment as the kubelet resolves it for the test's stand-ins (kubelet.ts,
// collector-jobs.ts): plain values as they are, `valueFrom.secretKeyRef` read from the Secret in the
// pod's namespace (base64-decoded, as the kubelet does). A missing Secret or key fails the "pod", as
// CreateContainerConfigError would; other valueFrom sources (fieldRef, configMapKeyRef, ...) are left
// out, since nothing the operator writes uses them.
import { objectPath, Resources, type KubeClient } from '../../kube/request.js';

export interface EnvEntry {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}

export async function resolvePodEnv(
  client: KubeClient,
  namespace: string,
  env: EnvEntry[],
  wanted: (name: string) => boolean = () => true,
): Promise<Record<string, string>> {
  const secrets = new Map<string, Record<string, string> | undefined>();
  const out: Record<string, string> = {};
  for (const e of env) {
    if (!wanted(e.name)) continue;
    if (e.value !== undefined) {
      out[e.name] = e.value;
      continue;
    }
    const ref = e.valueFrom?.secretKeyRef;
    if (ref === undefined) continue;
    if (!secrets.has(ref.name)) {
      const secret = await client.get<{ data?: Record<string, string> }>(objectPath(Resources.secrets, namespace, ref.name));
      secrets.set(ref.name, secret.data);
    }
    const encoded = secrets.get(ref.name)?.[ref.key];
    if (encoded === undefined) {
      if (ref.optional) continue;
      // Names the Secret and key only: the values are secrets.
      throw new Error(`env ${e.name}: Secret ${namespace}/${ref.name} has no key ${ref.key}`);
    }
    out[e.name] = Buffer.from(encoded, 'base64').toString('utf8');
  }
  return out;
}
