// One reconcile per Registry key: read everything from informer caches, resolve the password hashes of
// the admitted users (see password-hashes.ts), compileSnapshot, then publish
//   ConfigMap(s) portcullis-<registry>-snapshot[-<shard>-<sha>-<i>]  the snapshot (one file, or shards
//                                                              named by content: snapshot-layout.ts; manifest last)
//   Secret(s)    portcullis-<registry>-credentials[-<slot>]    credentials.json, in fixed part slots
//                                                              so the token server's RBAC can name them
//   Secret(s)    portcullis-<registry>-hash-sources[...]       sources.json: operator-only bookkeeping
// and write statuses and Events. Every write is skipped when the cluster already shows the content,
// so resyncs and restarts are silent.
//
// sources.json maps each RegistryUser to {sourceVersion, hash}: which Secret version each hash came
// from. It lives in an owned Secret the token server cannot read, so a restarted (or newly elected)
// operator reuses the hashes instead of re-running bcrypt for every user.

import type { Logger } from 'pino';
import type { NamespaceInfo, RegistryResource, RegistryUserResource, RepositoryGrantResource } from '../../crds/types.js';
import type { Informer } from '../../kube/informer.js';
import type { ObjectCache, VersionedCache } from '../../kube/object-cache.js';
import type { KubeClient } from '../../kube/request.js';
import { namespaceOf, objectKey, splitKey } from '../../policy/object-keys.js';
import { ConditionTypes, Reasons } from '../../policy/reasons.js';
import { IncrementalCompiler } from '../../policy/incremental-compile.js';
import { ShardPlanner } from '../../policy/snapshot-shard-planner.js';
import { bindPasswordSecretRef, type CompileResult, type ResolvedIdentitySecrets, type UnservedRegistries } from '../../policy/snapshot.js';
import { resolveBindPassword } from '../../credentials/resolve.js';
import {
  assembleChunks,
  DEFAULT_CHUNK_LIMITS,
  mainValues,
  partBytes,
  TooLargeError,
  type ChunkLimits,
  type StoreKind,
  type StoredObject,
} from '../../wire/chunked.js';
import { CREDENTIALS_FILE, HASH_SOURCES_FILE } from '../../wire/files.js';
import { Labels } from '../../wire/labels.js';
import { CREDENTIAL_PARTS, credentialsPartName, credentialsSecretName, hashSourcesSecretName, snapshotConfigMapName } from '../../wire/names.js';
import type { ReconcileResult } from '../reconciler.js';
import { controllerReference } from '../writes/apply.js';
import type { EventRecorder } from '../writes/events.js';
import { StatusQueue } from '../writes/status-queue.js';
import { statusComparisons, submitObjectStatuses } from './object-statuses.js';
import { PasswordHashes, type HashSource, type SecretMetadata } from './password-hashes.js';
import { publishChunked, type PublishTarget } from './publish.js';
import { PublishedDocuments } from './published-documents.js';
import { RegistryLists } from './registry-lists.js';
import type { OwnWrites } from '../own-writes.js';
import { GzipMemo, snapshotFiles } from './snapshot-layout.js';
import { PhaseTimer } from '../phase-timer.js';
import { OperatorLogMessages } from '../log-messages.js';
import { servesNamespace } from '../served-namespaces.js';

export interface NamespaceObject {
  /** deletionTimestamp: set while the namespace terminates (its RoleBindings may already be gone). */
  metadata: { name: string; labels?: Record<string, string>; resourceVersion?: string; deletionTimestamp?: string };
}

export interface RegistryCaches {
  registries: Informer<RegistryResource>;
  users: Informer<RegistryUserResource>;
  grants: Informer<RepositoryGrantResource>;
  namespaces: Informer<NamespaceObject>;
  /** Every Secret in scope (or in --secret-namespaces), metadata only: which password Secrets exist and at which version. */
  secretMetadata: VersionedCache<SecretMetadata>;
  /** Secrets labelled managed-by=portcullis-operator, with their data, in the namespaces served (caches.ts). */
  ownedSecrets: ObjectCache<StoredObject & { metadata: { name: string; namespace?: string } }>;
  /** ConfigMaps labelled managed-by=portcullis-operator, in the namespaces served. */
  configMaps: ObjectCache<StoredObject & { metadata: { name: string; namespace?: string } }>;
}

