// Every condition type and every condition/Event reason Portcullis writes, in one place, so the
// operator, `compile` and the docs agree on spelling. Reasons are CamelCase, as Kubernetes expects.

export const ConditionTypes = {
  /** The object is compiled into the live snapshot (or why it is not). */
  Ready: 'Ready',
  /** The object is admitted by its Registry (delegation); kept apart from Ready for Gateway-API-style status. */
  Accepted: 'Accepted',
} as const;
export type ConditionType = (typeof ConditionTypes)[keyof typeof ConditionTypes];

export const Reasons = {
  // Success.
  Ready: 'Ready',
  Compiled: 'Compiled',
  Accepted: 'Accepted',
  UserDisabled: 'UserDisabled',

  // References.
  RegistryNotFound: 'RegistryNotFound',
  RegistryNotReady: 'RegistryNotReady',

  // Credentials.
  SecretNotFound: 'SecretNotFound',
  SecretKeyNotFound: 'SecretKeyNotFound',
  InvalidCredential: 'InvalidCredential',

  // Delegation.
  NamespaceNotAllowed: 'NamespaceNotAllowed',
  OutsideDelegatedPrefix: 'OutsideDelegatedPrefix',

  // Conflicts and validation.
  UsernameConflict: 'UsernameConflict',
  ServiceConflict: 'ServiceConflict',
  InvalidSpec: 'InvalidSpec',

  // Operator lifecycle (Events and Registry conditions).
  Pending: 'Pending',
  ReconcileError: 'ReconcileError',
  SnapshotPublished: 'SnapshotPublished',
  CredentialsPublished: 'CredentialsPublished',
  KeysReady: 'KeysReady',
  KeyRotated: 'KeyRotated',
  KeyRotationPending: 'KeyRotationPending',
  CARotated: 'CARotated',
  DeploymentNotFound: 'DeploymentNotFound',
  DeploymentUpdated: 'DeploymentUpdated',
  LeaderElected: 'LeaderElected',
  LeaderLost: 'LeaderLost',
} as const;
export type Reason = (typeof Reasons)[keyof typeof Reasons];
