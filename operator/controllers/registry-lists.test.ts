import { describe, expect, it } from 'vitest';
import type { RegistryUserResource } from '../../crds/types.js';
import type { Informer } from '../../kube/informer.js';
import { RegistryLists } from './registry-lists.js';

const user = (name: string, registry: string, rv = '1'): RegistryUserResource => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'RegistryUser',
  metadata: { name, namespace: 'ns', resourceVersion: rv },
  spec: { registryRef: { name: registry }, passwordSecretRef: { name: `${name}-pw` } },
});

/** The two things RegistryLists reads of an informer. */
function cache(objects: RegistryUserResource[]) {
  const state = { objects, changeCount: 0 };
  const informer = {
    get changeCount() {
      return state.changeCount;
    },
    list: () => [...state.objects],
  } as unknown as Informer<RegistryUserResource>;
  return { informer, change: (next: RegistryUserResource[]) => Object.assign(state, { objects: next, changeCount: state.changeCount + 1 }) };
}

describe('RegistryLists', () => {
  it('keeps a Registry’s list while the cache does not move, and makes it again, filtered, once it does', () => {
    const lists = new RegistryLists();
    const { informer, change } = cache([user('alice', 'main'), user('bob', 'other')]);
    const first = lists.of('ns/main', informer);
    expect(first.map((u) => u.metadata.name)).toEqual(['alice']);
    expect(lists.of('ns/main', informer)).toBe(first);
    expect(lists.of('ns/other', informer).map((u) => u.metadata.name)).toEqual(['bob']);

    // bob moves to main: a stale list would leave him out of main's snapshot and statuses.
    change([user('alice', 'main'), user('bob', 'main', '2')]);
    expect(lists.of('ns/main', informer).map((u) => u.metadata.name)).toEqual(['alice', 'bob']);
    expect(lists.of('ns/other', informer)).toEqual([]);
  });

  it('answers the users needing credentials again for another list or another set of keys', () => {
    const lists = new RegistryLists();
    const users = [user('alice', 'main'), user('bob', 'main')];
    const keys = new Set(['ns/alice']);
    const needed = lists.neededOf('ns/main', users, keys);
    expect(needed.map((u) => u.metadata.name)).toEqual(['alice']);
    expect(lists.neededOf('ns/main', users, keys)).toBe(needed);
    expect(lists.neededOf('ns/main', users, new Set(['ns/alice', 'ns/bob']))).toHaveLength(2);
    lists.forget('ns/main');
    expect(lists.neededOf('ns/main', users, keys)).not.toBe(needed);
  });
});
