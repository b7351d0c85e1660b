// The second opinion: the kube-apiserver authorized the caller before proxying, and this server asks
// it again with a SubjectAccessReview for exactly what it is about to return (verb, resource,
// namespace, name), so a request that reached the port some other way, or a header the proxy did not
// write, decides nothing by itself. Decisions are cached for a short time per question (ten seconds by
// default: how long a revoked RoleBinding may keep working here), and identical questions in flight
// share one review.

import { ApiError } from './status.js';
import type { UserInfo } from './front-proxy.js';
import { GROUP } from './group.js';

export interface AccessQuestion {
  user: UserInfo;
  verb: string;
  /** The plural, in GROUP. */
  resource: string;
  namespace: string;
  name?: string;
}

export interface Decision {
  allowed: boolean;
  /** What the authorizer said, for the refusal's message. */
  reason?: string;
}

/** Sends one SubjectAccessReview (authorization.k8s.io/v1) and returns its status. */
export type ReviewAccess = (review: SubjectAccessReview) => Promise<{ allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string }>;

export interface SubjectAccessReview {
  apiVersion: 'authorization.k8s.io/v1';
  kind: 'SubjectAccessReview';
  spec: {
    user: string;
    uid?: string;
    groups: string[];
    extra: Record<string, string[]>;
    resourceAttributes: { group: string; resource: string; verb: string; namespace: string; name?: string };
  };
}

export const SUBJECT_ACCESS_REVIEWS_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

/** The ClusterRole deploy/activity/rbac.yaml defines for users to be bound to. */
export const READER_CLUSTER_ROLE = 'portcullis-activity-reader';

export interface AuthorizerOptions {
  review: ReviewAccess;
  ttlMs?: number;
  /** At most this many decisions are remembered (oldest forgotten first). Default 10000. */
  maxEntries?: number;
  now?: () => number;
}

export class Authorizer {
  private readonly decisions = new Map<string, { decision: Decision; expires: number }>();
  private readonly inFlight = new Map<string, Promise<Decision>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly options: AuthorizerOptions) {
    this.ttlMs = options.ttlMs ?? 10_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  async decide(question: AccessQuestion): Promise<Decision> {
    const key = questionKey(question);
    const cached = this.decisions.get(key);
    if (cached !== undefined && cached.expires > this.now()) return cached.decision;
    let pending = this.inFlight.get(key);
    if (pending === undefined) {
      pending = this.ask(question).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    const decision = await pending;
    this.remember(key, decision);
    return decision;
  }

  /** Resolves when allowed; throws the 403 Status otherwise. */
  async require(question: AccessQuestion): Promise<void> {
    const decision = await this.decide(question);
    if (!decision.allowed) throw forbidden(question, decision.reason);
  }

  private async ask(q: AccessQuestion): Promise<Decision> {
    const status = await this.options.review({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: q.user.username,
        ...(q.user.uid === undefined ? {} : { uid: q.user.uid }),
        groups: q.user.groups,
        extra: q.user.extra,
        resourceAttributes: { group: GROUP, resource: q.resource, verb: q.verb, namespace: q.namespace, ...(q.name === undefined ? {} : { name: q.name }) },
      },
    });
    const reason = status.reason || status.evaluationError;
    return { allowed: status.allowed === true && status.denied !== true, ...(reason ? { reason } : {}) };
  }

  private remember(key: string, decision: Decision): void {
    this.decisions.delete(key);
    this.decisions.set(key, { decision, expires: this.now() + this.ttlMs });
    while (this.decisions.size > this.maxEntries) {
      const oldest = this.decisions.keys().next().value;
      if (oldest === undefined) break;
      this.decisions.delete(oldest);
    }
  }
}

function questionKey(q: AccessQuestion): string {
  const extra = Object.entries(q.user.extra)
    .map(([k, v]) => [k, [...v].sort()] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([q.user.username, q.user.uid ?? '', [...q.user.groups].sort(), extra, q.verb, q.resource, q.namespace, q.name ?? '']);
}

/** The 403, worded as the kube-apiserver words it, with the binding that would allow it. */
export function forbidden(q: AccessQuestion, reason?: string): ApiError {
  const what = `${q.resource}.${GROUP}${q.name === undefined ? '' : ` ${JSON.stringify(q.name)}`}`;
  const message =
    `${what} is forbidden: User ${JSON.stringify(q.user.username)} cannot ${q.verb} resource ${JSON.stringify(q.resource)} ` +
    `in API group ${JSON.stringify(GROUP)} ${q.namespace === '' ? 'at the cluster scope' : `in the namespace ${JSON.stringify(q.namespace)}`}` +
    (reason ? `: ${reason}` : '') +
    (q.namespace === ''
      ? ` (a ClusterRoleBinding to ClusterRole ${READER_CLUSTER_ROLE} allows it)`
      : ` (a RoleBinding in namespace ${JSON.stringify(q.namespace)} to ClusterRole ${READER_CLUSTER_ROLE} allows it)`);
  return new ApiError('Forbidden', message, { group: GROUP, kind: q.resource, ...(q.name === undefined ? {} : { name: q.name }) });
}
