// What one RegistryWebhook object means for its delivery loop, given the Registries and Namespaces as they
// are now: either a target (where, what, signed with which Secret key) or the reason nothing is sent.
// A chain of small checks, each refusing with a reason and a sentence, so every Ready=False explains
// itself: paused, not admitted (policy/webhook-tenancy.ts), a URL or header the CRD would refuse (checked
// again here: the API server is not the only way an object could come to exist), a forbidden address.

import type { NamespaceInfo, RegistryResource, RegistryWebhookResource } from '../../crds/types.js';
import { isRefusal } from '../../policy/compile/status.js';
import { namespaceOf } from '../../policy/object-keys.js';
import { Reasons } from '../../policy/reasons.js';
import { headerProblem, webhookUrlProblem } from '../../policy/webhook-spec.js';
import { webhookScope } from '../../policy/webhook-tenancy.js';
import { literalAddressProblem } from './destination.js';
import { eventFilter, type EventFilter } from './filter.js';
import type { SecretKeyRef } from './secret.js';

export const DEFAULT_SECRET_KEY = 'secret';

export interface WebhookTarget {
  filter: EventFilter;
  url: URL;
  /** The webhook's own headers, checked. */
  headers: Record<string, string>;
  secret: SecretKeyRef;
}

export type WebhookPlan = { generation?: number; fingerprint: string } & ({ target: WebhookTarget } | { blocked: { reason: string; message: string } });

export interface PlanContext {
  registries: ReadonlyMap<string, RegistryResource>;
  namespaces: ReadonlyMap<string, NamespaceInfo>;
  allowLinkLocal: boolean;
}

type Blocked = { blocked: { reason: string; message: string } };
const block = (reason: string, message: string): Blocked => ({ blocked: { reason, message } });

export function webhookPlan(webhook: RegistryWebhookResource, context: PlanContext): WebhookPlan {
  const scope = webhookScope(webhook, context.registries, context.namespaces);
  // Everything the plan depends on: a change to any of it (an edit, a delegation or label change) is
  // a new plan for the loop; a status write by the loop itself is not.
  const fingerprint = JSON.stringify([webhook.metadata.generation, webhook.spec, scope]);
  const generation = webhook.metadata.generation;
  return { ...(generation !== undefined ? { generation } : {}), fingerprint, ...decide(webhook, scope, context) };
}

function decide(webhook: RegistryWebhookResource, scope: ReturnType<typeof webhookScope>, context: PlanContext): { target: WebhookTarget } | Blocked {
  const spec = webhook.spec;
  if (spec.disabled === true) return block(Reasons.WebhookDisabled, 'spec.disabled is true: deliveries are paused, the position is kept');
  if (isRefusal(scope)) return block(scope.refused.reason, scope.refused.message);
  const urlProblem = webhookUrlProblem(spec.url);
  if (urlProblem !== undefined) return block(Reasons.InvalidSpec, `spec.${urlProblem}`);
  const url = new URL(spec.url);
  const forbidden = context.allowLinkLocal ? undefined : literalAddressProblem(url);
  if (forbidden !== undefined) return block(Reasons.ForbiddenAddress, forbidden);
  const headers: Record<string, string> = {};
  for (const header of spec.headers ?? []) {
    const problem = headerProblem(header);
    if (problem !== undefined) return block(Reasons.InvalidSpec, `spec.headers: ${problem}`);
    headers[header.name] = header.value;
  }
  if (typeof spec.secretRef?.name !== 'string' || spec.secretRef.name === '') return block(Reasons.InvalidSpec, 'spec.secretRef.name is required');
  return {
    target: {
      filter: eventFilter(spec, scope),
      url,
      headers,
      secret: { namespace: namespaceOf(webhook), name: spec.secretRef.name, key: spec.secretRef.key ?? DEFAULT_SECRET_KEY },
    },
  };
}