export interface RegistryControllerOptions {
  client: KubeClient;
  caches: RegistryCaches;
  events: EventRecorder;
  log: Logger;
  bcryptCost?: number;
  chunkLimits?: ChunkLimits;
  /** Status writes in flight at most (all Registries together; they run after the reconcile). Default 16. */
  writeConcurrency?: number;
  /** A status write failed: the Registry needs another reconcile (with backoff). */
  onStatusWriteFailed?: (registryKey: string, error: unknown) => void;
  /**
   * At least `drainedAfter` (default 1,000) of the Registry's statuses were written and none is left: it
   * needs one more reconcile, to take in their answers while nothing waits (writes/status-queue.ts).
   */
  onStatusesDrained?: (registryKey: string) => void;
  drainedAfter?: number;
  now?: () => Date;
  /** Remembers this controller's writes, so the triggers can tell their watch events from others' (own-writes.ts). */
  ownWrites?: OwnWrites;
  /**
   * Moves whenever a Secret some user names changes (triggers.ts, SecretIndex); without it, the Secret
   * cache's resourceVersion (its watches' versions combined), which every Secret write moves.
   */
  passwordSecretsVersion?: () => string;
  /**
   * The namespaces the operator reads and writes its objects in (--registry-namespaces, caches.ts
   * servedNamespaces); undefined: every namespace in scope. A Registry elsewhere is refused
   * (RegistryNamespaceNotServed) rather than compiled: its published objects could be neither read
   * back nor written.
   */
  registryNamespaces?: readonly string[];
  /** Where Secrets are read (--secret-namespaces, served-namespaces.ts secretNamespaces()); undefined: everywhere in scope. */
  secretNamespaces?: readonly string[];
}

/** Secrets hold up to 1 MiB of data: credential parts are larger than the ConfigMap default. */
const CREDENTIAL_CHUNK_LIMITS: ChunkLimits = { inlineLimit: 900 * 1024, partBytes: 960 * 1024 };

export class RegistryController {
  /** Per registry key: per RegistryUser key, which Secret content its hash came from. */
  private readonly sources = new Map<string, Map<string, HashSource>>();
  private readonly hashes: PasswordHashes;
  /**
   * Per registry key: the gzipped files of its last publish, per published object. The hash-sources and
   * credentials documents grow with the users and rarely change: gzipped again on every grant change, at
   * 100,000 users they were half of the reconcile (bench:operator, CPU profile).
   */
  private readonly gzipMemos = new Map<string, Record<'snapshot' | 'sources' | 'credentials', GzipMemo>>();
  /** Per registry key: its last hash-sources and credentials documents (published-documents.ts). */
  private readonly documents = new Map<string, PublishedDocuments>();
  /**
   * Per registry key: what its compiles and shard plans remember of each object, so a change costs what
   * it touched (policy/incremental-compile.ts; same output as compileSnapshot).
   */
  private readonly compilers = new Map<string, { compiler: IncrementalCompiler; planner: ShardPlanner }>();
  /** Each cached object's last status comparison (controllers/object-statuses.ts). */
  private readonly comparedStatuses = statusComparisons();
  /** Each Registry's users and grants, kept while their caches do not move (registry-lists.ts). */
  private readonly lists = new RegistryLists();
  private readonly now: () => Date;
  private readonly statusQueue: StatusQueue;

