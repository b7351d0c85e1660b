// Reads the snapshot files of the main ConfigMap's manifest: one snapshot.json, or a head and shards
// (policy/snapshot-shards.ts). Parsed shards are kept by file and content hash, so a new generation that
// changed one shard costs parsing one shard; the others are not even unzipped again (`known`). The
// entries are joined again from the last snapshot read, swapping only the changed shards' entries
// (policy/shard-rejoin.ts), and the changes are recorded for the index patch (policy-index-delta.ts).

import { parseSnapshot } from '../../policy/snapshot-format.js';
import { joinShards, parseShard, parseSnapshotHead, shardFile, SHARD_HEAD_FILE, type ShardKind, type SnapshotHead } from '../../policy/snapshot-shards.js';
import { recordEntryChanges } from '../../policy/policy-index-delta.js';
import { rejoinShards } from '../../policy/shard-rejoin.js';
import type { GrantEntry, RegistryPolicy, Snapshot, UserEntry } from '../../policy/types.js';
import { SNAPSHOT_FILE } from '../../wire/files.js';

type Entries = readonly (UserEntry | GrantEntry)[];

export class SnapshotReader {
  /** `file@sha256` -> entries, for the shards of the last snapshot read. */
  private shards = new Map<string, Entries>();
  /** The shard counts those entries were checked against. */
  private counts = '';
  /** The last snapshot read from shards, and its shards' entries in order. */
  private last: { snapshot: Snapshot; parsed: Record<ShardKind, Entries[]> } | undefined;

  /** Whether the reader already holds this file's content: assembleChunks then skips it. */
  readonly known = (file: string, sha256: string): boolean => file !== SHARD_HEAD_FILE && this.shards.has(`${file}@${sha256}`);

  /**
   * The snapshot the files make. `hashes`: every file the manifest lists, with its sha256; `file`: the
   * text of a file `known` did not skip (undefined for one it skipped), asked for once per file, so a
   * lazy source (openChunks) unzips one shard at a time and its text is garbage once parsed. Returns
   * 'reread' when a skipped shard must be read after all (the shard counts changed): call again with
   * every file. Throws on a malformed snapshot; the shards kept stay those of the last good one.
   */
  read(hashes: Readonly<Record<string, string>>, file: (name: string) => string | undefined): Snapshot | 'reread' {
    const whole = file(SNAPSHOT_FILE);
    if (whole !== undefined) {
      const snapshot = parseSnapshot(whole);
      this.shards = new Map();
      this.last = undefined;
      return snapshot;
    }
    const headText = file(SHARD_HEAD_FILE);
    if (headText === undefined) throw new Error(`the manifest lists neither ${SNAPSHOT_FILE} nor ${SHARD_HEAD_FILE}`);
    const head = parseSnapshotHead(headText);
    const counts = `${head.shards.users}/${head.shards.grants}`;
    const next = new Map<string, Entries>();
    const parsed: Record<ShardKind, Entries[]> = { users: [], grants: [] };
    const named = new Set([SHARD_HEAD_FILE]);
    for (const kind of ['users', 'grants'] as const) {
      for (let i = 0; i < head.shards[kind]; i++) {
        const name = shardFile(kind, i);
        named.add(name);
        const sha256 = hashes[name];
        if (sha256 === undefined) throw new Error(`the manifest does not list ${name}`);
        const key = `${name}@${sha256}`;
        let entries = counts === this.counts ? this.shards.get(key) : undefined;
        if (entries === undefined) {
          const text = file(name);
          if (text === undefined) return 'reread';
          entries = parseShard(kind, i, head.shards[kind], text);
        }
        next.set(key, entries);
        parsed[kind].push(entries);
      }
    }
    const extra = Object.keys(hashes).find((f) => !named.has(f));
    if (extra !== undefined) throw new Error(`the manifest lists ${extra}, which the head does not name`);
    const rejoined = counts === this.counts && this.last !== undefined ? rejoin(head, this.last, parsed) : undefined;
    const snapshot = rejoined ?? joinShards(head, (kind, i) => parsed[kind][i] ?? []);
    this.shards = next;
    this.counts = counts;
    this.last = { snapshot, parsed };
    return snapshot;
  }
}

/** The snapshot from the last one and the shards that changed since; undefined when joining them all is as cheap. */
function rejoin(
  head: SnapshotHead,
  last: { snapshot: Snapshot; parsed: Record<ShardKind, Entries[]> },
  parsed: Record<ShardKind, Entries[]>,
): Snapshot | undefined {
  const before = last.snapshot.registries[0];
  if (before === undefined) return undefined;
  const users = rejoinShards(before.users, last.parsed.users as UserEntry[][], parsed.users as UserEntry[][], (u) => u.username);
  const grants = rejoinShards(before.grants, last.parsed.grants as GrantEntry[][], parsed.grants as GrantEntry[][], (g) => g.source);
  if (users === undefined || grants === undefined) return undefined;
  const next: RegistryPolicy = { ...head.policy, users: users.joined, grants: grants.joined };
  recordEntryChanges(next, before, { users, grants });
  return { format: head.format, generation: head.generation, registries: [next] };
}
