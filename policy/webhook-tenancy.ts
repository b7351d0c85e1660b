// Which events a RegistryWebhook may receive at all: the tenancy rule of grants (policy/compile/delegation.ts)
// applied to webhooks. A webhook in the Registry's own namespace may watch any repository. One in another
// namespace needs the Registry's delegation to admit that namespace, and every pattern it lists must lie
// within the namespace's prefixes; even then, each event is checked against the prefixes again before it
// is sent (defence in depth), so a tenant never hears of a repository outside its prefixes.

import type { NamespaceInfo, RegistryResource, RegistryWebhookResource } from '../crds/types.js';
import { isRefusal, refuse, type Refusal } from './compile/status.js';
import { confinementOf, usableRegistry } from './delegated-scope.js';
import { validatePattern } from './match.js';
import { namespaceOf, registryKeyOf } from './object-keys.js';
import { Reasons } from './reasons.js';

/** The pattern a webhook that lists no repositories watches (the CRD's default). */
export const ALL_REPOSITORIES = '**';

/** What a webhook may hear of: its Registry's events, confined to `prefixes` when it is a tenant's. */
export interface WebhookScope {
  /** The Registry's key, `namespace/name`. */
  registry: string;
  /** The delegated prefixes every delivered event must lie within; absent in the Registry's own namespace. */
  prefixes?: readonly string[];
}

/** The scope of a webhook, or why it may receive nothing. */
export function webhookScope(
  webhook: RegistryWebhookResource,
  registries: ReadonlyMap<string, RegistryResource>,
  namespaces: ReadonlyMap<string, NamespaceInfo>,
): WebhookScope | Refusal {
  const key = registryKeyOf(webhook);
  const registry = usableRegistry(key, registries);
  if (isRefusal(registry)) return registry;
  const patterns = webhook.spec.repositories ?? [ALL_REPOSITORIES];
  for (const pattern of patterns) {
    const error = validatePattern(pattern);
    if (error !== undefined) return refuse(Reasons.InvalidSpec, `spec.repositories: ${error}`);
    if (pattern.includes('${')) return refuse(Reasons.InvalidSpec, `spec.repositories: ${JSON.stringify(pattern)}: variables have no meaning for webhooks`);
  }
  const confinement = confinementOf(registry, key, namespaceOf(webhook), patterns, 'webhooks', namespaces);
  if (isRefusal(confinement)) return confinement;
  return confinement.home ? { registry: key } : { registry: key, prefixes: confinement.prefixes };
}
