// Which Registry keys an event on another object affects. The work item is only the key; these
// functions decide who has to look again:
// - a RegistryUser or RepositoryGrant: its registryRef (before and after an edit that moved it);
// - a Secret: every Registry with a user whose passwordSecretRef names it (kept in SecretIndex, so a
//   Secret event costs a map lookup, not a scan of all users);
// - an owned ConfigMap/Secret (someone edited or deleted it): the Registry in its label;
// - a Namespace: every Registry whose delegation selects namespaces by label;
// - a Registry: all Registries, because a service conflict between two of them changes both statuses.

import type { RegistryResource, RegistryUserResource } from '../../crds/types.js';
import { Labels } from '../../wire/labels.js';
import { DEFAULT_NAMESPACE, namespaceOf, objectKey, registryKeyOf } from '../../policy/object-keys.js';

export class SecretIndex {
  /** user key -> [secret key, registry key] */
  private readonly byUser = new Map<string, [string, string]>();
  /** secret key -> registry key -> number of users */
  private readonly bySecret = new Map<string, Map<string, number>>();

  setUser(user: RegistryUserResource): void {
    this.deleteUser(objectKey(user));
    const secret = `${namespaceOf(user)}/${user.spec?.passwordSecretRef?.name ?? ''}`;
    const registry = registryKeyOf(user);
    this.byUser.set(objectKey(user), [secret, registry]);
    const registries = this.bySecret.get(secret) ?? new Map<string, number>();
    registries.set(registry, (registries.get(registry) ?? 0) + 1);
    this.bySecret.set(secret, registries);
  }

  deleteUser(userKey: string): void {
    const entry = this.byUser.get(userKey);
    if (!entry) return;
    this.byUser.delete(userKey);
    const [secret, registry] = entry;
    const registries = this.bySecret.get(secret);
    if (!registries) return;
    const n = (registries.get(registry) ?? 1) - 1;
    if (n <= 0) registries.delete(registry);
    else registries.set(registry, n);
    if (registries.size === 0) this.bySecret.delete(secret);
  }

  registriesFor(secretKey: string): string[] {
    return [...(this.bySecret.get(secretKey)?.keys() ?? [])];
  }
}

/** The Registry an owned object belongs to, from its label; undefined for objects we do not own. */
export function ownerRegistryKey(object: { metadata: { namespace?: string; labels?: Record<string, string> } }): string | undefined {
  const name = object.metadata.labels?.[Labels.registry];
  return name ? `${object.metadata.namespace || DEFAULT_NAMESPACE}/${name}` : undefined;
}

export function selectsNamespacesByLabel(registry: RegistryResource): boolean {
  return (registry.spec?.delegation ?? []).some((d) => d.namespaces?.from === 'Selector');
}
