import { describe, expect, it } from 'vitest';
import type { KubeConnection } from './connection.js';
import { Informer, type InformerEvent, type KubeObject } from './informer.js';
import { combinedVersion, NamespacedCaches, NamespacedVersionedCaches, type NamespacePresence, type VersionedCache } from './object-cache.js';
import type { KubeClient, OpenWatch } from './request.js';

type Obj = KubeObject & { data?: Record<string, string> };

/** A client answering each collection path's list from `lists`, and watches that stay open until aborted. */
function fakeClient(lists: Record<string, Obj[]>) {
  const listed: string[] = [];
  const client = {
    get: (path: string) => {
      listed.push(path);
      return Promise.resolve({ metadata: { resourceVersion: '1' }, items: lists[path] ?? [] });
    },
    watch: (): Promise<OpenWatch> => {
      let end: (error: Error | null) => void = () => {};
      const ended = new Promise<Error | null>((resolve) => (end = resolve));
      return Promise.resolve({ abort: () => end(null), ended });
    },
  };
  return { client: client as unknown as KubeClient, listed };
}

const configMaps = { base: '/api/v1', plural: 'configmaps', namespaced: true };
const cm = (namespace: string, name: string): Obj => ({ metadata: { name, namespace, resourceVersion: '1' }, data: { k: `${namespace}/${name}` } });

function cachesOver(namespaces: string[], lists: Record<string, Obj[]>) {
  const { client, listed } = fakeClient(lists);
  const informers = new Map(
    namespaces.map((namespace) => [namespace, new Informer<Obj>({ kc: {} as KubeConnection, client, resource: configMaps, namespace })]),
  );
  return { caches: new NamespacedCaches(informers), informers, listed };
}

describe('NamespacedCaches', () => {
  it('lists only the namespaces it was given, and reads them as one cache', async () => {
    const { caches, listed } = cachesOver(['registry', 'big'], {
      '/api/v1/namespaces/registry/configmaps': [cm('registry', 'a')],
      '/api/v1/namespaces/big/configmaps': [cm('big', 'b'), cm('big', 'c')],
      '/api/v1/configmaps': [cm('elsewhere', 'flood')],
    });
    const events: InformerEvent<Obj>[] = [];
    caches.on((e) => events.push(e));
    expect(caches.hasSynced).toBe(false);
    caches.start();
    await caches.waitForSync();
    expect(caches.hasSynced).toBe(true);
    expect(listed.sort()).toEqual(['/api/v1/namespaces/big/configmaps', '/api/v1/namespaces/registry/configmaps']);
    expect(caches.namespaces).toEqual(['registry', 'big']);
    expect(
      caches
        .list()
        .map((o) => `${o.metadata.namespace}/${o.metadata.name}`)
        .sort(),
    ).toEqual(['big/b', 'big/c', 'registry/a']);
    expect(caches.get('big/c')?.data).toEqual({ k: 'big/c' });
    expect(caches.get('registry/c')).toBeUndefined();
    expect(caches.get('elsewhere/flood')).toBeUndefined();
    expect(caches.get('no-slash')).toBeUndefined();
    // Every namespace's events reach one listener.
    expect(
      events
        .filter((e) => e.type === 'added')
        .map((e) => (e as { key: string }).key)
        .sort(),
    ).toEqual(['big/b', 'big/c', 'registry/a']);
    await caches.stop();
  });

  it('stops every listener it added when unsubscribed', async () => {
    const { caches, informers } = cachesOver(['a', 'b'], { '/api/v1/namespaces/b/configmaps': [cm('b', 'x')] });
    const seen: string[] = [];
    const off = caches.on((e) => e.type === 'added' && seen.push(e.key));
    off();
    caches.start();
    await caches.waitForSync();
    expect(seen).toEqual([]);
    expect(informers.get('b')?.get('b/x')).toBeDefined();
    await caches.stop();
  });

  it('is as healthy as its least healthy namespace', () => {
    const part = (health: ReturnType<Informer<Obj>['health']>) => ({ health: () => health, hasSynced: health.synced }) as unknown as Informer<Obj>;
    const caches = new NamespacedCaches(
      new Map([
        ['a', part({ synced: true, lastActivityAt: 5_000, failing: false, staleAfterMs: 180_000 })],
        ['b', part({ synced: false, lastActivityAt: 1_000, failing: true, staleAfterMs: 60_000 })],
      ]),
    );
    expect(caches.health()).toEqual({ synced: false, lastActivityAt: 1_000, failing: true, staleAfterMs: 60_000 });
    expect(caches.hasSynced).toBe(false);
  });

  it('needs a namespace', () => {
    expect(() => new NamespacedCaches(new Map())).toThrow(/at least one namespace/);
  });
});

