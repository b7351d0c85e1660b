// Labels and annotations on the objects the operator writes and others read: the token server selects
// its snapshot ConfigMaps by them, RBAC and users find the operator's objects by them.

export const Labels = {
  managedBy: 'app.kubernetes.io/managed-by',
  /** The Registry (name; same namespace) an object belongs to. */
  registry: 'portcullis.dev/registry',
  /** For part objects: the main object they belong to. */
  partOf: 'portcullis.dev/part-of',
} as const;

export const MANAGED_BY = 'portcullis-operator';
export const MANAGED_SELECTOR = `${Labels.managedBy}=${MANAGED_BY}`;

export const Annotations = {
  /** On a Registry: ask the operator to rotate now (`keys`, `ca`, `ca-emergency`); cleared once acted on. */
  rotate: 'portcullis.dev/rotate',
  /** On the registry Deployment's pod template: the hash of the trust bundle it mounts, so a new one rolls it. */
  bundleHash: 'portcullis.dev/bundle-hash',
  /** On the registry Deployment's pod template: the hash of its notification endpoint, so a new URL or key rolls it. */
  notificationsHash: 'portcullis.dev/notifications-hash',
  /** On a Registry: ask for a garbage-collection window (RFC 3339 time of the request; `portcullis gc` sets it). */
  gcRequestedAt: 'portcullis.dev/gc-requested-at',
} as const;
