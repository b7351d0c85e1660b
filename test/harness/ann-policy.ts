// The small policy the token-server e2e tests compile: Registry `main`, ann in group devs with her password
// in a Secret, the devs' grant on team/* and optionally one on ship/*. The tests change it to prove what a
// reload does.

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
