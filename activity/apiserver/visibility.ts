// Which events a list in one namespace may return (ADR 6): every event of the Registries in that
// namespace, and of a Registry elsewhere whose delegation admits the namespace, only the events under
// the namespace's delegated prefixes — the same admission and prefixes the token server confines that
// namespace's users to (policy/compile/delegation.ts), so a tenant reads the trail of exactly the
// repositories it may grant on.

import type { Delegation, NamespaceInfo } from '../../crds/types.js';
import { admissionOf, prefixesOf } from '../../policy/compile/delegation.js';

/** A Registry as far as visibility needs it. */
export interface RegistryDelegation {
  namespace: string;
  name: string;
  delegation: readonly Delegation[];
}

/** One Registry whose events a namespace may read; `within` undefined: all of them. */
export interface VisibleRegistry {
  /** "namespace/name", as events name their Registry. */
  registry: string;
  within?: string[];
}

export function visibleRegistries(
  namespace: string,
  registries: Iterable<RegistryDelegation>,
  namespaces: ReadonlyMap<string, NamespaceInfo>,
): VisibleRegistry[] {
  const visible: VisibleRegistry[] = [];
  for (const r of registries) {
    const admission = admissionOf(r.namespace, r.delegation, namespace, namespaces);
    if (admission === undefined) continue;
    const registry = `${r.namespace}/${r.name}`;
    visible.push(admission.home ? { registry } : { registry, within: prefixesOf(admission) });
  }
  return visible.sort((a, b) => (a.registry < b.registry ? -1 : a.registry > b.registry ? 1 : 0));
}
