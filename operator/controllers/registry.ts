// One reconcile per Registry key: read everything from informer caches, resolve credentials (bcrypt
// only when a password Secret's content changed), compileSnapshot, then publish
//   ConfigMap(s) portcullis-<registry>-snapshot[-<gen>-<i>]   the snapshot (chunked, manifest last)
//   Secret(s)    portcullis-<registry>-credentials[...]       credentials.json + sources.json
// and write statuses and Events. Every write is skipped when the cluster already shows the content,
// so resyncs and restarts are silent.
//
// sources.json maps each RegistryUser to {sourceVersion, hash}: the operator's memory of which Secret
// content each hash came from. It lives in the owned Secret so a restarted (or newly elected) operator
// reuses the hashes instead of re-running bcrypt for every user.
//
// Secrets are cached cluster-wide (or in the watch namespace) without a label filter: users reference
// arbitrary Secrets by name, and a filtered cache would miss a Secret the moment a user starts pointing at
// it. Data of Secret types that can never hold a password (service-account tokens, Helm releases) is
// dropped by the informer's transform to bound memory.

import type { Logger } from 'pino';
import { resolveCredential } from '../../credentials/resolve.js';
import type { NamespaceInfo, RegistryResource, RegistryUserResource, RepositoryGrantResource, SecretResource } from '../../crds/types.js';
import { API_VERSION } from '../../crds/types.js';
import { ConditionTypes, Reasons } from '../../policy/reasons.js';
import { compileSnapshot, type ObjectStatus, type ResolvedCredential } from '../../policy/snapshot.js';
import { serializeCredentials, serializeSnapshot } from '../../policy/snapshot-format.js';
import { assembleChunks, sha256Hex, type ChunkLimits } from '../chunked.js';
import type { Informer } from '../informer.js';
import { controllerReference, Labels } from '../kube/apply.js';
import type { EventRecorder } from '../kube/events.js';
import { Resources, type KubeClient, type ResourceType } from '../kube/request.js';
import { statusUpdate, writeStatus } from '../kube/status.js';
import type { ReconcileResult } from '../reconciler.js';
import { mainValues, partBytes, publishChunked, type StoreKind, type StoredObject } from './publish.js';

export interface NamespaceObject {
  metadata: { name: string; labels?: Record<string, string>; resourceVersion?: string };
}

export interface RegistryCaches {
  registries: Informer<RegistryResource>;
  users: Informer<RegistryUserResource>;
  grants: Informer<RepositoryGrantResource>;
  namespaces: Informer<NamespaceObject>;
  /** Password Secrets (and the owned ones): see the file comment. */
  secrets: Informer<SecretResource & StoredObject>;
  /** ConfigMaps labelled managed-by=portcullis-operator. */
  configMaps: Informer<StoredObject & { metadata: { name: string; namespace?: string } }>;
}

export interface RegistryControllerOptions {
  client: KubeClient;
  caches: RegistryCaches;
  events: EventRecorder;
  log: Logger;
  bcryptCost?: number;
  chunkLimits?: ChunkLimits;
  /** Concurrent status writes per reconcile. */
  writeConcurrency?: number;
  now?: () => Date;
}

export const SNAPSHOT_FILE = 'snapshot.json';
export const CREDENTIALS_FILE = 'credentials.json';
export const SOURCES_FILE = 'sources.json';

export function snapshotConfigMapName(registry: string): string {
  return `portcullis-${registry}-snapshot`;
}

export function credentialsSecretName(registry: string): string {
  return `portcullis-${registry}-credentials`;
}

/** `namespace/name` of the Registry an object refers to (registryRef.namespace defaults to its own). */
export function registryKeyOf(object: RegistryUserResource | RepositoryGrantResource): string {
  const ref = object.spec?.registryRef;
  return `${ref?.namespace ?? object.metadata.namespace ?? 'default'}/${ref?.name ?? ''}`;
}

export function keyOf(object: { metadata: { name: string; namespace?: string } }): string {
  return `${object.metadata.namespace ?? 'default'}/${object.metadata.name}`;
}

type SourceRecord = { sourceVersion: string; hash: string };

const KIND_RESOURCE: Record<ObjectStatus['kind'], ResourceType> = {
  Registry: Resources.registries,
  RegistryUser: Resources.registryUsers,
  RepositoryGrant: Resources.repositoryGrants,
};

