// The policy snapshot: what the operator (or `portcullis compile`) writes and the token server reads.
// It is plain JSON so it can live in ConfigMaps and be diffed in GitOps checks. Nothing secret is in it:
// password hashes travel separately, in `Credentials`, which is stored in a Secret.

/**
 * The value of `Snapshot.format`; bumped on any incompatible change of the layout below. v2 added the
 * tenancy of delegated users: a v1 reader would ignore it and grant across namespaces, so it must refuse v2.
 */
export const SNAPSHOT_FORMAT = 'portcullis.dev/snapshot/v2' as const;
/** The value of `Credentials.format`. */
export const CREDENTIALS_FORMAT = 'portcullis.dev/credentials/v1' as const;

/** Actions a grant may allow on a repository. `*` means all of them (and is what `registry:catalog` needs). */
export type Action = 'pull' | 'push' | 'delete' | '*';
export const ACTIONS: readonly Action[] = ['pull', 'push', 'delete', '*'];

export type SubjectKind = 'User' | 'Group' | 'Anonymous' | 'Authenticated';

/** Who a grant applies to. `name` is present for User and Group only. */
export interface Subject {
  kind: SubjectKind;
  name?: string;
}

export interface UserEntry {
  /** The login name clients send in Basic auth. Unique within a registry. */
  username: string;
  /** Sorted, de-duplicated. */
  groups: string[];
  disabled: boolean;
  /**
   * Identifies the current credential without revealing it: a short digest of the stored hash.
   * Refresh tokens and the verified-credential cache are bound to it, so a password change
   * invalidates both. Empty when the user has no usable credential (e.g. its Secret is missing).
   */
  credentialRevision: string;
  /** `namespace/name` of the RegistryUser object, for audit lines and status. */
  source: string;
  /**
   * `uid:generation` of the RegistryUser object (absent for manifests, which have neither). Refresh tokens
   * are bound to it beside the credential, so deleting and recreating, disabling and re-enabling, or
   * editing the user ends every refresh token issued before.
   */
  objectRevision?: string;
  /** Present for a user from a delegated namespace: how far its identity reaches. Absent: unrestricted. */
  tenancy?: Tenancy;
}

/**
 * What a user created in a delegated namespace may obtain. Its access is confined to `prefixes` unless it
 * came through an identity the Registry's delegation consented to (a trusted username, group or
 * Authenticated); `${user}` patterns expand outside the prefixes only for a trusted username.
 */
export interface Tenancy {
  namespace: string;
  /** Repository patterns, `${namespace}` already replaced. Sorted. */
  prefixes: string[];
  trustedUsername: boolean;
  /** The user's groups that are consented registry-wide. Sorted. */
  trustedGroups: string[];
  trustedAuthenticated: boolean;
}

export interface GrantEntry {
  /** `namespace/name` of the RepositoryGrant object; reported in audit lines as the reason access was given. */
  source: string;
  /** Sorted by kind then name. */
  subjects: Subject[];
  /** Patterns: exact names, `*` one segment, `**` any depth, `${user}` the requesting user's name. Sorted. */
  repositories: string[];
  /** Sorted; `*` stands alone (compileSnapshot normalises [pull, *] to [*]). */
  actions: Action[];
  /** Whether these subjects may list the catalog (`registry:catalog:*`). */
  catalog: boolean;
}

export type SigningAlgorithm = 'ES256' | 'RS256';

export interface RegistryPolicy {
  /** `namespace/name` of the Registry object (or of the manifest, for `compile`). */
  id: string;
  /** REGISTRY_AUTH_TOKEN_SERVICE: the token audience and the `service` clients ask for. */
  service: string;
  /** REGISTRY_AUTH_TOKEN_ISSUER. */
  issuer: string;
  /** Where the registry sends clients for tokens; informational for the token server. */
  realm?: string;
  /** Access-token lifetime in seconds (at least 60, as clients assume). */
  tokenTTLSeconds: number;
  signingAlgorithm: SigningAlgorithm;
  /** Sorted by username. */
  users: UserEntry[];
  /** Sorted by source. */
  grants: GrantEntry[];
}

export interface Snapshot {
  format: typeof SNAPSHOT_FORMAT;
  /**
   * Content hash (hex sha256 of the canonical JSON of `registries`). Same input, same bytes, same
   * generation: it is how writers avoid churn and readers know two parts belong together.
   */
  generation: string;
  /** Sorted by service. Services are unique within a snapshot. */
  registries: RegistryPolicy[];
}

/** Password hashes, keyed by registry id then username. Stored in a Secret, never a ConfigMap. */
export interface Credentials {
  format: typeof CREDENTIALS_FORMAT;
  registries: Record<string, Record<string, string>>;
}
