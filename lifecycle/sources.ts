// What a retention run reads and writes outside the registry, as interfaces: the CLI gives it the
// cluster (RegistryTokens through the aggregated API, the trail as registryevents, the policy's status
// subresource); the bench gives it a token it signs itself and a trail it generated. The runner does
// not know which.

import type { GrantedAccess } from '../activity/apiserver/registry-token-object.js';
import type { Condition, RetentionRunSummary } from '../crds/types.js';

/** A registry bearer token and what it carries. */
export interface IssuedToken {
  token: string;
  /** When the registry stops accepting it. */
  expiresAt: Date;
  access: GrantedAccess[];
  /** Scopes asked for and not given, with the reason (the RegistryToken's status.withheld). */
  withheld: { scope: string; reason: string }[];
  /** The Registry's service (the token's audience): where the registry is, when no server is given. */
  service?: string;
}

export interface TokenSource {
  /** A token for exactly these scopes (`repository:NAME:pull,delete`, `registry:catalog:*`). Throws a sentence on refusal. */
  token(scopes: readonly string[]): Promise<IssuedToken>;
}

/** One manifest push the registry reported (blob pushes are not in the trail). */
export interface ManifestPush {
  repository: string;
  digest: string;
  /** Absent for a push by digest (an index's children, `crane push ...@sha256:`). */
  tag?: string;
  /** RFC 3339. */
  timestamp: string;
}

export interface PushHistory {
  pushes: ManifestPush[];
  /**
   * Repositories whose older pushes the trail did not return (more than it answers at once): what is
   * absent there is unknown, not absent.
   */
  truncated: Set<string>;
}

export interface TrailSource {
  /** Manifest pushes in these repositories, any order. */
  pushes(repositories: readonly string[]): Promise<PushHistory>;
  /** Repositories the trail has seen: how a delegated namespace, which gets no catalog, finds its own. */
  repositoriesSeen(): Promise<string[]>;
}

export interface StatusSink {
  /** Records a run on the policy: status.lastRun and the condition, nothing else. */
  record(policy: { namespace: string; name: string }, lastRun: RetentionRunSummary, condition: Condition): Promise<void>;
}