  constructor(private readonly options: RegistryControllerOptions) {
    this.now = options.now ?? (() => new Date());
    this.statusQueue = new StatusQueue({
      concurrency: options.writeConcurrency ?? 16,
      onError: (key, error) => options.onStatusWriteFailed?.(key, error),
      ...(options.onStatusesDrained === undefined ? {} : { onDrained: options.onStatusesDrained }),
      ...(options.drainedAfter === undefined ? {} : { drainedAfter: options.drainedAfter }),
    });
    this.hashes = new PasswordHashes({
      client: options.client,
      secretMetadata: (key) => options.caches.secretMetadata.get(key),
      secretsIn: (namespace) => ({
        names: new Set(
          options.caches.secretMetadata
            .list()
            .filter((s) => s.metadata.namespace === namespace)
            .map((s) => s.metadata.name),
        ),
        // That namespace's watch: with one watch per namespace, another's version would LIST the wrong state.
        resourceVersion: options.caches.secretMetadata.versionIn(namespace),
      }),
      secretsVersion: options.passwordSecretsVersion ?? (() => options.caches.secretMetadata.cacheVersion),
      log: options.log,
      ...(options.bcryptCost !== undefined ? { bcryptCost: options.bcryptCost } : {}),
      ...(options.secretNamespaces === undefined ? {} : { secretNamespaces: options.secretNamespaces }),
    });
  }

  /**
   * Called when this replica loses (or gives up) the Lease: statuses not yet written are dropped, so a
   * first start's thousands of status writes neither delay the hand-over nor race the new leader.
   * Whatever was skipped is written by whichever replica leads next. Resolves once writes in flight end.
   */
  stopWriting(): Promise<void> {
    return this.statusQueue.stop();
  }

  /** Events not recorded because 1,000 were already waiting behind status writes (writes/status-queue.ts). */
  get droppedEvents(): number {
    return this.statusQueue.droppedFollowUps;
  }

  /** Called when this replica starts leading (again). */
  startWriting(): void {
    this.statusQueue.start();
  }

  private get caches(): RegistryCaches {
    return this.options.caches;
  }

  readonly reconcile = async (key: string): Promise<ReconcileResult | void> => {
    const { caches } = this;
    const timer = new PhaseTimer();
    const registry = caches.registries.get(key);
    const users = this.lists.of(key, caches.users);
    const grants = this.lists.of(key, caches.grants);
    const namespaces: NamespaceInfo[] = caches.namespaces.list().map((n) => ({ name: n.metadata.name, labels: n.metadata.labels ?? {} }));
    const registries = caches.registries.list();
    const objects = { registries, users, grants, namespaces, ...this.unservedOf(registries) };
    timer.mark('lists');

    let incremental = this.compilers.get(key);
    if (incremental === undefined) {
      const compiler = new IncrementalCompiler();
      incremental = { compiler, planner: new ShardPlanner(compiler.entryJson) };
      this.compilers.set(key, incremental);
    }
    // Admission first: only users the snapshot will hold get their Secret looked at.
    const needed = incremental.compiler.usersNeedingCredentials(objects);
    const previous = this.knownSources(key, registry);
    const resolved = await this.hashes.resolve(key, this.lists.neededOf(key, users, needed), previous);
    if (registry) this.sources.set(key, resolved.sources);
    else {
      this.sources.delete(key);
      this.gzipMemos.delete(key);
      this.documents.delete(key);
      this.compilers.delete(key);
      this.hashes.forget(key);
      this.lists.forget(key);
    }
    timer.mark('hashes');
    const result = incremental.compiler.compile({ ...objects, credentials: resolved.credentials, identitySecrets: await this.identitySecrets(key, registry) });
    const compiled = result.registries.find((r) => r.id === key);
    timer.mark('compile');

    let snapshotWritten = false;
    if (registry && compiled) {
      try {
        snapshotWritten = await this.publish(key, registry, compiled, resolved.sources, incremental.planner);
      } catch (error) {
        if (!(error instanceof TooLargeError)) throw error;
        markTooLarge(result, key, error);
      }
    }
    timer.mark('publish');
    // Written in the background (writes/status-queue.ts): the next change need not wait for them.
    submitObjectStatuses(
      {
        client: this.options.client,
        events: this.options.events,
        now: this.now,
        queue: this.statusQueue,
        compared: this.comparedStatuses,
        ...(this.options.ownWrites === undefined ? {} : { ownWrites: this.options.ownWrites }),
      },
      { registryKey: key, registry, users, grants, statuses: result.statuses, generation: compiled?.snapshot.generation, snapshotWritten },
    );
    timer.mark('statuses');
    // Where a reconcile's time went, for `bench:operator` and for anyone asking why propagation is slow.
    if (this.options.log.isLevelEnabled('debug')) {
      this.options.log.debug(
        { registry: key, ms: timer.phases(), users: users.length, grants: grants.length, published: snapshotWritten, statusQueue: this.statusQueue.size },
        OperatorLogMessages.reconciled,
      );
    }
  };

