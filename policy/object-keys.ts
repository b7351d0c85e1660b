// How objects are named and referred to: the one definition of an object's key, of the namespace an
// object without one is in, and of which Registry a user or grant refers to. The operator, `compile`
// and the policy core all use these, so they can never disagree about which object is which.

/** Objects without a namespace (manifests read by `compile`) are taken to be in this one, as kubectl does. */
export const DEFAULT_NAMESPACE = 'default';

interface Named {
  metadata: { name: string; namespace?: string | undefined };
}

export function namespaceOf(object: Named): string {
  return object.metadata.namespace || DEFAULT_NAMESPACE;
}

/** `namespace/name`. */
export function objectKey(object: Named): string {
  return `${namespaceOf(object)}/${object.metadata.name}`;
}

/** `namespace/name` → its parts (a key without a slash is a name in the default namespace). */
export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: DEFAULT_NAMESPACE, name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The key of the Registry a RegistryUser or RepositoryGrant refers to: `registryRef.namespace` defaults to its own. */
export function registryKeyOf(object: Named & { spec?: { registryRef?: { name?: string; namespace?: string } } }): string {
  const ref = object.spec?.registryRef;
  return `${ref?.namespace || namespaceOf(object)}/${ref?.name ?? ''}`;
}

/**
 * Whether the object refers to the Registry `registry` (what `registryKeyOf(object) === key` says), without
 * making a key: a Registry's grants are picked out of 100,000 cached ones on every grant change.
 */
export function refersToRegistry(
  object: Named & { spec?: { registryRef?: { name?: string; namespace?: string } } },
  registry: { namespace: string; name: string },
): boolean {
  const ref = object.spec?.registryRef;
  return (ref?.name ?? '') === registry.name && (ref?.namespace || namespaceOf(object)) === registry.namespace;
}
