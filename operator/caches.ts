// Every informer the operator runs, in one place: started with the process (a newly elected leader
// has warm caches) and shared by both controllers. Events only say "look again"; the reconciles read
// the caches. Secrets are watched as metadata only: the password Secrets users name are read one by one
// (controllers/password-hashes.ts); only the operator's own Secrets are cached with their data.
// "Own" is a label anyone who may create a ConfigMap or Secret can set: with --registry-namespaces the
// labelled objects are watched only in the namespaces the operator writes in (one watch each), so
// labelled objects elsewhere, however many and however large, never reach this process. The same holds
// for Deployments: a Registry's is in its own namespace, so only those namespaces' are watched. With
// --secret-namespaces the Secret metadata is watched likewise, one watch per namespace given, so the
// operator needs no right to read Secrets anywhere else.

import type { KubeConnection } from '../kube/connection.js';
import type { Logger } from 'pino';
import type { NamespaceInfo, RegistryResource, RegistryUserResource, RepositoryGrantResource, RetentionPolicyResource } from '../crds/types.js';
import { Informer, type InformerEvent, type KubeObject } from '../kube/informer.js';
import { NamespacedCaches, NamespacedVersionedCaches, type NamespacePresence, type ObjectCache, type VersionedCache } from '../kube/object-cache.js';
import { Resources, type KubeClient, type ResourceType } from '../kube/request.js';
import type { StoredObject } from '../wire/chunked.js';
import { MANAGED_SELECTOR } from '../wire/labels.js';
import { deployments, type Deployment } from './controllers/deployment.js';
import type { SecretMetadata } from './controllers/password-hashes.js';
import type { NamespaceObject, RegistryCaches } from './controllers/registry.js';

export interface OperatorCaches extends RegistryCaches {
  /**
   * Deployments where Registries are served: the keys controller watches the rollouts of the ones
   * Registries name (always in the Registry's namespace).
   */
  deployments: ObjectCache<Deployment & KubeObject>;
  /** RetentionPolicies: the retention controller schedules them (controllers/retention/). */
  retentionPolicies: Informer<RetentionPolicyResource>;
}

type Owned = StoredObject & { metadata: { name: string } };

export function createCaches(options: {
  kc: KubeConnection;
  client: KubeClient;
  log: Logger;
  namespace?: string;
  /** servedNamespaces() (served-namespaces.ts): where the owned ConfigMaps and Secrets are watched; undefined: the watch scope. */
  registryNamespaces?: readonly string[];
  /** secretNamespaces() (served-namespaces.ts): where Secret metadata is watched; undefined: the watch scope. */
  secretNamespaces?: readonly string[];
  resyncMs?: number;
}): OperatorCaches {
  const { kc, client, log } = options;
  const ns = options.namespace === undefined ? {} : { namespace: options.namespace };
  const make = <T extends KubeObject>(
    resource: ResourceType,
    extra: { namespace?: string; labelSelector?: string; metadataOnly?: boolean } = {},
  ): Informer<T> => {
    const informer = new Informer<T>({ kc, client, resource, ...extra, ...(options.resyncMs ? { resyncMs: options.resyncMs } : {}) });
    const where = { resource: resource.plural, ...(extra.namespace === undefined ? {} : { namespace: extra.namespace }) };
    informer.on((event: InformerEvent<T>) => logLifecycle(log, where, event));
    return informer;
  };
  // Delegation selects namespaces by label, so namespaces are always watched cluster-wide. The same watch
  // says which listed namespaces exist: one deleted (its RoleBinding with it) must not hold the others.
  const namespaces = make<NamespaceObject>(Resources.namespaces);
  const presence = namespacePresence(namespaces);
  const scope = options.registryNamespaces;
  // Only where Registries are served: one watch per namespace there, or the whole watch scope.
  const served = <T extends KubeObject>(resource: ResourceType, extra: { labelSelector?: string } = {}): ObjectCache<T> =>
    scope === undefined
      ? make<T>(resource, { ...ns, ...extra })
      : new NamespacedCaches(new Map(scope.map((n) => [n, make<T>(resource, { namespace: n, ...extra })])), presence);
  const owned = (resource: ResourceType): ObjectCache<Owned> => served<Owned>(resource, { labelSelector: MANAGED_SELECTOR });
  const secretScope = options.secretNamespaces;
  const secretMetadata: VersionedCache<SecretMetadata> =
    secretScope === undefined
      ? make<SecretMetadata>(Resources.secrets, { ...ns, metadataOnly: true })
      : new NamespacedVersionedCaches(
          new Map(secretScope.map((n) => [n, make<SecretMetadata>(Resources.secrets, { namespace: n, metadataOnly: true })])),
          presence,
        );
  return {
    registries: make<RegistryResource>(Resources.registries, ns),
    users: make<RegistryUserResource>(Resources.registryUsers, ns),
    grants: make<RepositoryGrantResource>(Resources.repositoryGrants, ns),
    namespaces,
    secretMetadata,
    ownedSecrets: owned(Resources.secrets),
    configMaps: owned(Resources.configMaps),
    // Everyone's Deployments, pod templates and all, are many and may carry secrets in their env: a
    // Registry names one in its own namespace, so only served namespaces are watched.
    deployments: served<Deployment & KubeObject>(deployments),
    retentionPolicies: make<RetentionPolicyResource>(Resources.retentionPolicies, ns),
  };
}

