// What a registry token for `portcullis images|tags|delete` may carry: (the caller's relation to the
// Registry, the requested scopes, what Kubernetes RBAC allows the caller) -> the granted access, with a
// sentence per scope. The person is a Kubernetes user, not a RegistryUser: no grant is consulted, only
// RBAC on `registryimages` in the namespace they asked in, so this is a second, narrower door beside
// authorize.ts, and it never opens wider than the tenancy rules of delegation.ts:
//   - read (`get registryimages`) gives `pull`; delete (`delete registryimages`) gives `delete`;
//   - `push` and `*` are never given: administrators delete and look, they publish through RegistryUsers;
//   - the catalog only in the Registry's own namespace: it lists every repository, beyond any prefix;
//   - from a delegated namespace, only repositories under its prefixes;
//   - from a namespace the Registry does not admit, nothing.

import { prefixesOf, type Admission } from './compile/delegation.js';
import { compilePattern, matchesParts } from './match.js';
import type { ResourceScope } from './scope.js';

/** How the namespace the caller asked in relates to the Registry (delegation.ts admissionOf/prefixesOf). */
export type RegistryRelation =
  | { kind: 'home'; registry: string }
  | { kind: 'delegated'; registry: string; namespace: string; prefixes: readonly string[] }
  | { kind: 'none'; registry: string; namespace: string };

/** The relation for `admission` (delegation.ts admissionOf of the namespace asked in; undefined: not admitted). */
export function registryRelation(registry: string, namespace: string, admission: Admission | undefined): RegistryRelation {
  if (admission === undefined) return { kind: 'none', registry, namespace };
  if (admission.home) return { kind: 'home', registry };
  return { kind: 'delegated', registry, namespace, prefixes: prefixesOf(admission) };
}

/** The SubjectAccessReview answers for the caller in that namespace. */
export interface ImagePermissions {
  /** `get registryimages`. */
  read: boolean;
  /** `delete registryimages`. */
  delete: boolean;
}

export interface TokenScopeDecision {
  scope: ResourceScope;
  granted: string[];
  /** A sentence: why these actions were granted, or why nothing was. */
  reason: string;
}

export interface RegistryTokenAccess {
  /** The token's `access` claim: only scopes with something granted. */
  access: ResourceScope[];
  decisions: TokenScopeDecision[];
}

const CATALOG = { type: 'registry', name: 'catalog' } as const;

function decided(scope: ResourceScope, granted: string[], reason: string): TokenScopeDecision {
  return { scope, granted, reason };
}

/** Which requested repository actions the permissions give; `push`, `*` and anything unknown never. */
function repositoryActions(requested: readonly string[], permissions: ImagePermissions): string[] {
  return requested.filter((action) => (action === 'pull' && permissions.read) || (action === 'delete' && permissions.delete));
}

/** Why each requested action that was not granted was withheld, as one sentence. */
function withheld(requested: readonly string[], granted: readonly string[]): string {
  return requested
    .filter((a) => !granted.includes(a))
    .map((a) => {
      if (a === 'pull') return 'pull needs get on registryimages';
      if (a === 'delete') return 'delete needs delete on registryimages';
      if (a === 'push') return 'push is never given to a registry token from the cluster (push as a RegistryUser)';
      return `${JSON.stringify(a)} is not an action a registry token from the cluster carries`;
    })
    .join('; ');
}

type Admitted = Exclude<RegistryRelation, { kind: 'none' }>;

function decideRepository(relation: Admitted, scope: ResourceScope, permissions: ImagePermissions): TokenScopeDecision {
  const name = JSON.stringify(scope.name);
  if (relation.kind === 'delegated') {
    // `${user}` in a prefix means a RegistryUser's name; a Kubernetes user is not one, so it matches nothing.
    const parts = scope.name.split('/');
    const inside = relation.prefixes.some((prefix) => matchesParts(compilePattern(prefix), parts, undefined));
    if (!inside) {
      const list = relation.prefixes.map((p) => JSON.stringify(p)).join(', ');
      return decided(
        scope,
        [],
        `repository ${name} is outside the prefixes Registry ${relation.registry} delegates to namespace ${relation.namespace}: ${list}`,
      );
    }
  }
  const granted = repositoryActions(scope.actions, permissions);
  const refused = withheld(scope.actions, granted);
  if (granted.length === 0) return decided(scope, [], `nothing on repository ${name}: ${refused}`);
  const given = `${granted.join(',')} on repository ${name}`;
  return decided(scope, granted, refused === '' ? given : `${given}; withheld: ${refused}`);
}

function decideCatalog(relation: Admitted, scope: ResourceScope, permissions: ImagePermissions): TokenScopeDecision {
  if (relation.kind === 'delegated') {
    return decided(
      scope,
      [],
      `the catalog lists every repository of Registry ${relation.registry}, beyond the prefixes of namespace ${relation.namespace}: ` +
        "it is given only in the Registry's own namespace",
    );
  }
  if (!permissions.read) return decided(scope, [], 'the catalog needs get on registryimages');
  if (!scope.actions.includes('*')) return decided(scope, [], 'the catalog is asked for as registry:catalog:*');
  return decided(scope, ['*'], 'the catalog, in the Registry namespace');
}

function decideScope(relation: RegistryRelation, scope: ResourceScope, permissions: ImagePermissions): TokenScopeDecision {
  if (relation.kind === 'none') {
    return decided(scope, [], `Registry ${relation.registry} does not admit namespace ${relation.namespace}: ask in its namespace or a delegated one`);
  }
  if (scope.type === 'repository') return decideRepository(relation, scope, permissions);
  if (scope.type === CATALOG.type && scope.name === CATALOG.name && scope.class === undefined) return decideCatalog(relation, scope, permissions);
  return decided(
    scope,
    [],
    `scope type ${JSON.stringify(scope.type)} with name ${JSON.stringify(scope.name)} is not something a registry token from the cluster carries`,
  );
}

/** The access a registry token carries for a caller with `permissions`, asking through `relation`. */
export function registryTokenAccess(relation: RegistryRelation, scopes: readonly ResourceScope[], permissions: ImagePermissions): RegistryTokenAccess {
  const decisions = scopes.map((scope) => decideScope(relation, scope, permissions));
  const access = decisions.filter((d) => d.granted.length > 0).map((d) => ({ ...d.scope, actions: d.granted }));
  return { access, decisions };
}
