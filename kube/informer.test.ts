import { describe, expect, it } from 'vitest';
import { Informer, type KubeObject } from './informer.js';
import type { KubeConnection } from './connection.js';
import type { KubeClient, OpenWatch } from './request.js';

/** The two calls an informer makes, with the list answered when the test says so. */
function controlledClient() {
  let answerList: (page: unknown) => void = () => {};
  const calls = { lists: 0, watches: 0 };
  const client = {
    get: () => {
      calls.lists++;
      return new Promise((resolve) => (answerList = resolve));
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
});
