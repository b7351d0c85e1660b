import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { KubeConnection } from '../kube/connection.js';
import type { KubeClient, OpenWatch } from '../kube/request.js';
import { MANAGED_SELECTOR } from '../wire/labels.js';
import type { InformerEvent } from '../kube/informer.js';
import { allInformers, createCaches, namespacePresence, warnsAtAttempt } from './caches.js';
import type { NamespaceObject } from './controllers/registry.js';

/** Records which collections the caches list, with which label selector, and answers every list empty. */
function recordingClient() {
  const listed: string[] = [];
  const client = {
    get: (path: string, query: { labelSelector?: string }) => {
      listed.push(query.labelSelector === undefined ? path : `${path}?${query.labelSelector}`);
      return Promise.resolve({ metadata: { resourceVersion: '1' }, items: [] });
    },
    watch: (): Promise<OpenWatch> => {
      let end: (error: Error | null) => void = () => {};
      const ended = new Promise<Error | null>((resolve) => (end = resolve));
      return Promise.resolve({ abort: () => end(null), ended });
    },
  };
  return { client: client as unknown as KubeClient, listed };
}

async function allLists(options: { namespace?: string; registryNamespaces?: readonly string[]; secretNamespaces?: readonly string[] }): Promise<string[]> {
  const { client, listed } = recordingClient();
  const caches = createCaches({ kc: {} as KubeConnection, client, log: pino({ level: 'silent' }), ...options });
  const informers = allInformers(caches);
  for (const informer of informers.values()) informer.start();
  await Promise.all([...informers.values()].map((i) => i.waitForSync()));
  await Promise.all([...informers.values()].map((i) => i.stop()));
  return listed;
}

async function ownedLists(options: { namespace?: string; registryNamespaces?: readonly string[] }): Promise<string[]> {
  return (await allLists(options)).filter((l) => l.endsWith(`?${MANAGED_SELECTOR}`)).sort();
}

/** The Secret lists without a label selector: the metadata watch of every Secret. */
async function secretMetadataLists(options: { namespace?: string; registryNamespaces?: readonly string[]; secretNamespaces?: readonly string[] }) {
  return (await allLists(options)).filter((l) => l.endsWith('/secrets')).sort();
}

describe('createCaches: where the owned ConfigMaps and Secrets are watched', () => {
  it('with registryNamespaces: in those namespaces only, never cluster-wide', async () => {
    expect(await ownedLists({ registryNamespaces: ['registry', 'big'] })).toEqual(
      [
        '/api/v1/namespaces/big/configmaps',
        '/api/v1/namespaces/big/secrets',
        '/api/v1/namespaces/registry/configmaps',
        '/api/v1/namespaces/registry/secrets',
      ].map((p) => `${p}?${MANAGED_SELECTOR}`),
    );
  });

  it('without: in the whole watch scope, as before', async () => {
    expect(await ownedLists({})).toEqual([`/api/v1/configmaps?${MANAGED_SELECTOR}`, `/api/v1/secrets?${MANAGED_SELECTOR}`]);
    expect(await ownedLists({ namespace: 'team' })).toEqual([
      `/api/v1/namespaces/team/configmaps?${MANAGED_SELECTOR}`,
      `/api/v1/namespaces/team/secrets?${MANAGED_SELECTOR}`,
    ]);
  });
});

describe('createCaches: where Secret metadata is watched', () => {
  it('with secretNamespaces: in those namespaces only, one watch each, never cluster-wide', async () => {
    const lists = await secretMetadataLists({ registryNamespaces: ['registry'], secretNamespaces: ['registry', 'team-a'] });
    expect(lists).toEqual(['/api/v1/namespaces/registry/secrets', '/api/v1/namespaces/team-a/secrets']);
  });

  it('without: in the whole watch scope, as before', async () => {
    expect(await secretMetadataLists({ registryNamespaces: ['registry'] })).toEqual(['/api/v1/secrets']);
    expect(await secretMetadataLists({ namespace: 'team' })).toEqual(['/api/v1/namespaces/team/secrets']);
  });
});

describe('namespacePresence: which listed namespaces count', () => {
  /** A namespaces' watch holding `objects`, whose events are sent by hand. */
  function watchOf(objects: NamespaceObject[]) {
    const byName = new Map(objects.map((o) => [o.metadata.name, o]));
    const listeners = new Set<(e: InformerEvent<NamespaceObject>) => void>();
    const informer = {
      hasSynced: true,
      waitForSync: () => Promise.resolve(),
      get: (name: string) => byName.get(name),
      on: (listener: (e: InformerEvent<NamespaceObject>) => void) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const send = (e: InformerEvent<NamespaceObject>): void => {
      for (const l of listeners) l(e);
    };
    return { informer, byName, send };
  }
  const ns = (name: string, deletionTimestamp?: string): NamespaceObject => ({ metadata: { name, ...(deletionTimestamp ? { deletionTimestamp } : {}) } });

  it.each<[string, NamespaceObject[], boolean]>([
    ['an existing namespace', [ns('team-a')], true],
    ['a namespace the watch does not hold', [], false],
    ['a terminating namespace (its RoleBindings may be gone already)', [ns('team-a', '2026-11-29T20:00:00Z')], false],
  ])('%s', (_sentence, objects, exists) => {
    expect(namespacePresence(watchOf(objects).informer).exists('team-a')).toBe(exists);
  });

  it('tells its listeners when a namespace starts terminating (an update), is added, deleted or relisted', () => {
    const { informer, byName, send } = watchOf([ns('team-a')]);
    const presence = namespacePresence(informer);
    let calls = 0;
    const off = presence.onChange(() => calls++);
    byName.set('team-a', ns('team-a', '2026-11-29T20:00:00Z'));
    send({ type: 'updated', key: 'team-a', object: byName.get('team-a')!, previous: ns('team-a') });
    expect(calls).toBe(1);
    expect(presence.exists('team-a')).toBe(false);
    send({ type: 'added', key: 'team-b', object: ns('team-b') });
    send({ type: 'deleted', key: 'team-a', object: ns('team-a') });
    send({ type: 'relisted', reason: 'resync', count: 1 });
    send({ type: 'connected', resourceVersion: '9' });
    expect(calls).toBe(4);
    off();
    send({ type: 'added', key: 'team-c', object: ns('team-c') });
    expect(calls).toBe(4);
  });
});

describe('warnsAtAttempt: how loudly a failing watch is logged', () => {
  it('warns for the first three failures and every tenth after, debug lines between', () => {
    const warned = Array.from({ length: 40 }, (_, i) => i + 1).filter(warnsAtAttempt);
    expect(warned).toEqual([1, 2, 3, 10, 20, 30, 40]);
  });
});
