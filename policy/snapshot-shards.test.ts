import { describe, expect, it } from 'vitest';
import { snapshotOf } from './snapshot-format.js';
import {
  ENTRIES_PER_SHARD,
  joinShards,
  parseShard,
  parseSnapshotHead,
  shardCount,
  shardFile,
  shardOf,
  shardSnapshot,
  SHARD_HEAD_FILE,
  type ShardKind,
} from './snapshot-shards.js';
import type { GrantEntry, RegistryPolicy, Snapshot, UserEntry } from './types.js';

const user = (i: number): UserEntry => ({
  username: `user-${i}`,
  groups: [`team-${i % 7}`],
  disabled: false,
  credentialRevision: `rev-${i}`,
  source: `bench/user-${i}`,
});
const grant = (i: number, actions: GrantEntry['actions'] = ['pull']): GrantEntry => ({
  source: `bench/grant-${i}`,
  subjects: [{ kind: 'User', name: `user-${i}` }],
  repositories: [`u-${i}/app`],
  actions,
  catalog: false,
});

function snapshot(users: number, grants: number, change?: (p: RegistryPolicy) => void): Snapshot {
  const policy: RegistryPolicy = {
    id: 'bench/main',
    service: 'bench.registry',
    issuer: 'portcullis',
    tokenTTLSeconds: 300,
    signingAlgorithm: 'ES256',
    users: Array.from({ length: users }, (_, i) => user(i)).sort((a, b) => (a.username < b.username ? -1 : 1)),
    grants: Array.from({ length: grants }, (_, i) => grant(i)).sort((a, b) => (a.source < b.source ? -1 : 1)),
  };
  change?.(policy);
  return snapshotOf([policy]);
}

/** Joins files back the way a reader does. */
function join(files: Record<string, string>): Snapshot {
  const head = parseSnapshotHead(files[SHARD_HEAD_FILE]!);
  return joinShards(head, (kind: ShardKind, i) => parseShard(kind, i, head.shards[kind], files[shardFile(kind, i)]!));
}

const changedFiles = (a: Record<string, string>, b: Record<string, string>): string[] =>
  [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((f) => a[f] !== b[f]).sort();

describe('shard counts', () => {
  it.each([
    [0, 1],
    [1, 1],
    [ENTRIES_PER_SHARD, 1],
    [ENTRIES_PER_SHARD + 1, 2],
    [4 * ENTRIES_PER_SHARD, 4],
    [100_000, 128],
  ])('%i entries -> %i shards', (entries, count) => {
    expect(shardCount(entries)).toBe(count);
  });

  it('places a key by its hash alone: the same shard whatever else the snapshot holds', () => {
    expect(shardOf('bench/grant-7', 64)).toBe(shardOf('bench/grant-7', 64));
    expect(shardOf('bench/grant-7', 64) % 32).toBe(shardOf('bench/grant-7', 32));
    const spread = new Set(Array.from({ length: 1000 }, (_, i) => shardOf(`k-${i}`, 8)));
    expect(spread.size).toBe(8);
  });
});

describe('a snapshot split into shards', () => {
  it.each([
    ['empty', 0, 0],
    ['one of each', 1, 1],
    ['several shards of each', 3 * ENTRIES_PER_SHARD, 5 * ENTRIES_PER_SHARD],
  ])('joins back to the same snapshot (%s)', (_name, users, grants) => {
    const s = snapshot(users, grants);
    const files = shardSnapshot(s);
    expect(Object.keys(files)).toHaveLength(1 + shardCount(users) + shardCount(grants));
    expect(join(files)).toEqual(s);
  });

  it.each<[string, (p: RegistryPolicy) => void, string[]]>([
    [
      'a grant edited',
      (p) => {
        p.grants = p.grants.map((g) => (g.source === 'bench/grant-42' ? grant(42, ['pull', 'push']) : g));
      },
      [shardFile('grants', shardOf('bench/grant-42', 4))],
    ],
    ['a grant added', (p) => p.grants.push(grant(9999)), [shardFile('grants', shardOf('bench/grant-9999', 4))]],
    ['a user removed', (p) => (p.users = p.users.filter((u) => u.username !== 'user-5')), [shardFile('users', shardOf('user-5', 2))]],
    ['the registry settings changed', (p) => (p.tokenTTLSeconds = 600), []],
  ])('%s: the head and only that shard change', (_name, change, shards) => {
    const before = shardSnapshot(snapshot(2000, 4000));
    const after = shardSnapshot(snapshot(2000, 4000, change));
    expect(changedFiles(before, after)).toEqual([SHARD_HEAD_FILE, ...shards].sort());
  });

  it('refuses more than one registry', () => {
    const two = snapshotOf([
      { ...snapshot(0, 0).registries[0]!, service: 'a' },
      { ...snapshot(0, 0).registries[0]!, service: 'b', id: 'x/b' },
    ]);
    expect(() => shardSnapshot(two)).toThrow('a sharded snapshot holds one registry, not 2');
  });
});

describe('reading shards', () => {
  const files = shardSnapshot(snapshot(10, 3000));
  const grantShard = shardFile('grants', 0);

  it.each<[string, () => unknown, string]>([
    ['a head of another format', () => parseSnapshotHead(files[SHARD_HEAD_FILE]!.replace('snapshot/v3', 'snapshot/v9')), 'format must be'],
    ['a head whose shard count is not a power of two', () => parseSnapshotHead(files[SHARD_HEAD_FILE]!.replace('"grants":4', '"grants":3')), 'powers of two'],
    ['a head with a bad policy', () => parseSnapshotHead(files[SHARD_HEAD_FILE]!.replace('"ES256"', '"none"')), 'ES256 or RS256'],
    ['a shard that is not JSON', () => parseShard('grants', 0, 4, '[{'), 'is not valid JSON'],
    ['a grant with an unknown action', () => parseShard('grants', 0, 4, files[grantShard]!.replace('"pull"', '"own"')), 'a list of pull, push, delete'],
    ['a shard read as another shard', () => parseShard('grants', 1, 4, files[grantShard]!), 'belongs to another shard'],
    ['a shard read against a larger count', () => parseShard('grants', 1, 8, files[shardFile('grants', 1)]!), 'belongs to another shard'],
  ])('refuses %s', (_name, read, message) => {
    expect(read).toThrow(message);
  });

  it('refuses a shard whose entries repeat', () => {
    const entries = JSON.parse(files[grantShard]!) as GrantEntry[];
    expect(() => parseShard('grants', 0, 4, JSON.stringify([entries[0], entries[0]]))).toThrow('out of order or repeated');
  });
});
