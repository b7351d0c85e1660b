import { describe, expect, it } from 'vitest';
import type { GarbageCollectionStatus, RegistryResource } from '../../../crds/types.js';
import { compileSnapshot } from '../../../policy/snapshot.js';
import { serializeSnapshot } from '../../../policy/snapshot-format.js';
import { PART_KEY, planChunks, type StoredObject } from '../../../wire/chunked.js';
import { SNAPSHOT_FILE } from '../../../wire/files.js';
import { snapshotConfigMapName } from '../../../wire/names.js';
import { GzipMemo, snapshotFiles } from '../snapshot-layout.js';
import { publishedMaintenance, snapshotShowsWindow } from './published-window.js';

const START = '2031-03-04T05:00:00.000Z';

/** The ConfigMaps the Registry controller publishes for this status, as the operator's cache holds them. */
function published(
  status: GarbageCollectionStatus | undefined,
  limits?: { inlineLimit: number; partBytes: number },
  layout: 'one file' | 'as the operator lays it out' = 'one file',
): Map<string, StoredObject> {
  const registry: RegistryResource = {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'Registry',
    metadata: { name: 'main', namespace: 'registry', generation: 1 },
    spec: { service: 'registry.example.com' },
    ...(status === undefined ? {} : { status: { garbageCollection: status } }),
  };
  const snapshot = compileSnapshot({ registries: [registry], users: [], grants: [], namespaces: [], credentials: new Map() }).registries[0]?.snapshot;
  if (snapshot === undefined) throw new Error('not compiled');
  const name = snapshotConfigMapName('main');
  const plan =
    layout === 'one file'
      ? planChunks(name, snapshot.generation, { [SNAPSHOT_FILE]: serializeSnapshot(snapshot) }, limits)
      : planChunks(name, snapshot.generation, snapshotFiles(snapshot, limits?.inlineLimit ?? 0), limits, undefined, new GzipMemo().options());
  const objects = new Map<string, StoredObject>([[`registry/${name}`, { metadata: { name, namespace: 'registry' }, data: plan.main }]]);
  for (const part of plan.parts) {
    objects.set(`registry/${part.name}`, { metadata: { name: part.name, namespace: 'registry' }, binaryData: { [PART_KEY]: part.bytes.toString('base64') } });
  }
  return objects;
}

const lookup = (objects: Map<string, StoredObject>) => (key: string) => objects.get(key);

describe('the window in the published snapshot', () => {
  it('is read from an inline snapshot and from one split into parts', () => {
    expect(publishedMaintenance(lookup(published({ phase: 'EnteringReadOnly', windowStart: START })), 'registry', 'main')).toEqual({
      readOnly: true,
      since: START,
    });
    const split = published({ phase: 'EnteringReadOnly', windowStart: START }, { inlineLimit: 10, partBytes: 100 });
    expect([...split.keys()].length).toBeGreaterThan(1);
    expect(publishedMaintenance(lookup(split), 'registry', 'main')).toEqual({ readOnly: true, since: START });
  });

  it('is read from the head of a snapshot split into shards', () => {
    const sharded = published({ phase: 'EnteringReadOnly', windowStart: START }, { inlineLimit: 10, partBytes: 100 }, 'as the operator lays it out');
    expect([...sharded.keys()].some((k) => k.includes('-head-'))).toBe(true);
    expect(publishedMaintenance(lookup(sharded), 'registry', 'main')).toEqual({ readOnly: true, since: START });
    expect(
      publishedMaintenance(lookup(published({ phase: 'Idle' }, { inlineLimit: 10, partBytes: 100 }, 'as the operator lays it out')), 'registry', 'main'),
    ).toBe(undefined);
  });

  it.each<[string, Map<string, StoredObject>, boolean]>([
    ['a snapshot carrying this window shows it', published({ phase: 'EnteringReadOnly', windowStart: START }), true],
    ['a snapshot published before the status changed does not', published({ phase: 'Idle' }), false],
    ['a snapshot of another window (another start) does not', published({ phase: 'Collecting', windowStart: '2031-03-03T05:00:00.000Z' }), false],
    ['no snapshot at all does not', new Map(), false],
  ])('%s', (_sentence, objects, shows) => {
    expect(snapshotShowsWindow(lookup(objects), 'registry', 'main', START)).toBe(shows);
  });

  it('a part not yet in the cache makes it unreadable, not a crash', () => {
    const split = published({ phase: 'EnteringReadOnly', windowStart: START }, { inlineLimit: 10, partBytes: 100 });
    const firstPart = [...split.keys()].find((k) => !k.endsWith(snapshotConfigMapName('main')));
    if (firstPart !== undefined) split.delete(firstPart);
    expect(publishedMaintenance(lookup(split), 'registry', 'main')).toBe('unreadable');
    expect(snapshotShowsWindow(lookup(split), 'registry', 'main', START)).toBe(false);
  });
});
