// The aggregated API's group, version and resources: one definition that discovery, the request
// router, the objects it returns, the SubjectAccessReviews it asks and `portcullis audit` all use.
// A resource added later (registrytokens, verb create) is one more entry in RESOURCES.

export const GROUP = 'activity.portcullis.dev';
export const VERSION = 'v1alpha1';
export const GROUP_VERSION = `${GROUP}/${VERSION}`;
/** Where the group version is served, through the kube-apiserver or directly. */
export const GROUP_VERSION_PATH = `/apis/${GROUP_VERSION}`;

export interface ApiResource {
  /** The plural, as in URLs and RBAC rules. */
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
}

export const REGISTRY_EVENTS: ApiResource = {
  name: 'registryevents',
  singularName: 'registryevent',
  namespaced: true,
  kind: 'RegistryEvent',
  verbs: ['get', 'list'],
  shortNames: ['regev'],
  categories: ['portcullis'],
};

/** Created, never stored (so never listed or read back): a short-lived registry token (registry-tokens.ts). */
export const REGISTRY_TOKENS: ApiResource = {
  name: 'registrytokens',
  singularName: 'registrytoken',
  namespaced: true,
  kind: 'RegistryToken',
  verbs: ['create'],
  categories: ['portcullis'],
};

export const RESOURCES: readonly ApiResource[] = [REGISTRY_EVENTS, REGISTRY_TOKENS];

/** The collection path of a namespaced resource in `namespace`. */
export function namespacedPath(resource: ApiResource, namespace: string): string {
  return `${GROUP_VERSION_PATH}/namespaces/${encodeURIComponent(namespace)}/${resource.name}`;
}
