// What the operator's controllers, triggers and health checks need of a cache, so one Informer and a
// set of per-namespace Informers can stand in for each other. An Informer is one watch of one scope:
// a cluster-wide watch of labelled objects also holds whatever anyone labels in any namespace, data
// included, while one watch per namespace holds only what is in the namespaces it was given.

import type { InformerEvent, KubeObject } from './informer.js';

export interface CacheHealth {
  synced: boolean;
  lastActivityAt: number;
  failing: boolean;
  staleAfterMs: number;
}

/** The part of Informer that readers and the process lifecycle use (Informer itself satisfies it). */
export interface ObjectCache<T extends KubeObject> {
  get(key: string): T | undefined;
  list(): T[];
  on(listener: (event: InformerEvent<T>) => void): () => void;
  readonly hasSynced: boolean;
  waitForSync(): Promise<void>;
  health(): CacheHealth;
  start(): void;
  stop(): Promise<void>;
}

/** A cache that says which resourceVersion its watch, or each of its watches, has reached. */
export interface VersionedCache<T extends KubeObject> extends ObjectCache<T> {
  /** Moves whenever the content may have: '' before every watch has listed. */
  readonly cacheVersion: string;
  /**
   * The resourceVersion of the watch holding `namespace`'s objects: a LIST of that namespace at exactly
   * it returns what the cache shows. '' when no watch holds the namespace or it has not listed yet.
   */
  versionIn(namespace: string): string;
}

/**
 * Several watches' resourceVersions as one memo key, in the order given (so keep it fixed): it stays
 * while none moves. '' while any is '', since "not listed yet" must never match a later version.
 */
export function combinedVersion(versions: readonly string[]): string {
  return versions.length === 0 || versions.includes('') ? '' : versions.join(',');
}

/**
 * Which namespaces exist, as a cluster-wide watch of namespaces sees them. A namespace given to
 * NamespacedCaches can be deleted (a tenant's, and with it the RoleBinding that let the operator watch
 * it): its watch then fails as forbidden for ever, and counting it would keep the whole cache unsynced,
 * holding every controller at the next start, and unhealthy.
 */
export interface NamespacePresence {
  readonly hasSynced: boolean;
  waitForSync(): Promise<void>;
  exists(namespace: string): boolean;
  /** Calls `listener` whenever a namespace may have come or gone; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}

/**
 * One cache per namespace, read as one. Keys are `namespace/name`, so a read goes to its namespace's
 * cache alone; a key of a namespace not given is simply absent. With a NamespacePresence, a namespace
 * that does not exist counts neither for being synced nor for health (it holds nothing either way).
 */
export class NamespacedCaches<T extends KubeObject> implements ObjectCache<T> {
  private readonly byNamespace: ReadonlyMap<string, ObjectCache<T>>;

  constructor(
    byNamespace: ReadonlyMap<string, ObjectCache<T>>,
    private readonly presence?: NamespacePresence,
  ) {
    if (byNamespace.size === 0) throw new Error('NamespacedCaches needs at least one namespace');
    this.byNamespace = byNamespace;
  }

  /** Whether `namespace` counts: always without a presence, and until the presence has synced. */
  private counts(namespace: string): boolean {
    return this.presence === undefined || !this.presence.hasSynced || this.presence.exists(namespace);
  }

  private counted(): ObjectCache<T>[] {
    return [...this.byNamespace].filter(([namespace]) => this.counts(namespace)).map(([, cache]) => cache);
  }

  /** Resolves once `namespace` does not exist (never without a presence); `cancel` stops listening. */
  private gone(namespace: string): { promise: Promise<void>; cancel: () => void } {
    const presence = this.presence;
    if (presence === undefined) return { promise: new Promise<void>(() => undefined), cancel: () => undefined };
    let off = (): void => undefined;
    const promise = new Promise<void>((resolve) => {
      const check = (): void => {
        if (presence.exists(namespace)) return;
        off();
        resolve();
      };
      off = presence.onChange(check);
      check();
    });
    return { promise, cancel: () => off() };
  }

  get namespaces(): string[] {
    return [...this.byNamespace.keys()];
  }

  get(key: string): T | undefined {
    const slash = key.indexOf('/');
    if (slash < 0) return undefined;
    return this.byNamespace.get(key.slice(0, slash))?.get(key);
  }

  list(): T[] {
    return [...this.byNamespace.values()].flatMap((cache) => cache.list());
  }

  on(listener: (event: InformerEvent<T>) => void): () => void {
    const offs = [...this.byNamespace.values()].map((cache) => cache.on(listener));
    return () => {
      for (const off of offs) off();
    };
  }

  get hasSynced(): boolean {
    return this.counted().every((cache) => cache.hasSynced);
  }

  /**
   * One wait at a time, shared: a wait the caller gave up on (a Lease lost before the caches synced)
   * keeps its listeners until it ends, so each new wait would otherwise add a set more.
   */
  waitForSync(): Promise<void> {
    this.pendingSync ??= this.syncOnce().finally(() => {
      this.pendingSync = undefined;
    });
    return this.pendingSync;
  }

  private pendingSync: Promise<void> | undefined;

  private async syncOnce(): Promise<void> {
    await this.presence?.waitForSync();
    await Promise.all(
      [...this.byNamespace].map(async ([namespace, cache]) => {
        const gone = this.gone(namespace);
        try {
          await Promise.race([cache.waitForSync(), gone.promise]);
        } finally {
          gone.cancel();
        }
      }),
    );
  }

  /** The least healthy existing namespace's view: not synced until all are, as stale as the stalest, failing if any is. */
  health(): CacheHealth {
    const all = this.counted().map((cache) => cache.health());
    if (all.length === 0) return { synced: true, lastActivityAt: Date.now(), failing: false, staleAfterMs: Number.POSITIVE_INFINITY };
    return {
      synced: all.every((h) => h.synced),
      lastActivityAt: Math.min(...all.map((h) => h.lastActivityAt)),
      failing: all.some((h) => h.failing),
      staleAfterMs: Math.min(...all.map((h) => h.staleAfterMs)),
    };
  }

  start(): void {
    for (const cache of this.byNamespace.values()) cache.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.byNamespace.values()].map((cache) => cache.stop()));
  }
}

/** NamespacedCaches of caches that know their versions: each namespace's own, and all of them as one key. */
export class NamespacedVersionedCaches<T extends KubeObject> extends NamespacedCaches<T> implements VersionedCache<T> {
  private readonly versioned: ReadonlyMap<string, VersionedCache<T>>;

  constructor(byNamespace: ReadonlyMap<string, VersionedCache<T>>, presence?: NamespacePresence) {
    // Sorted, so the combined version does not depend on the order the namespaces were listed in.
    const sorted = new Map([...byNamespace].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    super(sorted, presence);
    this.versioned = sorted;
  }

  get cacheVersion(): string {
    return combinedVersion([...this.versioned.values()].map((cache) => cache.cacheVersion));
  }

  versionIn(namespace: string): string {
    return this.versioned.get(namespace)?.versionIn(namespace) ?? '';
  }
}
