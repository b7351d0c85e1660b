// Whether the snapshot the operator published for a Registry already carries its maintenance window.
// The maintenance controller switches the registry read-only only once it does: from then on a token
// server that loaded it refuses pushes with a clear 503 (policy/read-only-window.ts) instead of issuing
// tokens the read-only registry would answer with a bare 405. What remains: a token server still loading
// it (a watch event away), and tokens issued before the window, valid up to the Registry's tokenTTL.

import { parseSnapshot } from '../../../policy/snapshot-format.js';
import { parseSnapshotHead, SHARD_HEAD_FILE } from '../../../policy/snapshot-shards.js';
import type { MaintenanceState } from '../../../policy/types.js';
import { assembleChunks, mainValues, partBytes, type StoredObject } from '../../../wire/chunked.js';
import { SNAPSHOT_FILE } from '../../../wire/files.js';
import { snapshotConfigMapName } from '../../../wire/names.js';

/** Reads an object of the operator's ConfigMap cache by `namespace/name`. */
export type ConfigMapLookup = (key: string) => StoredObject | undefined;

/**
 * The maintenance state in the published snapshot of `namespace/name`: `undefined` when it carries none,
 * `'unreadable'` when there is no complete, valid snapshot to look at.
 */
export function publishedMaintenance(configMaps: ConfigMapLookup, namespace: string, name: string): MaintenanceState | undefined | 'unreadable' {
  const main = configMaps(`${namespace}/${snapshotConfigMapName(name)}`);
  if (main === undefined) return 'unreadable';
  try {
    const assembled = assembleChunks(mainValues('ConfigMap', main), (part) => {
      const object = configMaps(`${namespace}/${part}`);
      return object && partBytes('ConfigMap', object);
    });
    if (!assembled.complete) return 'unreadable';
    // A sharded snapshot carries the window in its head.
    const head = assembled.files[SHARD_HEAD_FILE];
    if (head !== undefined) return parseSnapshotHead(head).policy.maintenance;
    const text = assembled.files[SNAPSHOT_FILE];
    if (text === undefined) return 'unreadable';
    return parseSnapshot(text).registries[0]?.maintenance;
  } catch {
    return 'unreadable';
  }
}

/** Whether the published snapshot shows the window that started at `windowStart`. */
export function snapshotShowsWindow(configMaps: ConfigMapLookup, namespace: string, name: string, windowStart: string | undefined): boolean {
  const published = publishedMaintenance(configMaps, namespace, name);
  if (published === undefined || published === 'unreadable' || !published.readOnly) return false;
  return windowStart === undefined || Date.parse(windowStart) === Date.parse(published.since ?? '');
}
