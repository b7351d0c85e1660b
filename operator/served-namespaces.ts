// Where an operator confined by a namespace list (--registry-namespaces, --retention-namespaces,
// --secret-namespaces) acts:
// the list, narrowed to the watched namespace (--namespace) when both are given. One rule for every such
// flag, so the Registry and retention confinements cannot disagree about what a list means.

/**
 * The namespaces the operator acts in for `flag`: `listed` narrowed to `namespace` when both are given;
 * undefined without `listed`, for the whole watch scope. Throws when nothing would be left to serve.
 */
export function servedNamespaces(namespace: string | undefined, listed: readonly string[] | undefined, flag = '--registry-namespaces'): string[] | undefined {
  if (listed === undefined) return undefined;
  const unique = [...new Set(listed)];
  if (unique.length === 0) throw new Error(`${flag} needs at least one namespace`);
  if (namespace === undefined) return unique;
  if (!unique.includes(namespace)) throw new Error(`--namespace ${namespace} is not among ${flag} ${unique.join(',')}: nothing it watches could be served`);
  return [namespace];
}

/** Whether the operator acts in `namespace` under a list servedNamespaces returned (undefined: everywhere). */
export function servesNamespace(served: readonly string[] | undefined, namespace: string): boolean {
  return served === undefined || served.includes(namespace);
}

/**
 * Where Secrets are read under --secret-namespaces: `listed`, narrowed as servedNamespaces narrows, and
 * every namespace where Registries are served, since a Registry's own Secrets (the LDAP bind password, the
 * S3 credentials, the operator's published ones) are in its namespace. Sorted; undefined without `listed`.
 * Throws when Registries may be anywhere (neither list nor --namespace): no list of Secret namespaces
 * could hold theirs.
 */
export function secretNamespaces(
  namespace: string | undefined,
  listed: readonly string[] | undefined,
  registryNamespaces: readonly string[] | undefined,
): string[] | undefined {
  const secrets = servedNamespaces(namespace, listed, '--secret-namespaces');
  if (secrets === undefined) return undefined;
  const registries = registryNamespaces ?? (namespace === undefined ? undefined : [namespace]);
  if (registries === undefined) {
    throw new Error('--secret-namespaces needs --registry-namespaces: the Registries hold Secrets of their own, so where they are must be known');
  }
  return [...new Set([...secrets, ...registries])].sort();
}