  /** The Registries outside the namespaces served, refused with why (the compile's unservedRegistries). */
  private unservedOf(registries: readonly RegistryResource[]): { unservedRegistries?: UnservedRegistries } {
    const served = this.options.registryNamespaces;
    if (served === undefined) return {};
    const unserved = new Map<string, { reason: string; message: string }>();
    for (const r of registries) {
      const namespace = namespaceOf(r);
      if (servesNamespace(served, namespace)) continue;
      const message =
        `the operator serves Registries only in namespace(s) ${served.join(', ')} (--registry-namespaces): it can neither read nor write ` +
        `this Registry's snapshot and credentials in ${namespace}; add ${namespace} to operator.registryNamespaces`;
      unserved.set(objectKey(r), { reason: Reasons.RegistryNamespaceNotServed, message });
    }
    return { unservedRegistries: unserved };
  }

  /** The LDAP bind password the Registry names, read only when its Secret's version changed. */
  private async identitySecrets(key: string, registry: RegistryResource | undefined): Promise<Map<string, ResolvedIdentitySecrets>> {
    const ref = registry === undefined ? undefined : bindPasswordSecretRef(registry);
    if (registry === undefined || ref === undefined) return new Map();
    const secret = await this.hashes.readSecret(`${splitKey(key).namespace}/${ref.name}`);
    return new Map([[key, resolveBindPassword(registry, secret)]]);
  }

  /** Writes the hash bookkeeping, the credentials, then the snapshot; says whether the snapshot changed. */
  private async publish(
    key: string,
    registry: RegistryResource,
    compiled: CompileResult['registries'][number],
    sources: ReadonlyMap<string, HashSource>,
    planner: ShardPlanner,
  ): Promise<boolean> {
    const { namespace, name } = splitKey(key);
    const owner = controllerReference(registry);
    const target = (kind: StoreKind, main: string, extra: Partial<PublishTarget> = {}): PublishTarget => ({
      kind,
      namespace,
      name: main,
      registryName: name,
      owner,
      ...(this.options.ownWrites === undefined ? {} : { ownWrites: this.options.ownWrites }),
      ...extra,
    });
    let memos = this.gzipMemos.get(key);
    if (memos === undefined) this.gzipMemos.set(key, (memos = { snapshot: new GzipMemo(), sources: new GzipMemo(), credentials: new GzipMemo() }));
    let documents = this.documents.get(key);
    if (documents === undefined) this.documents.set(key, (documents = new PublishedDocuments()));
    const sourcesDocument = documents.sourcesDocument(sources);
    await publishChunked(
      this.options.client,
      target('Secret', hashSourcesSecretName(name)),
      sourcesDocument.digest,
      { [HASH_SOURCES_FILE]: sourcesDocument.json },
      this.cachedObjects('Secret', namespace, hashSourcesSecretName(name)),
      this.options.chunkLimits,
      memos.sources.options(false),
    );
    memos.sources.settle();
    // Credentials before the snapshot: a token server that then sees the new snapshot finds the hashes it refers to.
    const credentialsDocument = documents.credentialsDocument(key, compiled.credentials);
    const slots = { name: (i: number) => credentialsPartName(name, i), count: CREDENTIAL_PARTS };
    await publishChunked(
      this.options.client,
      target('Secret', credentialsSecretName(name), { slots }),
      credentialsDocument.digest,
      { [CREDENTIALS_FILE]: credentialsDocument.json },
      this.cachedObjects('Secret', namespace, credentialsSecretName(name)),
      this.options.chunkLimits ?? CREDENTIAL_CHUNK_LIMITS,
      memos.credentials.options(false),
    );
    memos.credentials.settle();
    // Large snapshots go out as shards named by content: a change rewrites only the shards it touched.
    const limits = this.options.chunkLimits ?? DEFAULT_CHUNK_LIMITS;
    const memo = memos.snapshot;
    const published = await publishChunked(
      this.options.client,
      target('ConfigMap', snapshotConfigMapName(name)),
      compiled.snapshot.generation,
      snapshotFiles(compiled.snapshot, limits.inlineLimit, planner, memo.byteLength),
      this.cachedObjects('ConfigMap', namespace, snapshotConfigMapName(name)),
      limits,
      memo.options(),
    );
    memo.settle();
    if (published.wrote) {
      const policy = compiled.snapshot.registries[0];
      const note =
        `published snapshot generation ${compiled.snapshot.generation.slice(0, 12)}: ` +
        `${policy?.users.length ?? 0} users, ${policy?.grants.length ?? 0} grants, ${published.plan.parts.length} parts`;
      this.options.log.info({ registry: key, generation: compiled.snapshot.generation, parts: published.plan.parts.length }, 'snapshot published');
      await this.options.events.record(registry, 'Normal', Reasons.SnapshotPublished, note);
    }
    return published.wrote;
  }

