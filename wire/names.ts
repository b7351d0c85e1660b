// The names of the objects the operator writes for a Registry, in the Registry's namespace. Two kinds:
// what the token server reads (the snapshot ConfigMaps, the credentials Secrets and the signing Secret:
// `tokenServerSecretNames` is exactly the list its RBAC names) and what only the operator reads (the CA
// Secret with the CA private keys, the hash bookkeeping).

/**
 * The credentials Secret is split over at most this many part Secrets of fixed names, so the token
 * server's RBAC can list every Secret it may read by name (a Role cannot select by label). At about 45
 * bytes per gzipped bcrypt hash and ~960 KiB per part, that is room for roughly 170,000 users.
 */
export const CREDENTIAL_PARTS = 8;

export const snapshotConfigMapName = (registry: string): string => `portcullis-${registry}-snapshot`;
export const credentialsSecretName = (registry: string): string => `portcullis-${registry}-credentials`;
/** Part `index` (0-based) of the credentials Secret. */
export const credentialsPartName = (registry: string, index: number): string => `${credentialsSecretName(registry)}-${index}`;
export const signingSecretName = (registry: string): string => `portcullis-${registry}-signing`;
export const bundleConfigMapName = (registry: string): string => `portcullis-${registry}-bundle`;
/**
 * The registry's notification endpoint (the activity server's URL and this Registry's token): read by
 * the registry Deployment through REGISTRY_NOTIFICATIONS_ENDPOINTS, written only with --activity-url.
 */
export const notificationsSecretName = (registry: string): string => `portcullis-${registry}-notifications`;
/** Operator-only: the CAs with their private keys. */
export const caSecretName = (registry: string): string => `portcullis-${registry}-ca`;
/** Operator-only: which Secret content each hash came from, so a restart does not re-hash every password. */
export const hashSourcesSecretName = (registry: string): string => `portcullis-${registry}-hash-sources`;

/** Every Secret the token server of `registry` may read, and nothing else (its Role's resourceNames). */
export function tokenServerSecretNames(registry: string): string[] {
  return [
    credentialsSecretName(registry),
    ...Array.from({ length: CREDENTIAL_PARTS }, (_, i) => credentialsPartName(registry, i)),
    signingSecretName(registry),
  ];
}
