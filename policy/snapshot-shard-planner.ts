// shardSnapshot (snapshot-shards.ts) for a process that shards one registry's snapshot after every
// change: the shard each key hashes to is remembered, a shard whose entries are the very objects of the
// last plan keeps its text, and the others are joined from remembered entry JSON (snapshot-json.ts).
// Same files, byte for byte, as shardSnapshot (snapshot-shard-planner.test.ts).

import { canonicalJson, sha256Hex } from './canonical.js';
import { sameElements } from './same-elements.js';
import { EntryJson, entriesJson } from './snapshot-json.js';
import { SHARD_HEAD_FILE, shardCount, shardFile, type ShardKind, type SnapshotHead } from './snapshot-shards.js';
import type { GrantEntry, RegistryPolicy, Snapshot, UserEntry } from './types.js';

type Entry = UserEntry | GrantEntry;

export class ShardPlanner {
  /** Key -> the first 32 bits of its sha256 (what shardOf reduces modulo the count). */
  private slots = new Map<string, number>();
  /** File -> the entries and text of the last plan. */
  private last = new Map<string, { entries: readonly Entry[]; text: string }>();
  /** Per kind: the list of the last plan and its shard count. */
  private lists: Partial<Record<ShardKind, { entries: readonly Entry[]; count: number }>> = {};

  constructor(private readonly json: EntryJson = new EntryJson()) {}

  private slotOf(key: string): number {
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = Number.parseInt(sha256Hex(key).slice(0, 8), 16);
      this.slots.set(key, slot);
    }
    return slot;
  }

  private bucket(entries: readonly Entry[], count: number, key: (e: Entry) => string): Entry[][] {
    const buckets: Entry[][] = Array.from({ length: count }, () => []);
    for (const e of entries) buckets[this.slotOf(key(e)) % count]!.push(e);
    return buckets;
  }

  /**
   * The last plan's buckets with the entries that were replaced in place (same position, same key, so
   * same shard and order) swapped for their new objects; undefined when the list changed otherwise.
   */
  private patch(kind: ShardKind, entries: readonly Entry[], count: number, key: (e: Entry) => string): Entry[][] | undefined {
    const last = this.lists[kind];
    if (last === undefined || last.count !== count || last.entries.length !== entries.length) return undefined;
    const buckets = Array.from({ length: count }, (_, i) => this.last.get(shardFile(kind, i))?.entries as Entry[] | undefined);
    if (buckets.some((b) => b === undefined)) return undefined;
    const copied = new Set<number>();
    for (let i = 0; i < entries.length; i++) {
      const before = last.entries[i] as Entry;
      const after = entries[i] as Entry;
      if (before === after) continue;
      if (copied.size > count / 4 || key(before) !== key(after)) return undefined;
      const shard = this.slotOf(key(after)) % count;
      if (!copied.has(shard)) {
        buckets[shard] = [...(buckets[shard] as Entry[])];
        copied.add(shard);
      }
      const list = buckets[shard] as Entry[];
      const at = list.indexOf(before);
      if (at < 0) return undefined;
      list[at] = after;
    }
    return buckets as Entry[][];
  }

  /** shardSnapshot(snapshot). */
  files(snapshot: Snapshot): Record<string, string> {
    if (snapshot.registries.length !== 1) throw new Error(`a sharded snapshot holds one registry, not ${snapshot.registries.length}`);
    const { users, grants, ...policy } = snapshot.registries[0] as RegistryPolicy;
    const counts = { users: shardCount(users.length), grants: shardCount(grants.length) };
    const head: SnapshotHead = { format: snapshot.format, generation: snapshot.generation, shards: counts, policy };
    const files: Record<string, string> = { [SHARD_HEAD_FILE]: `${canonicalJson(head)}\n` };
    const next = new Map<string, { entries: readonly Entry[]; text: string }>();
    const split = (kind: ShardKind, entries: readonly Entry[], key: (e: Entry) => string): void => {
      const patched = this.patch(kind, entries, counts[kind], key);
      const buckets: readonly Entry[][] = patched ?? this.bucket(entries, counts[kind], key);
      for (const [i, bucket] of buckets.entries()) {
        const file = shardFile(kind, i);
        const kept = this.last.get(file);
        const same = kept !== undefined && sameElements(kept.entries, bucket);
        const text = same ? kept.text : `${entriesJson(bucket, this.json)}\n`;
        next.set(file, { entries: bucket, text });
        files[file] = text;
      }
      this.lists[kind] = { entries, count: counts[kind] };
    };
    split('users', users, (u) => (u as UserEntry).username);
    split('grants', grants, (g) => (g as GrantEntry).source);
    this.last = next;
    // Keys of deleted entries: dropped once they outnumber the live ones.
    if (this.slots.size > 2 * (users.length + grants.length) + 1024) {
      const live = new Map<string, number>();
      for (const u of users) live.set(u.username, this.slotOf(u.username));
      for (const g of grants) live.set(g.source, this.slotOf(g.source));
      this.slots = live;
    }
    return files;
  }
}
