// List-then-watch for one resource into an in-memory store keyed `namespace/name` (or `name`).
// client-node's makeInformer cannot say *why* it is (re)connecting, so this one emits typed lifecycle
// events (connected, error, relisted) beside the object events, and owns its recovery:
// - any error: jittered exponential backoff, then a full relist (diffed against the store, so consumers
//   see only real changes);
// - 410 Gone (the resourceVersion fell out of etcd's window): relist at once;
// - periodic resync: relist every `resyncMs`, which also heals anything a watch may have missed;
// - staleness watchdog: with allowWatchBookmarks the API server sends a bookmark at least about once a
//   minute, so silence for `staleAfterMs` means a dead connection that TCP has not noticed: restart.
// The store is never cleared on error: consumers keep the last known state while the API server is away.

import type { KubeConnection } from './connection.js';
import { backoffDelay, realTimers, type BackoffOptions, type Timers } from './backoff.js';
import { KubeApiError, KubeClient, METADATA_LIST, METADATA_OBJECT, collectionPath, type OpenWatch, type ResourceType } from './request.js';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string };
}

export type InformerEvent<T> =
  | { type: 'connected'; resourceVersion: string }
  | { type: 'relisted'; reason: RelistReason; count: number }
  | { type: 'error'; error: Error; attempt: number; retryInMs: number }
  | { type: 'added'; key: string; object: T }
  | { type: 'updated'; key: string; object: T; previous: T }
  | { type: 'deleted'; key: string; object: T };

export type RelistReason = 'start' | 'gone' | 'resync' | 'stale' | 'error';

export interface InformerOptions<T> {
  kc: KubeConnection;
  client?: KubeClient;
  resource: ResourceType;
  /** Undefined: all namespaces (or a cluster-scoped resource). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Full relist period. Default 10 min. */
  resyncMs?: number;
  /** Restart the watch when nothing (not even a bookmark) arrived for this long. Default 3 min. */
  staleAfterMs?: number;
  backoff?: BackoffOptions;
  pageSize?: number;
  /** Reduces what is kept per object (e.g. drops data nobody reads). */
  transform?: (object: T) => T;
  /**
   * Lists and watches PartialObjectMetadata only (names, labels, uid, resourceVersion): the data of the
   * objects never reaches this process, e.g. for Secrets it must not hold.
   */
  metadataOnly?: boolean;
  timers?: Timers;
}

/** What `kubectl apply` keeps on every object it applies: the whole manifest as applied, a Secret's data included. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * The annotations a cache holds. A metadata-only informer promises that the objects' contents never
 * reach this process, and annotations can carry them: `kubectl apply` copies a Secret's data, or
 * stringData in clear, into LAST_APPLIED_ANNOTATION, and a metadata-only watch of Secrets would hold every
 * such password in the namespace. So none are kept there (its readers need names, labels, uid and
 * resourceVersion). Elsewhere only LAST_APPLIED_ANNOTATION goes: nothing here reads it, and it is a
 * second copy of the object's spec. Returns `annotations` itself when nothing is dropped.
 */
export function keptAnnotations(annotations: Record<string, string> | undefined, metadataOnly: boolean): Record<string, string> | undefined {
  if (annotations === undefined) return undefined;
  if (metadataOnly) return undefined;
  if (!(LAST_APPLIED_ANNOTATION in annotations)) return annotations;
  const { [LAST_APPLIED_ANNOTATION]: _applied, ...rest } = annotations;
  return Object.keys(rest).length === 0 ? undefined : rest;
}

