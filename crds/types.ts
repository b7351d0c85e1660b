// TypeScript shapes of the custom resources, as users write them (../shared/API.md is the contract).
// The CRD YAML beside this file is the single source of validation; these types only describe what the
// code reads after the API server (or `compile`) has accepted an object. Optional fields stay optional
// here because defaults are applied by compileSnapshot, which both the operator and `compile` use.

import type { Action, SigningAlgorithm, SubjectKind } from '../policy/types.js';

export const GROUP = 'portcullis.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export interface ObjectReference {
  name: string;
  namespace?: string;
}

export interface SecretKeyReference {
  name: string;
  /** Default `password`. A key named `htpasswd` holds a bcrypt hash instead of a plain password. */
  key?: string;
}

export type NamespacesFrom = 'Same' | 'All' | 'Selector';

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

export interface Delegation {
  namespaces: { from: NamespacesFrom; selector?: LabelSelector };
  /** Repository prefixes (patterns) these namespaces may grant on; `${namespace}` is the grant's namespace. */
  repositories: string[];
  /**
   * Owner-side consent for identities from these namespaces to count outside their prefixes. Without it, a
   * user from a delegated namespace obtains nothing outside the prefixes, whatever grant names it.
   */
  identities?: DelegatedIdentities;
  /** Whether grants from these namespaces may set `catalog: true` (the catalog lists every repository). */
  catalog?: boolean;
}

export interface DelegatedIdentities {
  /** Username patterns (`*` any run of characters, `${namespace}`) that are registry-wide names. */
  usernames?: string[];
  /** Group patterns (same syntax) whose members are matched by grants anywhere. */
  groups?: string[];
  /** Whether users from these namespaces count as `Authenticated` outside the prefixes. */
  authenticated?: boolean;
}

export interface RegistrySpec {
  service: string;
  issuer?: string;
  realm?: string;
  /** Go-style duration, e.g. `5m`. Default 5m. */
  tokenTTL?: string;
  signing?: {
    algorithm?: SigningAlgorithm;
    rotateEvery?: string;
    certificateLifetime?: string;
    caLifetime?: string;
    caRotateBefore?: string;
  };
  distribution?: { deployment?: string; container?: string };
  delegation?: Delegation[];
  authentication?: Authentication;
  /** Where the registry keeps images; the operator wires it into the Deployment (docs/storage.md). */
  storage?: RegistryStorage;
  /** Garbage collection in a read-only maintenance window (docs/storage.md). */
  garbageCollection?: GarbageCollection;
}

/** Exactly one of filesystem or s3. Absent: the operator leaves the Deployment's storage alone. */
export interface RegistryStorage {
  filesystem?: { claimName: string; rootDirectory?: string };
  s3?: {
    bucket: string;
    region: string;
    /** For S3-compatible servers (MinIO, SeaweedFS, Ceph): https://HOST[:PORT]. */
    endpoint?: string;
    /** Keys `accessKey` and `secretKey` (names configurable), in the Registry's namespace. */
    credentialsSecretRef?: { name: string; accessKeyKey?: string; secretKeyKey?: string };
    rootDirectory?: string;
    /** Path-style addressing, which most S3-compatible servers need. Default false. */
    forcePathStyle?: boolean;
  };
  /** Whether manifests may be deleted (retention needs it). Default true when storage is set. */
  deleteEnabled?: boolean;
}

export interface GarbageCollection {
  /** Cron schedule (five fields, UTC) for a maintenance window. Absent: only on request or after retention. */
  schedule?: string;
  /** Collect after a retention run that deleted something. Default true. */
  afterRetention?: boolean;
  /** The image of the collector Job. Default: the registry container's image. */
  image?: string;
  /** Longest window before the operator gives up, restores read-write and reports a failure. Default 30m. */
  timeout?: string;
}

/** What the operator reports about maintenance windows, on the Registry's status. */
export interface GarbageCollectionStatus {
  phase: 'Idle' | 'EnteringReadOnly' | 'Collecting' | 'LeavingReadOnly';
  /** The window in progress, or the last one. */
  windowStart?: string;
  windowEnd?: string;
  lastResult?: { succeeded: boolean; bytesFreed?: number; blobsDeleted?: number; manifestsDeleted?: number; message: string };
  /** The request (annotation value) the current or last window served. */
  requestId?: string;
}

/** A namespaced retention policy for one Registry (docs/retention.md). */
export interface RetentionPolicySpec {
  registryRef: ObjectReference;
  /** Repository patterns (policy/match.ts syntax; `${namespace}`); in a delegated namespace, inside its prefixes. */
  repositories: string[];
  /** The union of keeps wins; every other tag, and every untagged manifest the untagged rule names, is a candidate. */
  rules: RetentionRules;
  /** Cron schedule (five fields, UTC). Absent: runs only by hand (`portcullis retention`). */
  schedule?: string;
  /** Default true: a new policy reports what it would delete and deletes nothing until set to false. */
  dryRun?: boolean;
  /** A run that would delete more manifests than this deletes nothing and fails. Default 100. */
  maxDeletionsPerRun?: number;
  suspend?: boolean;
}