  private cachedObjects(kind: StoreKind, namespace: string, mainName: string): { main: StoredObject | undefined; parts: StoredObject[] } {
    const informer = kind === 'Secret' ? this.caches.ownedSecrets : this.caches.configMaps;
    const parts = informer.list().filter((o) => o.metadata.namespace === namespace && o.metadata.labels?.[Labels.partOf] === mainName);
    return { main: informer.get(`${namespace}/${mainName}`), parts };
  }

  /** The previous run's records: from memory, or (after a restart) from the owned hash-sources Secret. */
  private knownSources(key: string, registry: RegistryResource | undefined): Map<string, HashSource> {
    const known = this.sources.get(key);
    if (known) return known;
    const records = new Map<string, HashSource>();
    if (!registry) return records;
    const { namespace, name } = splitKey(key);
    const cached = this.cachedObjects('Secret', namespace, hashSourcesSecretName(name));
    if (!cached.main) return records;
    try {
      const byName = new Map(cached.parts.map((p) => [p.metadata.name, p]));
      const assembled = assembleChunks(mainValues('Secret', cached.main), (n) => {
        const part = byName.get(n);
        return part && partBytes('Secret', part);
      });
      if (assembled.complete && assembled.files[HASH_SOURCES_FILE] !== undefined) {
        for (const [user, record] of Object.entries(JSON.parse(assembled.files[HASH_SOURCES_FILE]) as Record<string, HashSource>)) {
          if (typeof record?.sourceVersion === 'string' && typeof record.hash === 'string') records.set(user, record);
        }
      }
    } catch (error) {
      // Unreadable bookkeeping only costs a re-hash; it is rewritten by this reconcile.
      this.options.log.warn({ registry: key, err: error instanceof Error ? error.message : String(error) }, 'ignoring unreadable hash bookkeeping');
    }
    return records;
  }
}

/** The Registry is not Ready when its credentials outgrow their part slots; the old snapshot stays published. */
function markTooLarge(result: CompileResult, key: string, error: TooLargeError): void {
  const { namespace, name } = splitKey(key);
  const status = result.statuses.find((s) => s.kind === 'Registry' && s.namespace === namespace && s.name === name);
  const ready = status?.conditions.find((c) => c.type === ConditionTypes.Ready);
  if (ready === undefined) return;
  ready.status = 'False';
  ready.reason = Reasons.SnapshotTooLarge;
  ready.message = `the password hashes ${error.message}; the last published snapshot stays in use (remove users, or split them over several Registries)`;
}
