// Every informer the operator runs, in one place: started with the process (a newly elected leader
// has warm caches) and shared by both controllers. Events only say "look again"; the reconciles read
// the caches. Secrets are watched as metadata only: the password Secrets users name are read one by one
// (controllers/password-hashes.ts); only the operator's own Secrets are cached with their data.

import type { KubeConnection } from '../kube/connection.js';
import type { Logger } from 'pino';
import type { NamespaceInfo, RegistryResource, RegistryUserResource, RepositoryGrantResource, RetentionPolicyResource } from '../crds/types.js';
import { Informer, type InformerEvent, type KubeObject } from '../kube/informer.js';
import { Resources, type KubeClient, type ResourceType } from '../kube/request.js';
import type { StoredObject } from '../wire/chunked.js';
import { MANAGED_SELECTOR } from '../wire/labels.js';
import { deployments, type Deployment } from './controllers/deployment.js';
import type { SecretMetadata } from './controllers/password-hashes.js';
import type { NamespaceObject, RegistryCaches } from './controllers/registry.js';

export interface OperatorCaches extends RegistryCaches {
  /** Deployments in scope: the keys controller watches the rollouts of the ones Registries name. */
  deployments: Informer<Deployment & KubeObject>;
  /** RetentionPolicies: the retention controller schedules them (controllers/retention/). */
  retentionPolicies: Informer<RetentionPolicyResource>;
}

export function createCaches(options: { kc: KubeConnection; client: KubeClient; log: Logger; namespace?: string; resyncMs?: number }): OperatorCaches {
  const { kc, client, log } = options;
  const ns = options.namespace === undefined ? {} : { namespace: options.namespace };
  const make = <T extends KubeObject>(
    resource: ResourceType,
    extra: { namespace?: string; labelSelector?: string; metadataOnly?: boolean } = {},
  ): Informer<T> => {
    const informer = new Informer<T>({ kc, client, resource, ...extra, ...(options.resyncMs ? { resyncMs: options.resyncMs } : {}) });
    informer.on((event: InformerEvent<T>) => logLifecycle(log, resource.plural, event));
    return informer;
  };
  return {
    registries: make<RegistryResource>(Resources.registries, ns),
    users: make<RegistryUserResource>(Resources.registryUsers, ns),
    grants: make<RepositoryGrantResource>(Resources.repositoryGrants, ns),
    // Delegation selects namespaces by label, so namespaces are always watched cluster-wide.
    namespaces: make<NamespaceObject>(Resources.namespaces),
    secretMetadata: make<SecretMetadata>(Resources.secrets, { ...ns, metadataOnly: true }),
    ownedSecrets: make<StoredObject & { metadata: { name: string } }>(Resources.secrets, { ...ns, labelSelector: MANAGED_SELECTOR }),
    configMaps: make<StoredObject & { metadata: { name: string } }>(Resources.configMaps, { ...ns, labelSelector: MANAGED_SELECTOR }),
    deployments: make<Deployment & KubeObject>(deployments, ns),
    retentionPolicies: make<RetentionPolicyResource>(Resources.retentionPolicies, ns),
  };
}

/** Every namespace's labels, as delegation (admissionOf) reads them. */
export function namespaceInfos(caches: Pick<OperatorCaches, 'namespaces'>): Map<string, NamespaceInfo> {
  return new Map(caches.namespaces.list().map((n) => [n.metadata.name, { name: n.metadata.name, labels: n.metadata.labels ?? {} }]));
}

export function allInformers(caches: OperatorCaches): Map<string, Informer<KubeObject>> {
  return new Map(Object.entries(caches) as [string, Informer<KubeObject>][]);
}

function logLifecycle<T>(log: Logger, resource: string, event: InformerEvent<T>): void {
  switch (event.type) {
    case 'connected':
      log.debug({ resource, resourceVersion: event.resourceVersion }, 'watch connected');
      return;
    case 'relisted':
      log.info({ resource, reason: event.reason, count: event.count }, 'listed');
      return;
    case 'error':
      log.warn({ resource, attempt: event.attempt, retryInMs: Math.round(event.retryInMs), err: event.error.message }, 'watch failed; retrying');
      return;
    case 'gaveUp':
      log.error({ resource, err: event.error.message }, 'watch gave up');
      return;
    default:
      return;
  }
}
