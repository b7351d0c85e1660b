// Where an operator confined by a namespace list (--registry-namespaces, --retention-namespaces) acts:
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
