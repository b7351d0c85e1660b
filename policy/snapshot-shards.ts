// A large snapshot split into shards, so that one grant or user change rewrites one small shard and a
// reader re-parses only that shard. One registry per snapshot (what the operator publishes):
//   head.json            the snapshot's format and generation, the shard counts, and the registry's
//                        policy without its users and grants;
//   users-NNNN.json      the users whose username hashes to shard NNNN, sorted by username;
//   grants-NNNN.json     the grants whose source hashes to shard NNNN, sorted by source.
// The shard of an entry depends only on its key and the shard count, a power of two that grows with the
// number of entries (about ENTRIES_PER_SHARD each): adding one entry does not move the others, so a change
// leaves every other shard's bytes, and hash, as they were. Joining the shards gives back exactly the
// snapshot they were split from (same entries, same order, same generation).
// Pure: the operator writes the files through wire/chunked.ts, the token server reads them back.

import { canonicalJson, sha256Hex } from './canonical.js';
import { checkSnapshotPiece } from './snapshot-format.js';
import { SNAPSHOT_FORMAT, type GrantEntry, type RegistryPolicy, type Snapshot, type UserEntry } from './types.js';

export const SHARD_HEAD_FILE = 'head.json';
/** About this many users (or grants) per shard: ~300 KB of JSON, ~40 KB gzipped, far below a ConfigMap's 1 MiB. */
export const ENTRIES_PER_SHARD = 1024;

export type ShardKind = 'users' | 'grants';

export interface SnapshotHead {
  format: typeof SNAPSHOT_FORMAT;
  generation: string;
  shards: Record<ShardKind, number>;
  policy: Omit<RegistryPolicy, 'users' | 'grants'>;
}

/** The smallest power of two that keeps shards at about ENTRIES_PER_SHARD entries. */
export function shardCount(entries: number): number {
  let count = 1;
  while (count * ENTRIES_PER_SHARD < entries) count *= 2;
  return count;
}

/** Which of `count` shards holds the entry with this key (a username or a grant's source). */
export function shardOf(key: string, count: number): number {
  // count is a power of two: the low bits of the hash's first 32 bits.
  return Number.parseInt(sha256Hex(key).slice(0, 8), 16) % count;
}

export function shardFile(kind: ShardKind, index: number): string {
  return `${kind}-${String(index).padStart(4, '0')}.json`;
}

/** Whether a set of file names is a sharded snapshot (rather than one snapshot.json). */
export function isShardedSnapshot(files: Iterable<string>): boolean {
  for (const f of files) if (f === SHARD_HEAD_FILE) return true;
  return false;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Splits a one-registry snapshot into head and shard files (text, deterministic bytes). */
export function shardSnapshot(snapshot: Snapshot): Record<string, string> {
  if (snapshot.registries.length !== 1) throw new Error(`a sharded snapshot holds one registry, not ${snapshot.registries.length}`);
  const { users, grants, ...policy } = snapshot.registries[0] as RegistryPolicy;
  const counts = { users: shardCount(users.length), grants: shardCount(grants.length) };
  const head: SnapshotHead = { format: snapshot.format, generation: snapshot.generation, shards: counts, policy };
  const files: Record<string, string> = { [SHARD_HEAD_FILE]: `${canonicalJson(head)}\n` };
  const split = <T>(kind: ShardKind, entries: readonly T[], key: (e: T) => string): void => {
    const buckets: T[][] = Array.from({ length: counts[kind] }, () => []);
    // The snapshot's entries are sorted, so each bucket is too.
    for (const e of entries) buckets[shardOf(key(e), counts[kind])]!.push(e);
    for (const [i, bucket] of buckets.entries()) files[shardFile(kind, i)] = `${canonicalJson(bucket)}\n`;
  };
  split('users', users, (u) => u.username);
  split('grants', grants, (g) => g.source);
  return files;
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** Parses and validates the head file. */
export function parseSnapshotHead(text: string): SnapshotHead {
  const value = parseJson(text, SHARD_HEAD_FILE) as Partial<SnapshotHead> | null;
  if (value === null || typeof value !== 'object') throw new Error(`${SHARD_HEAD_FILE} must be a JSON object`);
  if (value.format !== SNAPSHOT_FORMAT) throw new Error(`${SHARD_HEAD_FILE}: format must be ${JSON.stringify(SNAPSHOT_FORMAT)}`);
  if (typeof value.generation !== 'string' || !/^[0-9a-f]{64}$/.test(value.generation)) throw new Error(`${SHARD_HEAD_FILE}: generation must be a hex sha256`);
  const powerOfTwo = (n: unknown): boolean => Number.isInteger(n) && (n as number) > 0 && ((n as number) & ((n as number) - 1)) === 0;
  if (!powerOfTwo(value.shards?.users) || !powerOfTwo(value.shards?.grants)) throw new Error(`${SHARD_HEAD_FILE}: shard counts must be powers of two`);
  checkSnapshotPiece('head', value.policy, 'head.policy');
  return value as SnapshotHead;
}

/** Parses and validates one shard: its entries, sorted, each in the shard its key hashes to. */
export function parseShard<K extends ShardKind>(kind: K, index: number, count: number, text: string): (K extends 'users' ? UserEntry : GrantEntry)[] {
  const file = shardFile(kind, index);
  const value = parseJson(text, file);
  checkSnapshotPiece(kind, value, file);
  const entries = value as (UserEntry | GrantEntry)[];
  const keyOf = (e: UserEntry | GrantEntry): string => ('username' in e ? e.username : e.source);
  for (const [i, e] of entries.entries()) {
    const key = keyOf(e);
    if (shardOf(key, count) !== index) throw new Error(`${file}[${i}] belongs to another shard`);
    if (i > 0 && compareStrings(keyOf(entries[i - 1]!), key) >= 0) throw new Error(`${file}[${i}] is out of order or repeated`);
  }
  return entries as (K extends 'users' ? UserEntry : GrantEntry)[];
}

/** The files a head names, in order: what a reader must have before it can join them. */
export function shardFilesOf(head: SnapshotHead): string[] {
  return (['users', 'grants'] as const).flatMap((kind) => Array.from({ length: head.shards[kind] }, (_, i) => shardFile(kind, i)));
}

/**
 * Joins a head and its shards back into the snapshot. `shard(file)` returns a shard's parsed entries
 * (a reader keeps them by content hash, so an unchanged shard is not parsed again).
 */
export function joinShards(head: SnapshotHead, shard: (kind: ShardKind, index: number) => readonly (UserEntry | GrantEntry)[]): Snapshot {
  const gather = <T extends UserEntry | GrantEntry>(kind: ShardKind, key: (e: T) => string): T[] => {
    const all: T[] = [];
    for (let i = 0; i < head.shards[kind]; i++) for (const e of shard(kind, i)) all.push(e as T);
    return all.sort((a, b) => compareStrings(key(a), key(b)));
  };
  const users = gather<UserEntry>('users', (u) => u.username);
  const grants = gather<GrantEntry>('grants', (g) => g.source);
  return { format: head.format, generation: head.generation, registries: [{ ...head.policy, users, grants }] };
}
