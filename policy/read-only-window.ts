// What a garbage-collection maintenance window means for tokens. While a window holds the registry
// read-only, Distribution answers every write with a bare `405 Method not allowed` (no error code, and
// clients do not retry a 405). So the token server refuses, before the registry is reached, any token
// that would allow a write, with a 503 UNAVAILABLE and Retry-After that clients print and may retry.
//
// The window reaches the token server through the snapshot: compileSnapshot copies it from the
// Registry's status.garbageCollection (maintenanceOf), the operator publishes it before it switches the
// Deployment read-only (operator/controllers/maintenance/), and keeps it until the read-write rollout is
// complete. Tokens issued before the window still carry push until they expire (tokenTTL): those writes
// meet the registry's 405 (docs/garbage-collection.md).

import type { GarbageCollectionStatus } from '../crds/types.js';
import type { ScopeDecision } from './authorize.js';
import { formatScope } from './scope.js';
import type { MaintenanceState } from './types.js';

/**
 * The Retry-After of a refusal. A window is two rollouts and a collector run, minutes rather than
 * seconds: a shorter hint makes clients that honour it knock in vain, a longer one delays pushes after a
 * short window more than a re-run would.
 */
export const READ_ONLY_RETRY_AFTER_SECONDS = 60;

/** The phases in which the registry is, or may already or still be, read-only. */
const READ_ONLY_PHASES: ReadonlySet<GarbageCollectionStatus['phase']> = new Set(['EnteringReadOnly', 'Collecting', 'LeavingReadOnly']);

/** What the snapshot carries for a Registry with this status: undefined outside a window. */
export function maintenanceOf(status: GarbageCollectionStatus | undefined): MaintenanceState | undefined {
  if (status === undefined || !READ_ONLY_PHASES.has(status.phase)) return undefined;
  const since = status.windowStart;
  return since !== undefined && !Number.isNaN(Date.parse(since)) ? { readOnly: true, since: new Date(since).toISOString() } : { readOnly: true };
}

/** Actions that write to a repository: `*` includes push and delete. */
const WRITE_ACTIONS: ReadonlySet<string> = new Set(['push', 'delete', '*']);

export interface WriteRefusal {
  /** When the window started, if known (RFC 3339). */
  since?: string;
  /** The requested scopes whose granted actions include a write, formatted; for the audit line. */
  scopes: string[];
}

/**
 * Whether a token request is refused because its registry is read-only: when the authorization
 * decisions GRANT a write on some repository. Decided after authentication and authorization, so
 *   - a caller refused the write anyway (anonymous, or without a push grant) gets the token it would get
 *     outside the window and learns nothing about the window it could not act on;
 *   - a mixed request (`pull,push`, as every `docker push` and `crane push` asks) is refused whole: a
 *     pull-only token would let the client start its push and fail on the registry's unexplained
 *     401/405, which is what this refusal exists to replace; pull-only requests are untouched;
 *   - `registry:catalog:*` is a read and never refused.
 * The refresh_token grant gets the same answer as a login: the refresh token stays valid (nothing is
 * consumed), so the same request succeeds once the window is over.
 */
export function writesRefused(maintenance: MaintenanceState | undefined, decisions: readonly ScopeDecision[]): WriteRefusal | undefined {
  if (maintenance?.readOnly !== true) return undefined;
  const writes = decisions.filter((d) => d.scope.type === 'repository' && d.granted.some((a) => WRITE_ACTIONS.has(a)));
  if (writes.length === 0) return undefined;
  return { ...(maintenance.since === undefined ? {} : { since: maintenance.since }), scopes: writes.map((d) => formatScope(d.scope)) };
}
