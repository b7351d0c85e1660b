// The policy snapshot: what the operator (or `portcullis compile`) writes and the token server reads.
// It is plain JSON so it can live in ConfigMaps and be diffed in GitOps checks. Nothing secret is in it:
// password hashes travel separately, in `Credentials`, which is stored in a Secret.

/**
 * The value of `Snapshot.format`; bumped on any incompatible change of the layout below. v2 added the
 * tenancy of delegated users: a v1 reader would ignore it and grant across namespaces, so it must refuse v2.
 * v3 added identity sources and ServiceAccount subjects: a v2 reader would keep accepting RegistryUsers a
 * Registry turned off, and read a ServiceAccount subject as nobody.
 */
export const SNAPSHOT_FORMAT = 'portcullis.dev/snapshot/v3' as const;
/** The value of `Credentials.format`. */
export const CREDENTIALS_FORMAT = 'portcullis.dev/credentials/v1' as const;

/** Actions a grant may allow on a repository. `*` means all of them (and is what `registry:catalog` needs). */
export type Action = 'pull' | 'push' | 'delete' | '*';
export const ACTIONS: readonly Action[] = ['pull', 'push', 'delete', '*'];

export type SubjectKind = 'User' | 'Group' | 'Anonymous' | 'Authenticated' | 'ServiceAccount';

/**
 * Who a grant applies to. `name` is present for User and Group, and for a ServiceAccount when it names one
 * (absent: every ServiceAccount of `namespace`). `namespace` is present for ServiceAccount only.
 */
export interface Subject {
  kind: SubjectKind;
  name?: string;
  namespace?: string;
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
  /** Where logins are checked. Absent: RegistryUsers only, as before identity sources existed. */
  authentication?: AuthenticationPolicy;
  /** Sorted by username. */
  users: UserEntry[];
  /** Sorted by source. */
  grants: GrantEntry[];
  /**
   * Present while a garbage-collection maintenance window holds the registry read-only: the token server
   * refuses tokens that would allow a write (policy/read-only-window.ts). Added without a format bump:
   * a reader that ignores it issues write tokens the registry answers with 405, as before it existed.
   */
  maintenance?: MaintenanceState;
}

export interface MaintenanceState {
  readOnly: boolean;
  /** When the window started (RFC 3339), from status.garbageCollection.windowStart. */
  since?: string;
}

/**
 * The identity sources of a registry, defaults applied. Names from each source carry the prefix the admin
 * chose, so an LDAP group `admins` is the built-in group `admins` only if the admin sets the prefix to "".
 * Secrets (the LDAP bind password) are not here: they travel in `Credentials.identity`.
 */
export interface AuthenticationPolicy {
  /** Whether RegistryUsers log in with their passwords. */
  registryUsers: boolean;
  ldap?: LdapPolicy;
  /** Sorted by issuer. */
  oidc: OidcIssuerPolicy[];
  serviceAccounts?: ServiceAccountPolicy;
}

export interface LdapPolicy {
  /** `ldaps://host[:port]` or `ldap://host[:port]`. */
  url: string;
  startTLS: boolean;
  /** Plain `ldap://` without StartTLS: passwords cross the network in clear. Only when the admin says so. */
  insecureNoTLS: boolean;
  /** PEM bundle trusted for the directory's certificate; absent: the system roots. */
  certificateAuthority?: string;
  /** Absent: searches bind anonymously. */
  bindDN?: string;
  userSearch: { baseDN: string; filter: string; scope: 'sub' | 'one'; usernameAttribute?: string };
  groupSearch?: { baseDN: string; filter: string; scope: 'sub' | 'one'; nameAttribute: string; nested: boolean };
  usernamePrefix: string;
  groupPrefix: string;
  /** Whether directory users match `Authenticated` subjects. */
  authenticated: boolean;
  cacheTTLSeconds: number;
  timeoutSeconds: number;
}

export interface OidcIssuerPolicy {
  /** The exact `iss` of the tokens. https. */
  issuer: string;
  /** Where `/.well-known/openid-configuration` is read; absent: under `issuer`. */
  discoveryURL?: string;
  certificateAuthority?: string;
  /** A token is accepted when its `aud` holds one of these. */
  audiences: string[];
  /** Sorted. Never `none` or an HMAC algorithm. */
  algorithms: string[];
  username: { claim: string; prefix: string };
  groups?: { claim: string; prefix: string };
  /** CEL expressions over `claims`, all of which must be true. */
  conditions: { expression: string; message: string }[];
  authenticated: boolean;
}

export interface ServiceAccountPolicy {
  /** A token must be for one of these audiences (TokenReview checks it). */
  audiences: string[];
  cacheTTLSeconds: number;
  authenticated: boolean;
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
  /** The secrets identity sources need, keyed by registry id: the LDAP bind password. Absent when none. */
  identity?: Record<string, IdentitySecrets>;
}

export interface IdentitySecrets {
  ldapBindPassword?: string;
}