describe('NamespacedCaches over namespaces that come and go', () => {
  /** Namespaces that exist, changed by hand; each change is announced as the namespaces' watch would. */
  function presenceOf(...existing: string[]) {
    const names = new Set(existing);
    const listeners = new Set<() => void>();
    const presence: NamespacePresence = {
      hasSynced: true,
      waitForSync: () => Promise.resolve(),
      exists: (n) => names.has(n),
      onChange: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const remove = (n: string): void => {
      names.delete(n);
      for (const l of listeners) l();
    };
    return { presence, remove, listeners };
  }
  /** A namespace's watch that never lists: forbidden for ever, as once its RoleBinding is gone. */
  const forbidden = {
    hasSynced: false,
    waitForSync: () => new Promise<void>(() => undefined),
    health: () => ({ synced: false, lastActivityAt: 0, failing: true, staleAfterMs: 60_000 }),
  };
  const listed = {
    hasSynced: true,
    waitForSync: () => Promise.resolve(),
    health: () => ({ synced: true, lastActivityAt: 9_000, failing: false, staleAfterMs: 180_000 }),
  };
  const over = (presence: NamespacePresence) =>
    new NamespacedCaches(
      new Map([
        ['team-a', listed as unknown as Informer<Obj>],
        ['deleted', forbidden as unknown as Informer<Obj>],
      ]),
      presence,
    );
  const settled = (p: Promise<void>): Promise<boolean> => Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 50))]);

  it('does not wait for, nor count the health of, a listed namespace that does not exist', async () => {
    const { presence, listeners } = presenceOf('team-a');
    const caches = over(presence);
    expect(await settled(caches.waitForSync())).toBe(true);
    expect(caches.hasSynced).toBe(true);
    expect(caches.health()).toEqual({ synced: true, lastActivityAt: 9_000, failing: false, staleAfterMs: 180_000 });
    expect(listeners.size).toBe(0);
  });

  it('waits for an existing namespace until its watch lists, or until it is deleted', async () => {
    const { presence, remove, listeners } = presenceOf('team-a', 'deleted');
    const caches = over(presence);
    const synced = caches.waitForSync();
    expect(await settled(synced)).toBe(false);
    expect(caches.hasSynced).toBe(false);
    expect(caches.health().failing).toBe(true);
    remove('deleted');
    expect(await settled(synced)).toBe(true);
    expect(caches.health().failing).toBe(false);
    expect(listeners.size).toBe(0);
  });

  it('shares one pending wait, so waits given up on do not pile up listeners', async () => {
    const { presence, remove, listeners } = presenceOf('team-a', 'deleted');
    const caches = over(presence);
    const waits = [caches.waitForSync(), caches.waitForSync(), caches.waitForSync()];
    expect(await settled(waits[0]!)).toBe(false);
    // One for the namespace still waited for, not one per wait.
    expect(listeners.size).toBe(1);
    remove('deleted');
    expect(await Promise.all(waits.map(settled))).toEqual([true, true, true]);
    expect(listeners.size).toBe(0);
  });

  it('without a presence, a namespace whose watch never lists holds it, as before', async () => {
    const caches = new NamespacedCaches(new Map([['deleted', forbidden as unknown as Informer<Obj>]]));
    expect(await settled(caches.waitForSync())).toBe(false);
    expect(caches.health().failing).toBe(true);
  });

  it('with no namespace left, is synced and healthy', () => {
    const caches = new NamespacedCaches(new Map([['deleted', forbidden as unknown as Informer<Obj>]]), presenceOf().presence);
    expect(caches.hasSynced).toBe(true);
    expect(caches.health()).toMatchObject({ synced: true, failing: false });
  });
});

describe('combinedVersion', () => {
  it('joins the versions in the order given, and is empty while any watch has not listed', () => {
    expect(combinedVersion(['10', '7'])).toBe('10,7');
    expect(combinedVersion(['10', ''])).toBe('');
    expect(combinedVersion([])).toBe('');
  });
});

describe('NamespacedVersionedCaches', () => {
  /** A namespace's watch at `version`, holding only its own namespace. */
  const watchAt = (namespace: string, version: { now: string }) =>
    ({
      get cacheVersion() {
        return version.now;
      },
      versionIn: (n: string) => (n === namespace ? version.now : ''),
    }) as unknown as VersionedCache<Obj>;

  it("gives each namespace its own watch's version, and one key that moves when any of them does", () => {
    const a = { now: '5' };
    const b = { now: '9' };
    const caches = new NamespacedVersionedCaches(
      new Map([
        ['team-b', watchAt('team-b', b)],
        ['team-a', watchAt('team-a', a)],
      ]),
    );
    expect(caches.versionIn('team-a')).toBe('5');
    expect(caches.versionIn('team-b')).toBe('9');
    expect(caches.versionIn('outside')).toBe('');
    // Fixed (sorted) order, whatever order the namespaces came in.
    expect(caches.cacheVersion).toBe('5,9');
    b.now = '12';
    expect(caches.cacheVersion).toBe('5,12');
    a.now = '';
    expect(caches.cacheVersion).toBe('');
  });
});