export interface RetentionRules {
  /** Keep the newest N tags by semantic version (a leading `v` allowed); tags that are not semver are not counted here. */
  keepNewestSemver?: { count: number; preReleases?: 'Separate' | 'Together' | 'Ignore'; preReleaseCount?: number };
  /** Keep tags matching any of these glob patterns (`*` any run, `?` one character), e.g. `latest`, `v*`. */
  keepTags?: string[];
  /** Keep any manifest pushed in the last D, a Go duration such as `168h` or days such as `7d`. */
  keepPushedWithin?: string;
  /** Delete untagged manifests older than this (same syntax), unless a kept index references them. */
  pruneUntaggedOlderThan?: string;
}

export interface RetentionPolicyStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  lastRun?: RetentionRunSummary;
}

export interface RetentionRunSummary {
  startTime: string;
  completionTime?: string;
  dryRun: boolean;
  /** Succeeded | CapExceeded | Failed */
  result: 'Succeeded' | 'CapExceeded' | 'Failed';
  repositories: number;
  tagsSeen: number;
  candidates: number;
  deleted: number;
  /** rule name -> tags kept by it (a tag kept by two rules counts for both). */
  keptByRule: Record<string, number>;
  bytesFreed?: number;
  /** The first candidates (repository:tag@digest or repository@digest), at most 50. */
  sample: string[];
  errors: string[];
  /** Repositories the run did not plan for, and why (a trail too long to date their manifests). */
  leftAlone?: string[];
}

/** Where logins are checked (see docs/identity-sources.md). Absent: RegistryUsers only. */
export interface Authentication {
  /** Default true. */
  registryUsers?: boolean;
  ldap?: LdapSource;
  oidc?: OidcIssuer[];
  serviceAccounts?: ServiceAccountSource;
}

export interface LdapSource {
  url: string;
  startTLS?: boolean;
  insecureNoTLS?: boolean;
  certificateAuthority?: string;
  bindDN?: string;
  /** In the Registry's namespace. Required with bindDN. */
  bindPasswordSecretRef?: SecretKeyReference;
  userSearch: { baseDN: string; filter?: string; scope?: 'sub' | 'one'; usernameAttribute?: string };
  groupSearch?: { baseDN: string; filter?: string; scope?: 'sub' | 'one'; nameAttribute?: string; nested?: boolean };
  usernamePrefix?: string;
  groupPrefix?: string;
  authenticated?: boolean;
  cacheTTL?: string;
  timeout?: string;
}

export interface OidcIssuer {
  issuer: string;
  discoveryURL?: string;
  certificateAuthority?: string;
  audiences: string[];
  algorithms?: string[];
  username: { claim?: string; prefix: string };
  groups?: { claim?: string; prefix: string };
  conditions?: { expression: string; message?: string }[];
  authenticated?: boolean;
}

export interface ServiceAccountSource {
  /** Default: the Registry's service. */
  audiences?: string[];
  cacheTTL?: string;
  authenticated?: boolean;
}

export interface RegistryUserSpec {
  registryRef: ObjectReference;
  username?: string;
  passwordSecretRef: SecretKeyReference;
  groups?: string[];
  disabled?: boolean;
}

export interface GrantSubject {
  kind: SubjectKind;
  name?: string;
  /** ServiceAccount subjects only; default the grant's namespace. */
  namespace?: string;
}

export interface RepositoryGrantSpec {
  registryRef: ObjectReference;
  subjects: GrantSubject[];
  repositories: string[];
  actions: Action[];
  catalog?: boolean;
}

/** Where a RegistryWebhook's events go and which ones (see docs/webhooks.md). */
export interface RegistryWebhookSpec {
  registryRef: ObjectReference;
  /** Repository patterns (policy/match.ts syntax, no variables). Default `["**"]`. */
  repositories?: string[];
  /** Default `["push"]`. */
  actions?: Exclude<Action, '*'>[];
  /** http:// or https://, without credentials. */
  url: string;
  /** The HMAC-SHA256 key, in the webhook's namespace; `key` default `secret`. */
  secretRef: { name: string; key?: string };
  headers?: { name: string; value: string }[];
  disabled?: boolean;
}

/** What the activity server reports about a webhook's deliveries. */
export interface RegistryWebhookStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /**
   * Distribution's id of the last event delivered to this webhook: neither the cursor (which also passes
   * over others' events) nor the store-wide seq (whose steps would count others' events).
   */
  lastDeliveredEventId?: string;
  lastSuccessTime?: string;
  /** `reason` is an HTTP status (`HTTP 500`) or an error code, never a response body. */
  lastFailure?: { time: string; reason: string; attempts: number };
  backlog?: number;
}

export interface Resource<K extends string, S> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
  status?: { observedGeneration?: number; conditions?: Condition[]; [k: string]: unknown };
}

export type RegistryResource = Resource<'Registry', RegistrySpec>;
export type RegistryUserResource = Resource<'RegistryUser', RegistryUserSpec>;
export type RepositoryGrantResource = Resource<'RepositoryGrant', RepositoryGrantSpec>;
export type RegistryWebhookResource = Resource<'RegistryWebhook', RegistryWebhookSpec>;
export type RetentionPolicyResource = Resource<'RetentionPolicy', RetentionPolicySpec>;

/** A core/v1 Secret as far as the policy needs it. `data` is base64, `stringData` plain (manifests only). */
export interface SecretResource {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: ObjectMeta;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  /** e.g. `Opaque`; not read by the policy. */
  type?: string;
}

/** A namespace as far as delegation needs it. */
export interface NamespaceInfo {
  name: string;
  labels: Record<string, string>;
}
