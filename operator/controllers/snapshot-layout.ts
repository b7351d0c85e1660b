// How the operator lays out a Registry's snapshot in ConfigMaps. A snapshot that fits inline stays one
// snapshot.json in the main ConfigMap, byte for byte what `portcullis compile` writes (so a mounted
// ConfigMap still works as a --policy-dir). A larger one is split into shards (policy/snapshot-shards.ts),
// each gzipped into its own ConfigMap named after its content: a grant or user change rewrites one shard
// and the main ConfigMap's manifest, and deletes the shard it replaced.

import { serializeSnapshot } from '../../policy/snapshot-format.js';
import { ShardPlanner } from '../../policy/snapshot-shard-planner.js';
import { shardSnapshot } from '../../policy/snapshot-shards.js';
import type { Snapshot } from '../../policy/types.js';
import { gzipText, sha256Hex, utf8Length, type ChunkOptions } from '../../wire/chunked.js';
import { SNAPSHOT_FILE } from '../../wire/files.js';

/**
 * The files to publish for `snapshot`: one snapshot.json when all of it fits in `inlineLimit` bytes, else
 * its shards. A `planner` kept across publishes makes the shards from what it remembers of the last ones;
 * `byteLength` may remember the lengths of unchanged shards (GzipMemo.byteLength).
 */
export function snapshotFiles(
  snapshot: Snapshot,
  inlineLimit: number,
  planner?: ShardPlanner,
  byteLength: (text: string) => number = utf8Length,
): Record<string, string> {
  if (snapshot.registries.length !== 1) return { [SNAPSHOT_FILE]: serializeSnapshot(snapshot) };
  const shards = planner === undefined ? shardSnapshot(snapshot) : planner.files(snapshot);
  let total = 0;
  for (const text of Object.values(shards)) total += byteLength(text);
  return total <= inlineLimit ? { [SNAPSHOT_FILE]: serializeSnapshot(snapshot) } : shards;
}

/** Values by key from one plan, kept for the next: what a plan did not ask for is let go at `settle`. */
class PlanMemo<K, V> {
  private last = new Map<K, V>();
  private next = new Map<K, V>();

  get(key: K, compute: () => V): V {
    const value = this.last.get(key) ?? this.next.get(key) ?? compute();
    this.next.set(key, value);
    return value;
  }

  settle(): void {
    this.last = this.next;
    this.next = new Map();
  }
}

/**
 * Remembers the gzipped bytes of the files of the last publish, by content hash: gzip at level 9 is
 * most of a publish's cost, and between two generations all shards but one are unchanged.
 */
export class GzipMemo {
  private readonly bytes = new PlanMemo<string, Buffer>();
  /**
   * Texts hashed by the plans, by the text itself: an unchanged file is the same string from one plan to
   * the next (the planner and the published documents remember their texts), and V8 keeps a string's own
   * hash, so finding it costs no pass over the text. At 100,000 users and grants, hashing every file
   * again was about 27 ms of each grant change (in-process bench profile).
   */
  private readonly hashes = new PlanMemo<string, string>();
  /**
   * Lengths in UTF-8 bytes, by the text, as the hashes: the inline-or-shards decision and the plan each
   * measured every file again, about 15 ms of each grant change at 100,000 users and grants (in-process
   * bench profile, 9 % of the change).
   */
  private readonly lengths = new PlanMemo<string, number>();

  readonly gzip = (text: string, sha256: string): Buffer => this.bytes.get(sha256, () => gzipText(text));

  readonly sha256 = (text: string): string => this.hashes.get(text, () => sha256Hex(text));

  readonly byteLength = (text: string): number => this.lengths.get(text, () => utf8Length(text));

  /** Keeps what the plan just made used; drops the rest. */
  settle(): void {
    this.bytes.settle();
    this.hashes.settle();
    this.lengths.settle();
  }

  /** Parts named after their content (the snapshot's shards); `contentNames: false` keeps the plan's own names (fixed slots, generations). */
  options(contentNames = true): ChunkOptions {
    const memos = { gzip: this.gzip, sha256: this.sha256, byteLength: this.byteLength };
    return contentNames ? { contentNames: true, ...memos } : memos;
  }
}
