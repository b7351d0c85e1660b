// Every condition type and every condition/Event reason the operator, `compile` and the activity server
// write, in one place, so the controllers, `compile` and the docs agree on spelling. Reasons are
// CamelCase, as Kubernetes expects.

export const ConditionTypes = {
  /** The object is compiled into the live snapshot (or why it is not). */
  Ready: 'Ready',
  /** Another object claims what this one holds (a service, a username); present only while true. */
  Conflicted: 'Conflicted',
  /** On a Registry, from the keys controller: a signing key is active. */
  KeysReady: 'KeysReady',
  /** On a Registry: a CA rotation is in progress (reason: its phase). */
  Rotating: 'Rotating',
  /** On a Registry: the Distribution Deployment trusts the published bundle. */
  DistributionWired: 'DistributionWired',
  /** On a RetentionPolicy: how its last run (`portcullis retention`) ended. */
  LastRunSucceeded: 'LastRunSucceeded',
} as const;
export type ConditionType = (typeof ConditionTypes)[keyof typeof ConditionTypes];

export const Reasons = {
  // Success.
  Compiled: 'Compiled',
  UserDisabled: 'UserDisabled',

  // References.
  RegistryNotFound: 'RegistryNotFound',
  RegistryNotReady: 'RegistryNotReady',

  // Credentials.
  SecretNotFound: 'SecretNotFound',
  /** The operator runs with --secret-namespaces, and this RegistryUser's namespace is not among them. */
  SecretNamespaceNotServed: 'SecretNamespaceNotServed',
  SecretKeyNotFound: 'SecretKeyNotFound',
  InvalidCredential: 'InvalidCredential',

  // Delegation (tenancy).
  NamespaceNotAllowed: 'NamespaceNotAllowed',
  OutsideDelegatedPrefix: 'OutsideDelegatedPrefix',
  CatalogNotDelegated: 'CatalogNotDelegated',
  ForeignServiceAccount: 'ForeignServiceAccount',

  // Conflicts and validation.
  UsernameConflict: 'UsernameConflict',
  ServiceConflict: 'ServiceConflict',
  InvalidSpec: 'InvalidSpec',

  // Operator lifecycle (Events and Registry conditions).
  SnapshotPublished: 'SnapshotPublished',
  SnapshotTooLarge: 'SnapshotTooLarge',
  /** The operator runs with --registry-namespaces, and this Registry's namespace is not among them. */
  RegistryNamespaceNotServed: 'RegistryNamespaceNotServed',
  KeysReady: 'KeysReady',
  KeyRotated: 'KeyRotated',
  KeyRotationPending: 'KeyRotationPending',
  DeploymentNotFound: 'DeploymentNotFound',
  DeploymentNotAllowed: 'DeploymentNotAllowed',
  DeploymentUpdated: 'DeploymentUpdated',

  // Signing keys and CA rotation (the keys controller).
  Stable: 'Stable',
  CARotationStarted: 'CARotationStarted',
  CARotationComplete: 'CARotationComplete',
  EmergencyCARotation: 'EmergencyCARotation',
  DeploymentPaused: 'DeploymentPaused',
  ContainerNotFound: 'ContainerNotFound',
  NotManaged: 'NotManaged',
  InvalidSigningSettings: 'InvalidSigningSettings',
  /** Registry.spec.storage.filesystem names a PersistentVolumeClaim that does not exist. */
  ClaimNotFound: 'ClaimNotFound',

  // RegistryWebhook deliveries (the activity server).
  Delivering: 'Delivering',
  DeliveryFailing: 'DeliveryFailing',
  WebhookDisabled: 'WebhookDisabled',
  ForbiddenAddress: 'ForbiddenAddress',
  SecretUnreadable: 'SecretUnreadable',

  // Garbage-collection maintenance windows (the maintenance controller).
  GarbageCollectionStarted: 'GarbageCollectionStarted',
  GarbageCollectionSucceeded: 'GarbageCollectionSucceeded',
  GarbageCollectionFailed: 'GarbageCollectionFailed',
  InvalidGarbageCollectionSettings: 'InvalidGarbageCollectionSettings',

  // Retention runs (LastRunSucceeded on a RetentionPolicy).
  RetentionSucceeded: 'RetentionSucceeded',
  /** More manifests selected than maxDeletionsPerRun: the run deleted nothing. */
  CapExceeded: 'CapExceeded',
  RetentionFailed: 'RetentionFailed',

  // Retention schedules (Ready on a RetentionPolicy, the operator's retention controller).
  /** The operator keeps a CronJob running the policy on its schedule. */
  RetentionScheduled: 'RetentionScheduled',
  /** No schedule: the policy runs only by hand (`portcullis retention`). */
  RunsByHand: 'RunsByHand',
  RetentionSuspended: 'RetentionSuspended',
  /**
   * The operator runs with --retention-namespaces, and this scheduled policy's namespace is not among
   * them: it may not create the CronJob there, so it does not try.
   */
  RetentionNamespaceNotServed: 'RetentionNamespaceNotServed',
} as const;
export type Reason = (typeof Reasons)[keyof typeof Reasons];
