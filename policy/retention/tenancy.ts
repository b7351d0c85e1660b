// Which repositories a RetentionPolicy may touch: the tenancy rule of grants and webhooks
// (policy/compile/delegation.ts, policy/webhook-tenancy.ts) applied to retention. A policy in the
// Registry's own namespace may cover any repository. One in another namespace needs the Registry's
// delegation to admit that namespace, and every pattern it lists must lie within the namespace's
// prefixes. The runner (lifecycle/runner.ts) plans only for repositories its patterns cover, and the
// second check is the tokens it runs with: the activity server gives a tenant's run tokens only within
// the namespace's prefixes (policy/registry-token-access.ts, again per request), so a tenant's policy
// never deletes, or even lists, a repository outside them. (The runner does not read the delegation
// itself: it runs as the tenant, who may not read the Registry.)

import type { NamespaceInfo, RegistryResource, RetentionPolicyResource } from '../../crds/types.js';
import { isRefusal, refuse, type Refusal } from '../compile/status.js';
import { confinementOf, usableRegistry } from '../delegated-scope.js';
import { compilePattern, matchesParts, NAMESPACE_VAR, substituteNamespace, USER_VAR, validatePattern } from '../match.js';
import { namespaceOf, registryKeyOf } from '../object-keys.js';
import { Reasons } from '../reasons.js';

/** What a policy may act on. */
export interface RetentionScope {
  /** The Registry's key, `namespace/name`. */
  registry: string;
  /** Whether the policy is in the Registry's own namespace (which may list the catalog). */
  home: boolean;
  /** The policy's patterns with `${namespace}` replaced by its namespace. */
  patterns: string[];
  /** The delegated prefixes every repository must also lie within; absent in the Registry's namespace. */
  prefixes?: string[];
}

/** The scope of a policy, or why it may act on nothing. */
export function retentionScope(
  policy: RetentionPolicyResource,
  registries: ReadonlyMap<string, RegistryResource>,
  namespaces: ReadonlyMap<string, NamespaceInfo>,
): RetentionScope | Refusal {
  const key = registryKeyOf(policy);
  const registry = usableRegistry(key, registries);
  if (isRefusal(registry)) return registry;
  const namespace = namespaceOf(policy);
  if (policy.spec.repositories.length === 0) return refuse(Reasons.InvalidSpec, 'spec.repositories: at least one pattern is required');
  const patterns: string[] = [];
  for (const written of policy.spec.repositories) {
    if (written.includes(USER_VAR)) return refuse(Reasons.InvalidSpec, `spec.repositories: ${JSON.stringify(written)}: \${user} has no meaning for retention`);
    const error = validatePattern(written, { allowNamespace: true });
    if (error !== undefined) return refuse(Reasons.InvalidSpec, `spec.repositories: ${error}`);
    patterns.push(substituteNamespace(written, namespace));
  }
  const confinement = confinementOf(registry, key, namespace, patterns, 'retention policies', namespaces);
  if (isRefusal(confinement)) return confinement;
  return confinement.home ? { registry: key, home: true, patterns } : { registry: key, home: false, patterns, prefixes: confinement.prefixes };
}

/** Whether the scope covers a repository: one of its patterns matches, and it lies within the prefixes. */
export function scopeCovers(scope: RetentionScope): (repository: string) => boolean {
  const patterns = scope.patterns.map(compilePattern);
  const prefixes = scope.prefixes?.map(compilePattern);
  return (repository) => {
    const parts = repository.split('/');
    if (parts.includes('') || repository.includes(NAMESPACE_VAR)) return false;
    if (!patterns.some((p) => matchesParts(p, parts, undefined))) return false;
    return prefixes === undefined || prefixes.some((p) => matchesParts(p, parts, undefined));
  };
}