/**
 * Which namespaces exist, from the namespaces' watch (its keys are the names). A terminating namespace
 * counts as gone: its RoleBindings may be deleted before it is, and one stuck terminating (a finalizer,
 * an unavailable APIService) would otherwise hold the operator up as a deleted one did.
 */
export function namespacePresence(namespaces: Pick<Informer<NamespaceObject>, 'hasSynced' | 'waitForSync' | 'get' | 'on'>): NamespacePresence {
  return {
    get hasSynced() {
      return namespaces.hasSynced;
    },
    waitForSync: () => namespaces.waitForSync(),
    exists: (namespace) => {
      const found = namespaces.get(namespace);
      return found !== undefined && found.metadata.deletionTimestamp === undefined;
    },
    onChange: (listener) =>
      namespaces.on((e) => {
        if (e.type === 'added' || e.type === 'updated' || e.type === 'deleted' || e.type === 'relisted') listener();
      }),
  };
}

/** Every namespace's labels, as delegation (admissionOf) reads them. */
export function namespaceInfos(caches: Pick<OperatorCaches, 'namespaces'>): Map<string, NamespaceInfo> {
  return new Map(caches.namespaces.list().map((n) => [n.metadata.name, { name: n.metadata.name, labels: n.metadata.labels ?? {} }]));
}

export function allInformers(caches: OperatorCaches): Map<string, ObjectCache<KubeObject>> {
  return new Map(Object.entries(caches) as [string, ObjectCache<KubeObject>][]);
}

function logLifecycle<T>(log: Logger, where: { resource: string; namespace?: string }, event: InformerEvent<T>): void {
  switch (event.type) {
    case 'connected':
      log.debug({ ...where, resourceVersion: event.resourceVersion }, 'watch connected');
      return;
    case 'relisted':
      log.info({ ...where, reason: event.reason, count: event.count }, 'listed');
      return;
    case 'error': {
      const fields = { ...where, attempt: event.attempt, retryInMs: Math.round(event.retryInMs), err: event.error.message };
      // A watch that keeps failing (a namespace named in --secret-namespaces that has no RoleBinding yet)
      // retries every 30 s for as long as it lasts: its first failures and every tenth after are warnings,
      // the rest debug lines, so a long misconfiguration does not drown the log (/readyz names it throughout).
      if (warnsAtAttempt(event.attempt)) log.warn(fields, 'watch failed; retrying');
      else log.debug(fields, 'watch failed; retrying');
      return;
    }
    default:
      return;
  }
}

/** Whether the n-th consecutive failure of a watch is logged as a warning: the first three, then every tenth. */
export function warnsAtAttempt(attempt: number): boolean {
  return attempt <= 3 || attempt % 10 === 0;
}
