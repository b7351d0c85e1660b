// The small policy the token-server e2e tests compile: Registry `main`, ann in group devs with her password
// in a Secret, the devs' grant on team/* and optionally one on ship/*. The tests change it to prove what a
// reload does. compileAnnPolicy writes it and `portcullis compile`s it to DIR/snapshot, as a user would.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { portcullis } from './portcullis.js';

export interface AnnPolicy {
  password: string;
  /** What the devs' grant on team/* allows. */
  devsActions: string[];
  /** Whether the devs may also pull ship/*. */
  shipGrant: boolean;
}

export function annPolicy(service: string, change: AnnPolicy): string {
  return `apiVersion: portcullis.dev/v1alpha1
kind: Registry
metadata: {name: main, namespace: registry}
spec: {service: ${service}, tokenTTL: 5m}
---
apiVersion: v1
kind: Secret
metadata: {name: ann-password, namespace: registry}
stringData: {password: ${change.password}}
---
apiVersion: portcullis.dev/v1alpha1
kind: RegistryUser
metadata: {name: ann, namespace: registry}
spec: {registryRef: {name: main}, passwordSecretRef: {name: ann-password}, groups: [devs]}
---
apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: devs, namespace: registry}
spec: {registryRef: {name: main}, subjects: [{kind: Group, name: devs}], repositories: ['team/*'], actions: [${change.devsActions.join(', ')}]}
${
  change.shipGrant
    ? `---
apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: ship, namespace: registry}
spec: {registryRef: {name: main}, subjects: [{kind: Group, name: devs}], repositories: ['ship/*'], actions: [pull]}
`
    : ''
}`;
}

/** Writes the policy to DIR/policy.yaml and compiles it to DIR/snapshot; the compile's result, to assert on. */
export async function compileAnnPolicy(dir: string, service: string, change: AnnPolicy): Promise<{ code: number; stderr: string }> {
  await writeFile(join(dir, 'policy.yaml'), annPolicy(service, change));
  return portcullis(['compile', '-f', join(dir, 'policy.yaml'), '-o', join(dir, 'snapshot')]);
}
