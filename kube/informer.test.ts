import { describe, expect, it } from 'vitest';
import { Informer, keptAnnotations, LAST_APPLIED_ANNOTATION, type KubeObject } from './informer.js';
import type { KubeConnection } from './connection.js';
import type { KubeClient, OpenWatch } from './request.js';

/** The two calls an informer makes, with the list answered when the test says so. */
function controlledClient() {
  let answerList: (page: unknown) => void = () => {};
  const calls = { lists: 0, watches: 0 };
  const client = {
    get: (_path: string, _query: unknown, _accept: unknown, signal?: AbortSignal) => {
      calls.lists++;
      return new Promise((resolve, reject) => {
        answerList = resolve;
        signal?.addEventListener('abort', () => reject(new Error('aborted')));
      });
    },
    watch: (): Promise<OpenWatch> => {
      calls.watches++;
      // A watch the server keeps open: it ends only when aborted.
      let end: (error: Error | null) => void = () => {};
      const ended = new Promise<Error | null>((resolve) => (end = resolve));
      return Promise.resolve({ abort: () => end(null), ended });
    },
  };
  // The informer's client is a KubeClient; these two methods are all it calls.
  return { client: client as unknown as KubeClient, calls, answerList: (page: unknown) => answerList(page) };
}

const secrets = { base: '/api/v1', plural: 'secrets', namespaced: true };

describe('Informer.stop', () => {
  it('during a list that then succeeds: resolves without opening a watch', async () => {
    const { client, calls, answerList } = controlledClient();
    const informer = new Informer<KubeObject>({ kc: {} as KubeConnection, client, resource: secrets });
    informer.start();
    await Promise.resolve();
    expect(calls.lists).toBe(1);

    const stopped = informer.stop();
    answerList({ metadata: { resourceVersion: '7' }, items: [{ metadata: { name: 'a', namespace: 'ns', resourceVersion: '7' } }] });
    // Before the fix the informer went on to watch, and stop() waited for that watch to end.
    await stopped;
    expect(calls.watches).toBe(0);
  });

  it('during a list the server never answers: aborts the list and resolves', async () => {
    const { client, calls } = controlledClient();
    const informer = new Informer<KubeObject>({ kc: {} as KubeConnection, client, resource: secrets });
    informer.start();
    await Promise.resolve();
    expect(calls.lists).toBe(1);
    // Before, stop() waited for the list's 30 s timeout; here the list never ends unless aborted.
    await informer.stop();
    expect(calls.watches).toBe(0);
  });

  it('while watching: aborts the watch and resolves', async () => {
    const { client, calls, answerList } = controlledClient();
    const informer = new Informer<KubeObject>({ kc: {} as KubeConnection, client, resource: secrets });
    informer.start();
    await Promise.resolve();
    answerList({ metadata: { resourceVersion: '7' }, items: [] });
    await informer.waitForSync();
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls.watches).toBe(1);
    await informer.stop();
  });
});

describe('Informer cache', () => {
  it('holds objects without managedFields, every other metadata field kept', async () => {
    const { client, answerList } = controlledClient();
    const informer = new Informer<KubeObject>({ kc: {} as KubeConnection, client, resource: secrets });
    informer.start();
    await Promise.resolve();
    const metadata = {
      name: 'a',
      namespace: 'ns',
      resourceVersion: '7',
      labels: { team: 'x' },
      managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:data': {} } }],
      uid: 'u-1',
    };
    answerList({ metadata: { resourceVersion: '7' }, items: [{ metadata, type: 'Opaque' }] });
    await informer.waitForSync();
    const cached = informer.get('ns/a') as KubeObject & { type?: string };
    expect(cached.metadata).toEqual({ name: 'a', namespace: 'ns', resourceVersion: '7', labels: { team: 'x' }, uid: 'u-1' });
    expect(Object.keys(cached.metadata)).toEqual(['name', 'namespace', 'resourceVersion', 'labels', 'uid']);
    expect(cached.type).toBe('Opaque');
    await informer.stop();
  });

  it("attack: a metadata-only cache of Secrets holds no annotation, so no kubectl-applied Secret's password", async () => {
    const { client, answerList } = controlledClient();
    const informer = new Informer<KubeObject>({ kc: {} as KubeConnection, client, resource: secrets, metadataOnly: true });
    informer.start();
    await Promise.resolve();
    const annotations = { [LAST_APPLIED_ANNOTATION]: '{"kind":"Secret","stringData":{"password":"hunter2"}}', team: 'a' };
    answerList({ metadata: { resourceVersion: '7' }, items: [{ metadata: { name: 'db', namespace: 'ns', resourceVersion: '7', annotations } }] });
    await informer.waitForSync();
    const cached = informer.get('ns/db');
    expect(cached?.metadata).toEqual({ name: 'db', namespace: 'ns', resourceVersion: '7' });
    expect(JSON.stringify(cached)).not.toContain('hunter2');
    await informer.stop();
  });
});

describe('keptAnnotations', () => {
  const applied = { [LAST_APPLIED_ANNOTATION]: '{"stringData":{"password":"hunter2"}}' };
  it.each([
    ['none', undefined, false, undefined],
    ['others only: the same object', { team: 'a' }, false, 'same'],
    ['the last-applied copy: dropped', { ...applied, team: 'a' }, false, { team: 'a' }],
    ['the last-applied copy alone: no annotations left', applied, false, undefined],
    ['metadata only: none kept', { team: 'a' }, true, undefined],
    ['metadata only, the last-applied copy: none kept', { ...applied, team: 'a' }, true, undefined],
  ] as const)('%s', (_name, annotations, metadataOnly, expected) => {
    const kept = keptAnnotations(annotations, metadataOnly);
    if (expected === 'same') expect(kept).toBe(annotations);
    else expect(kept).toEqual(expected);
  });
});

describe('Informer relist', () => {
  const until = async (done: () => boolean): Promise<void> => {
    for (let i = 0; i < 500 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
    expect(done()).toBe(true);
  };

  it('keeps the cached object of an unchanged version, and counts a change only when the content moves', async () => {
    const { client, calls, answerList } = controlledClient();
    // A resync every few milliseconds: each one relists.
    const informer = new Informer<KubeObject>({ kc: {} as KubeConnection, client, resource: secrets, resyncMs: 5 });
    informer.start();
    await until(() => calls.lists === 1);
    const item = (name: string, resourceVersion: string) => ({ metadata: { name, namespace: 'ns', resourceVersion } });
    answerList({ metadata: { resourceVersion: '7' }, items: [item('a', '7'), item('b', '6')] });
    await informer.waitForSync();
    const a = informer.get('ns/a');
    const count = informer.changeCount;

    await until(() => calls.lists === 2);
    answerList({ metadata: { resourceVersion: '7' }, items: [item('a', '7'), item('b', '6')] });
    await until(() => calls.lists === 3);
    expect(informer.get('ns/a')).toBe(a);
    expect(informer.changeCount).toBe(count);

    answerList({ metadata: { resourceVersion: '9' }, items: [item('a', '8')] });
    await until(() => calls.lists === 4);
    expect(informer.get('ns/a')?.metadata.resourceVersion).toBe('8');
    expect(informer.get('ns/b')).toBeUndefined();
    expect(informer.changeCount).toBe(count + 2);
    // The fourth list is waiting for its answer: stop() returns once it has one.
    const stopped = informer.stop();
    answerList({ metadata: { resourceVersion: '9' }, items: [] });
    await stopped;
  });
});
