// Every condition type and every condition/Event reason the Registry controller and `compile` write, in
// one place, so the operator, `compile` and the docs agree on spelling. Reasons are CamelCase, as
// Kubernetes expects. (The keys controller's own conditions live beside it in operator/controllers/keys.ts.)

export const ConditionTypes = {
  /** The object is compiled into the live snapshot (or why it is not). */
  Ready: 'Ready',
  /** Another object claims what this one holds (a service, a username); present only while true. */
  Conflicted: 'Conflicted',
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
  SecretKeyNotFound: 'SecretKeyNotFound',
  InvalidCredential: 'InvalidCredential',

  // Delegation (tenancy).
  NamespaceNotAllowed: 'NamespaceNotAllowed',
  OutsideDelegatedPrefix: 'OutsideDelegatedPrefix',
  CatalogNotDelegated: 'CatalogNotDelegated',

  // Conflicts and validation.
  UsernameConflict: 'UsernameConflict',
  ServiceConflict: 'ServiceConflict',
  InvalidSpec: 'InvalidSpec',

  // Operator lifecycle (Events and Registry conditions).
  SnapshotPublished: 'SnapshotPublished',
  SnapshotTooLarge: 'SnapshotTooLarge',
  KeysReady: 'KeysReady',
  KeyRotated: 'KeyRotated',
  KeyRotationPending: 'KeyRotationPending',
  DeploymentNotFound: 'DeploymentNotFound',
  DeploymentUpdated: 'DeploymentUpdated',
} as const;
export type Reason = (typeof Reasons)[keyof typeof Reasons];
