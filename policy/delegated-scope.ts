// The tenancy rule every namespaced object that acts on a Registry's repositories shares (grants in
// compile/delegation.ts; RegistryWebhooks and RetentionPolicies here): the Registry must exist with a
// valid delegation; an object in the Registry's own namespace may name any repository; one in another
// namespace needs that namespace admitted, and then every pattern it names must lie within the
// namespace's prefixes. One function, so the webhook and retention checks cannot drift apart.

import type { NamespaceInfo, RegistryResource } from '../crds/types.js';
import { admissionOf, checkDelegation, prefixesOf } from './compile/delegation.js';
import { refuse, type Refusal } from './compile/status.js';
import { patternWithin } from './match.js';
import { namespaceOf } from './object-keys.js';
import { Reasons } from './reasons.js';

/** The Registry `key` names, or why it cannot be used (missing, or its delegation is invalid). */
export function usableRegistry(key: string, registries: ReadonlyMap<string, RegistryResource>): RegistryResource | Refusal {
  const registry = registries.get(key);
  if (registry === undefined) return refuse(Reasons.RegistryNotFound, `Registry ${key} not found`);
  const invalid = checkDelegation(registry.spec.delegation);
  if (invalid !== undefined) return refuse(Reasons.RegistryNotReady, `Registry ${key} is not ready: ${invalid.refused.message}`);
  return registry;
}

/** Where an admitted object may act: anywhere (home), or within `prefixes`. */
export type NamespaceConfinement = { home: true } | { home: false; prefixes: string[] };

/**
 * How `namespace` is confined on `registry` for `patterns` (already validated, variables substituted),
 * or why it may act on nothing. `what` names the object kind in the sentence ("webhooks").
 */
export function confinementOf(
  registry: RegistryResource,
  key: string,
  namespace: string,
  patterns: readonly string[],
  what: string,
  namespaces: ReadonlyMap<string, NamespaceInfo>,
): NamespaceConfinement | Refusal {
  const admission = admissionOf(namespaceOf(registry), registry.spec.delegation ?? [], namespace, namespaces);
  if (admission === undefined) return refuse(Reasons.NamespaceNotAllowed, `Registry ${key} does not admit ${what} from namespace ${namespace}`);
  if (admission.home) return { home: true };
  const prefixes = prefixesOf(admission);
  const outside = patterns.find((pattern) => !prefixes.some((prefix) => patternWithin(pattern, prefix)));
  if (outside !== undefined) {
    return refuse(
      Reasons.OutsideDelegatedPrefix,
      `repository pattern ${JSON.stringify(outside)} is outside the prefixes delegated to namespace ${namespace}: ` +
        prefixes.map((p) => JSON.stringify(p)).join(', '),
    );
  }
  return { home: false, prefixes };
}
