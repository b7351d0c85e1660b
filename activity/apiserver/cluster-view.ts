// The cluster as the query API needs it: Registries (name and delegation only) and Namespaces (labels
// only, read as metadata), each kept by an informer, so answering a list costs no API call.

import type { KubeConfig } from '@kubernetes/client-node';
import type { Delegation, NamespaceInfo } from '../../crds/types.js';
import { Informer, type InformerEvent, type KubeObject } from '../../kube/informer.js';
import { Resources, type KubeClient } from '../../kube/request.js';
import { visibleRegistries, type VisibleRegistry } from './visibility.js';

interface RegistryObject extends KubeObject {
  spec?: { delegation?: Delegation[] };
}

interface NamespaceObject extends KubeObject {
  metadata: KubeObject['metadata'] & { labels?: Record<string, string> };
}

export interface ClusterView {
  /** The Registries whose events a list in `namespace` may return. */
  visibleFrom(namespace: string): VisibleRegistry[];
  /** Every Registry, unrestricted (a list across all namespaces shows each event once, at home). */
  all(): VisibleRegistry[];
  synced(): boolean;
  start(): void;
  /** Resolves once both informers have listed. */
  waitForSync(): Promise<void>;
  stop(): Promise<void>;
}

export function clusterView(options: { kc: KubeConfig; client: KubeClient; onError: (what: string, error: Error) => void }): ClusterView {
  const registries = new Informer<RegistryObject>({
    kc: options.kc,
    client: options.client,
    resource: Resources.registries,
    // Nothing but the delegation is read: the rest of the spec (and status) is not kept.
    transform: (r) => ({ metadata: r.metadata, spec: { delegation: r.spec?.delegation ?? [] } }),
  });
  const namespaces = new Informer<NamespaceObject>({ kc: options.kc, client: options.client, resource: Resources.namespaces, metadataOnly: true });
  const report =
    (what: string) =>
    (event: InformerEvent<unknown>): void => {
      if (event.type === 'error') options.onError(what, event.error);
    };
  registries.on(report('Registries'));
  namespaces.on(report('Namespaces'));

  return {
    visibleFrom(namespace) {
      // Admission reads only the asking namespace's labels.
      const own = namespaces.get(namespace);
      const labels = new Map<string, NamespaceInfo>(own === undefined ? [] : [[namespace, { name: namespace, labels: own.metadata.labels ?? {} }]]);
      const delegations = registries
        .list()
        .map((r) => ({ namespace: r.metadata.namespace ?? '', name: r.metadata.name, delegation: r.spec?.delegation ?? [] }));
      return visibleRegistries(namespace, delegations, labels);
    },
    all() {
      return registries
        .list()
        .map((r) => ({ registry: `${r.metadata.namespace ?? ''}/${r.metadata.name}` }))
        .sort((a, b) => (a.registry < b.registry ? -1 : a.registry > b.registry ? 1 : 0));
    },
    synced: () => registries.hasSynced && namespaces.hasSynced,
    start() {
      registries.start();
      namespaces.start();
    },
    async waitForSync() {
      await Promise.all([registries.waitForSync(), namespaces.waitForSync()]);
    },
    async stop() {
      await Promise.all([registries.stop(), namespaces.stop()]);
    },
  };
}