export function objectKey(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

interface ListResponse<T> {
  metadata: { resourceVersion: string; continue?: string };
  /** null in an empty metadata-only list (PartialObjectMetadataList encodes Go's nil slice). */
  items: T[] | null;
}

type WatchEnd = 'closed' | RelistReason;

export class Informer<T extends KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly listeners = new Set<(event: InformerEvent<T>) => void>();
  private readonly client: KubeClient;
  private readonly timers: Timers;
  private readonly path: string;
  private resourceVersion = '';
  private changes = 0;
  private synced = false;
  /** When the API server last said anything (a list, a watch connect, an event, a bookmark); 0: never. */
  private lastActivity = 0;
  /** Consecutive failures; 0 while watching normally. */
  private failures = 0;
  private syncWaiters: (() => void)[] = [];
  private stopped = true;
  private abortWatch: ((end: WatchEnd) => void) | undefined;
  private sleepWake: (() => void) | undefined;
  /** Ends the list in progress: stop() must not wait out a slow list page (its timeout is 30 s). */
  private listing: AbortController | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: InformerOptions<T>) {
    this.client = options.client ?? new KubeClient(options.kc);
    this.timers = options.timers ?? realTimers;
    this.path = collectionPath(options.resource, options.namespace);
  }

  /** Moves whenever the cache's content does (an object stored, replaced or removed): equal counts, equal content. */
  get changeCount(): number {
    return this.changes;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** The resourceVersion the cache reflects: every event up to it is applied. Empty before the first list. */
  get cacheVersion(): string {
    return this.resourceVersion;
  }

  /** cacheVersion, for a namespace this watch covers; '' for one it does not (VersionedCache). */
  versionIn(namespace: string): string {
    return this.options.namespace === undefined || this.options.namespace === namespace ? this.resourceVersion : '';
  }

  /** For health checks: synced, when the API server was last heard from, and whether it is failing now. */
  health(): { synced: boolean; lastActivityAt: number; failing: boolean; staleAfterMs: number } {
    return { synced: this.synced, lastActivityAt: this.lastActivity, failing: this.failures > 0, staleAfterMs: this.options.staleAfterMs ?? 3 * 60_000 };
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  on(listener: (event: InformerEvent<T>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves after the first successful list. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.running = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abortWatch?.('closed');
    this.listing?.abort();
    this.sleepWake?.();
    await this.running;
  }

  private emit(event: InformerEvent<T>): void {
    for (const listener of this.listeners) listener(event);
  }

  private async run(): Promise<void> {
    let relist: RelistReason | undefined = 'start';
    let attempt = 0;
    while (!this.stopped) {
      try {
        if (relist !== undefined) {
          await this.relist(relist);
          relist = undefined;
        }
        // stop() during that list found no watch to abort: opening one now would hold stop() until the
        // server ends it (minutes).
        if (this.stopped) break;
        const end = await this.watchOnce(() => {
          attempt = 0;
          this.failures = 0;
        });
        if (end !== 'closed') relist = end;
      } catch (caught) {
        if (this.stopped) break;
        const error = caught instanceof Error ? caught : new Error(String(caught));
        attempt++;
        this.failures = attempt;
        relist = 'error';
        const retryInMs = backoffDelay(attempt - 1, this.options.backoff ?? { baseMs: 200, maxMs: 30_000, jitter: 0.5 }, this.timers.random);
        this.emit({ type: 'error', error, attempt, retryInMs });
        await this.sleep(retryInMs);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const handle = this.timers.setTimeout(() => {
        this.sleepWake = undefined;
        resolve();
      }, ms);
      this.sleepWake = () => {
        this.timers.clearTimeout(handle);
        this.sleepWake = undefined;
        resolve();
      };
    });
  }

  private async relist(reason: RelistReason): Promise<void> {
    const fresh = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion: string;
    const listing = new AbortController();
    this.listing = listing;
    try {
      do {
        const page: ListResponse<T> = await this.client.get<ListResponse<T>>(
          this.path,
          {
            labelSelector: this.options.labelSelector,
            fieldSelector: this.options.fieldSelector,
            limit: this.options.pageSize ?? 500,
            continue: continueToken,
          },
          this.options.metadataOnly === true ? METADATA_LIST : undefined,
          listing.signal,
        );
        for (const item of page.items ?? []) fresh.set(objectKey(item), this.shape(item));
        continueToken = page.metadata.continue || undefined;
        resourceVersion = page.metadata.resourceVersion;
      } while (continueToken !== undefined && !this.stopped);
    } finally {
      this.listing = undefined;
    }
    if (this.stopped) return;
    for (const [key, previous] of this.store) {
      if (!fresh.has(key)) {
        this.store.delete(key);
        this.changes++;
        this.emit({ type: 'deleted', key, object: previous });
      }
    }
    for (const [key, object] of fresh) this.put(key, object);
    this.resourceVersion = resourceVersion;
    this.lastActivity = this.timers.now();
    // Synced before `relisted` is emitted, so listeners reacting to it see hasSynced.
    const first = !this.synced;
    this.synced = true;
    this.emit({ type: 'relisted', reason, count: fresh.size });
    if (first) for (const wake of this.syncWaiters.splice(0)) wake();
  }

  private shape(object: T): T {
    // managedFields is often the largest part of an object and nothing here reads it: dropping it
    // (as controller-runtime's TransformStripManagedFields does) roughly halves what a cache holds; the
    // annotations keptAnnotations drops go too. A copy without them rather than `delete`: V8 turns an
    // object that loses a property into a hash table, which cost 13 MB more at 10,000 users and grants
    // (operator heap snapshot).
    const { managedFields, annotations, ...metadata } = object.metadata as { managedFields?: unknown; annotations?: Record<string, string> };
    const kept = keptAnnotations(annotations, this.options.metadataOnly === true);
    if (managedFields !== undefined || kept !== annotations) {
      (object as { metadata: unknown }).metadata = kept === undefined ? metadata : { ...metadata, annotations: kept };
    }
    return this.options.transform ? this.options.transform(object) : object;
  }

  private put(key: string, object: T): void {
    const previous = this.store.get(key);
    // The same version is the same object (a relist hands every object over again): keeping the one the
    // cache holds keeps the identity its readers' memos go by (the compile, the status passes).
    const version = object.metadata.resourceVersion;
    if (version !== undefined && version !== '' && previous?.metadata.resourceVersion === version) return;
    this.store.set(key, object);
    this.changes++;
    if (previous === undefined) this.emit({ type: 'added', key, object });
    else if (previous.metadata.resourceVersion !== object.metadata.resourceVersion) {
      this.emit({ type: 'updated', key, object, previous });
    }
  }

  /** One watch connection from the current resourceVersion. Resolves with why it ended; rejects on error. */
  private watchOnce(onConnected: () => void): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve, reject) => {
      let finished = false;
      let open: OpenWatch | undefined;
      let staleTimer: unknown;
      const resyncTimer = this.timers.setTimeout(() => finish('resync'), this.options.resyncMs ?? 10 * 60_000);
      const staleAfter = this.options.staleAfterMs ?? 3 * 60_000;
      const armWatchdog = (): void => {
        if (staleTimer !== undefined) this.timers.clearTimeout(staleTimer);
        staleTimer = this.timers.setTimeout(() => finish('stale'), staleAfter);
      };
      const cleanup = (): void => {
        finished = true;
        this.abortWatch = undefined;
        this.timers.clearTimeout(resyncTimer);
        if (staleTimer !== undefined) this.timers.clearTimeout(staleTimer);
        open?.abort();
      };
      const finish = (end: WatchEnd): void => {
        if (finished) return;
        cleanup();
        resolve(end);
      };
      const fail = (error: Error): void => {
        if (finished) return;
        cleanup();
        reject(error);
      };
      this.abortWatch = finish;
      armWatchdog();
      this.client
        .watch(
          this.path,
          {
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            labelSelector: this.options.labelSelector,
            fieldSelector: this.options.fieldSelector,
            // The server closes the stream after this; a fresh watch then continues from resourceVersion.
            timeoutSeconds: 240 + Math.floor(this.timers.random() * 120),
          },
          (phase: string, object: unknown) => {
            if (finished) return;
            this.lastActivity = this.timers.now();
            armWatchdog();
            this.handleWatchEvent(phase, object, finish, fail);
          },
          this.options.metadataOnly === true ? METADATA_OBJECT : undefined,
        )
        .then(
          (w) => {
            open = w;
            if (finished) {
              w.abort();
              return;
            }
            onConnected();
            this.lastActivity = this.timers.now();
            this.emit({ type: 'connected', resourceVersion: this.resourceVersion });
            void w.ended.then((error) => (error === null ? finish('closed') : fail(error)));
          },
          (error: unknown) => fail(error instanceof Error ? error : new Error(String(error))),
        );
    });
  }

  private handleWatchEvent(phase: string, raw: unknown, finish: (end: WatchEnd) => void, fail: (error: Error) => void): void {
    const object = raw as T;
    switch (phase) {
      case 'ADDED':
      case 'MODIFIED': {
        const shaped = this.shape(object);
        this.resourceVersion = object.metadata.resourceVersion ?? this.resourceVersion;
        this.put(objectKey(shaped), shaped);
        return;
      }
      case 'DELETED': {
        const key = objectKey(object);
        this.resourceVersion = object.metadata.resourceVersion ?? this.resourceVersion;
        const previous = this.store.get(key);
        if (this.store.delete(key)) this.changes++;
        this.emit({ type: 'deleted', key, object: previous ?? this.shape(object) });
        return;
      }
      case 'BOOKMARK':
        this.resourceVersion = object.metadata.resourceVersion ?? this.resourceVersion;
        return;
      case 'ERROR': {
        const status = raw as { code?: number; reason?: string; message?: string };
        if (status.code === 410) finish('gone');
        else fail(new KubeApiError(status.code ?? 0, status.reason ?? 'Unknown', `watch ${this.path}: ${status.message ?? 'error'}`));
        return;
      }
      default:
        return;
    }
  }
}