/** Runs `fn` over `items`, at most `limit` at a time. */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>, stop: () => boolean = () => false): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && !stop()) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function readyOf(conditions: { type: string; status: string; reason: string; message: string }[] | undefined) {
  return conditions?.find((c) => c.type === ConditionTypes.Ready);
}

export class RegistryController {
  /** Per registry key: per RegistryUser key, which Secret content its hash came from. */
  private readonly sources = new Map<string, Map<string, SourceRecord>>();
  private readonly now: () => Date;
  private stopping = false;

  constructor(private readonly options: RegistryControllerOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Called when this replica loses (or gives up) the Lease: an in-flight reconcile stops writing
   * statuses, so a first start's thousands of status writes neither delay the hand-over nor race the
   * new leader. Whatever was skipped is written by whichever replica leads next.
   */
  stopWriting(): void {
    this.stopping = true;
  }

  /** Called when this replica starts leading (again). */
  startWriting(): void {
    this.stopping = false;
  }

  private get caches(): RegistryCaches {
    return this.options.caches;
  }

  readonly reconcile = async (key: string): Promise<ReconcileResult | void> => {
    const { caches } = this;
    const { log } = this.options;
    const [namespace = 'default', name = ''] = key.split('/', 2);
    const registry = caches.registries.get(key);
    const users = caches.users.list().filter((u) => registryKeyOf(u) === key);
    const grants = caches.grants.list().filter((g) => registryKeyOf(g) === key);

    const credentials = await this.resolveCredentials(key, registry, users);
    const namespaces: NamespaceInfo[] = caches.namespaces.list().map((n) => ({ name: n.metadata.name, labels: n.metadata.labels ?? {} }));
    const result = compileSnapshot({ registries: caches.registries.list(), users, grants, namespaces, credentials });
    const compiled = result.registries.find((r) => r.id === key);

    let snapshotWritten = false;
    if (registry && compiled) {
      const owner = controllerReference(registry);
      const records = this.sources.get(key) ?? new Map<string, SourceRecord>();
      const sourcesJson = JSON.stringify(Object.fromEntries([...records].sort(([a], [b]) => (a < b ? -1 : 1))));
      const credentialsJson = serializeCredentials(compiled.credentials);
      // Credentials first: a token server that then sees the new snapshot finds the hashes it refers to.
      const secretName = credentialsSecretName(name);
      await publishChunked(
        this.options.client,
        { kind: 'Secret', namespace, name: secretName, registryName: name, owner },
        sha256Hex(`${credentialsJson}\0${sourcesJson}`),
        { [CREDENTIALS_FILE]: credentialsJson, [SOURCES_FILE]: sourcesJson },
        this.cachedObjects('Secret', namespace, secretName),
        this.options.chunkLimits,
      );
      const cmName = snapshotConfigMapName(name);
      const published = await publishChunked(
        this.options.client,
        { kind: 'ConfigMap', namespace, name: cmName, registryName: name, owner },
        compiled.snapshot.generation,
        { [SNAPSHOT_FILE]: serializeSnapshot(compiled.snapshot) },
        this.cachedObjects('ConfigMap', namespace, cmName),
        this.options.chunkLimits,
      );
      snapshotWritten = published.wrote;
      if (published.wrote) {
        const policy = compiled.snapshot.registries[0];
        const note = `published snapshot generation ${compiled.snapshot.generation.slice(0, 12)}: ${policy?.users.length ?? 0} users, ${policy?.grants.length ?? 0} grants, ${published.plan.parts.length} parts`;
        log.info({ registry: key, generation: compiled.snapshot.generation, parts: published.plan.parts.length }, 'snapshot published');
        await this.options.events.record(registry, 'Normal', Reasons.SnapshotPublished, note);
      }
    }

    await this.writeStatuses(key, registry, users, grants, result.statuses, compiled?.snapshot.generation, snapshotWritten);
  };

  private cachedObjects(kind: StoreKind, namespace: string, mainName: string): { main: StoredObject | undefined; parts: StoredObject[] } {
    const informer = (kind === 'Secret' ? this.caches.secrets : this.caches.configMaps) as Informer<StoredObject & { metadata: { name: string } }>;
    const parts = informer.list().filter((o) => o.metadata.namespace === namespace && o.metadata.labels?.[Labels.partOf] === mainName);
    return { main: informer.get(`${namespace}/${mainName}`), parts };
  }

  /** The previous run's records: from memory, or (after a restart) from the owned credentials Secret. */
  private knownSources(key: string, registry: RegistryResource | undefined): Map<string, SourceRecord> {
    const known = this.sources.get(key);
    if (known) return known;
    const records = new Map<string, SourceRecord>();
    if (!registry) return records;
    const [namespace = 'default', name = ''] = key.split('/', 2);
    const cached = this.cachedObjects('Secret', namespace, credentialsSecretName(name));
    if (!cached.main) return records;
    try {
      const byName = new Map(cached.parts.map((p) => [p.metadata.name, p]));
      const assembled = assembleChunks(mainValues('Secret', cached.main), (n) => {
        const part = byName.get(n);
        return part && partBytes('Secret', part);
      });
      if (assembled.complete && assembled.files[SOURCES_FILE] !== undefined) {
        for (const [user, record] of Object.entries(JSON.parse(assembled.files[SOURCES_FILE]) as Record<string, SourceRecord>)) {
          if (typeof record?.sourceVersion === 'string' && typeof record.hash === 'string') records.set(user, record);
        }
      }
    } catch (error) {
      // Unreadable bookkeeping only costs a re-hash; it is rewritten by this reconcile.
      this.options.log.warn({ registry: key, err: error instanceof Error ? error.message : String(error) }, 'ignoring unreadable credentials bookkeeping');
    }
    return records;
  }

  private async resolveCredentials(key: string, registry: RegistryResource | undefined, users: RegistryUserResource[]): Promise<Map<string, ResolvedCredential>> {
    const previous = this.knownSources(key, registry);
    const next = new Map<string, SourceRecord>();
    const credentials = new Map<string, ResolvedCredential>();
    await forEachLimited(users, 8, async (user) => {
      const userKey = keyOf(user);
      const secretName = user.spec?.passwordSecretRef?.name ?? '';
      const secret = this.caches.secrets.get(`${user.metadata.namespace ?? 'default'}/${secretName}`);
      const before = previous.get(userKey);
      const resolved = await resolveCredential(user, secret, {
        ...(this.options.bcryptCost !== undefined ? { cost: this.options.bcryptCost } : {}),
        ...(before ? { previous: before } : {}),
      });
      credentials.set(userKey, resolved.credential);
      if ('hash' in resolved.credential && resolved.sourceVersion !== '') next.set(userKey, { sourceVersion: resolved.sourceVersion, hash: resolved.credential.hash });
    });
    if (registry) this.sources.set(key, next);
    else this.sources.delete(key);
    return credentials;
  }

  private async writeStatuses(
    key: string,
    registry: RegistryResource | undefined,
    users: RegistryUserResource[],
    grants: RepositoryGrantResource[],
    statuses: ObjectStatus[],
    generation: string | undefined,
    snapshotWritten: boolean,
  ): Promise<void> {
    const objects = new Map<string, RegistryResource | RegistryUserResource | RepositoryGrantResource>();
    if (registry) objects.set(`Registry/${key}`, registry);
    for (const u of users) objects.set(`RegistryUser/${keyOf(u)}`, u);
    for (const g of grants) objects.set(`RepositoryGrant/${keyOf(g)}`, g);
    const work = statuses.flatMap((status) => {
      const object = objects.get(`${status.kind}/${status.namespace}/${status.name}`);
      if (!object) return [];
      const extra: Record<string, unknown> = {};
      if (status.kind === 'Registry') {
        if (status.counts) Object.assign(extra, status.counts);
        if (generation !== undefined) extra.snapshotGeneration = generation;
      }
      const update = statusUpdate(object.status, { ...(status.observedGeneration !== undefined ? { observedGeneration: status.observedGeneration } : {}), conditions: status.conditions, extra }, this.now());
      return update ? [{ status, object, update }] : [];
    });
    await forEachLimited(work, this.options.writeConcurrency ?? 16, async ({ status, object, update }) => {
      await writeStatus(this.options.client, { resource: KIND_RESOURCE[status.kind], apiVersion: API_VERSION, kind: status.kind }, status.namespace, status.name, update);
      const before = readyOf(object.status?.conditions);
      const after = readyOf(status.conditions);
      if (after && (before?.status !== after.status || before.reason !== after.reason) && !(status.kind === 'Registry' && snapshotWritten && after.status === 'True')) {
        await this.options.events.record(
          { apiVersion: API_VERSION, kind: status.kind, metadata: object.metadata },
          after.status === 'True' ? 'Normal' : 'Warning',
          after.reason,
          after.message,
        );
      }
    }, () => this.stopping);
  }
}
