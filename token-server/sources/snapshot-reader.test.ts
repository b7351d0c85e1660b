import { describe, expect, it } from 'vitest';
import { authorize, buildPolicyIndex } from '../../policy/authorize.js';
import { updatePolicyIndex } from '../../policy/policy-index-delta.js';
import { serializeSnapshot, snapshotOf } from '../../policy/snapshot-format.js';
import { ENTRIES_PER_SHARD, SHARD_HEAD_FILE, shardSnapshot } from '../../policy/snapshot-shards.js';
import type { GrantEntry, RegistryPolicy, Snapshot } from '../../policy/types.js';
import { assembleChunks, openChunks, parseManifest, planChunks, MANIFEST_KEY, type ChunkPlan } from '../../wire/chunked.js';
import { SNAPSHOT_FILE } from '../../wire/files.js';
import { SnapshotReader } from './snapshot-reader.js';

const LIMITS = { inlineLimit: 4096, partBytes: 64 * 1024 };
const grant = (i: number, actions: GrantEntry['actions']): GrantEntry => ({
  source: `bench/grant-${i}`,
  subjects: [{ kind: 'User', name: `user-${i}` }],
  repositories: [`u-${i}/app`],
  actions,
  catalog: false,
});

/** A snapshot of `grants` grants, grant `pushTo` (if any) allowing push as well. */
function snapshot(grants: number, pushTo?: number): Snapshot {
  const policy: RegistryPolicy = {
    id: 'bench/main',
    service: 'bench.registry',
    issuer: 'portcullis',
    tokenTTLSeconds: 300,
    signingAlgorithm: 'ES256',
    users: [],
    grants: Array.from({ length: grants }, (_, i) => grant(i, i === pushTo ? ['pull', 'push'] : ['pull'])).sort((a, b) => (a.source < b.source ? -1 : 1)),
  };
  return snapshotOf([policy]);
}

/** Laid out as the operator does: one snapshot.json when small, else shards in parts named by content. */
function plan(s: Snapshot): ChunkPlan {
  const files = s.registries[0]!.grants.length < 10 ? { [SNAPSHOT_FILE]: serializeSnapshot(s) } : shardSnapshot(s);
  return planChunks('snap', s.generation, files, LIMITS, undefined, { contentNames: true });
}

/** The ConfigMaps as a token server's informer holds them: the main object's values and the parts by name. */
class Cluster {
  main: Record<string, string> = {};
  parts = new Map<string, Buffer>();
  writeParts(p: ChunkPlan): void {
    for (const part of p.parts) this.parts.set(part.name, part.bytes);
  }
  writeMain(p: ChunkPlan): void {
    this.main = p.main;
  }
  deleteStale(p: ChunkPlan): void {
    for (const name of this.parts.keys()) if (!p.parts.some((q) => q.name === name)) this.parts.delete(name);
  }
  publish(p: ChunkPlan): void {
    this.writeParts(p);
    this.writeMain(p);
    this.deleteStale(p);
  }
}

/**
 * What the Kubernetes source does on an event: undefined while parts are missing (it keeps what it
 * serves). `read` collects the files unzipped, in order; each is asked for at most once per pass.
 */
function load(reader: SnapshotReader, cluster: Cluster, read: string[] = []): Snapshot | undefined {
  const opened = openChunks(cluster.main, (n) => cluster.parts.get(n), reader.known);
  if (!opened.complete) return undefined;
  const hashes = Object.fromEntries(Object.entries(parseManifest(cluster.main[MANIFEST_KEY]!).files).map(([f, e]) => [f, e.sha256]));
  const recorded = (file: (name: string) => string | undefined) => {
    const asked = new Set<string>();
    return (name: string): string | undefined => {
      if (asked.has(name)) throw new Error(`${name} asked for twice`);
      asked.add(name);
      const text = file(name);
      if (text !== undefined) read.push(name);
      return text;
    };
  };
  let result = reader.read(hashes, recorded(opened.file));
  if (result === 'reread') {
    const whole = openChunks(cluster.main, (n) => cluster.parts.get(n));
    if (!whole.complete) return undefined;
    result = reader.read(hashes, recorded(whole.file));
  }
  if (result === 'reread') throw new Error('reread twice');
  return result;
}

const pushAllowed = (s: Snapshot | undefined, i: number): boolean | undefined =>
  s?.registries[0]?.grants.find((g) => g.source === `bench/grant-${i}`)?.actions.includes('push');

describe('reading a sharded snapshot generation by generation', () => {
  const size = 3 * ENTRIES_PER_SHARD;
  const before = plan(snapshot(size));
  const after = plan(snapshot(size, 7));

  it('a change rewrites one shard part and the manifest; the reader unzips and parses only that shard', () => {
    const newParts = after.parts.filter((p) => !before.parts.some((q) => q.name === p.name));
    expect(newParts).toHaveLength(2); // the head and the shard holding grant-7
    const cluster = new Cluster();
    cluster.publish(before);
    const reader = new SnapshotReader();
    expect(load(reader, cluster)).toEqual(snapshot(size));
    cluster.publish(after);
    const read: string[] = [];
    expect(load(reader, cluster, read)).toEqual(snapshot(size, 7));
    expect(read.sort()).toEqual([SHARD_HEAD_FILE, expect.stringMatching(/^grants-\d{4}\.json$/)].sort());
  });

  it('generation after generation, the rejoined entries are the whole join, and the index patched with the changes the reader recorded decides as a fresh one', () => {
    const cluster = new Cluster();
    const reader = new SnapshotReader();
    // The users asked about must be known to the index.
    const known = (s: Snapshot): Snapshot =>
      snapshotOf(
        s.registries.map((p) => ({
          ...p,
          users: [7, 8, 2000]
            .map((i) => ({ username: `user-${i}`, groups: [], disabled: false, credentialRevision: `rev-${i}`, source: `bench/user-${i}` }))
            .sort((a, b) => (a.username < b.username ? -1 : 1)),
        })),
      );
    cluster.publish(plan(known(snapshot(size))));
    let served = load(reader, cluster)!;
    let index = buildPolicyIndex(served.registries[0]!);
    const decide = (i: number): string[] =>
      authorize(index, { kind: 'user', username: `user-${i}`, groups: [] }, [{ type: 'repository', name: `u-${i}/app`, actions: ['pull', 'push'] }])[0]!
        .granted;
    for (const pushTo of [7, 8, 2000, 7]) {
      const expected = known(snapshot(size, pushTo));
      cluster.publish(plan(expected));
      const loaded = load(reader, cluster)!;
      expect(loaded).toEqual(expected);
      index = updatePolicyIndex(index, loaded.registries[0]!);
      served = loaded;
      for (const i of [7, 8, 2000]) expect(decide(i)).toEqual(i === pushTo ? ['pull', 'push'] : ['pull']);
    }
    expect(served.generation).toBe(known(snapshot(size, 7)).generation);
  });

  it.each<[string, (c: Cluster) => void, boolean | undefined]>([
    ['new shards written, manifest not yet: the old generation, whole', (c) => c.writeParts(after), false],
    ['manifest written before its shards arrived: nothing new (the old generation keeps serving)', (c) => c.writeMain(after), undefined],
    ['manifest and shards: the new generation', (c) => (c.writeParts(after), c.writeMain(after)), true],
    ['old shards deleted after the manifest: the new generation', (c) => c.publish(after), true],
  ])('torn update, %s', (_name, step, push) => {
    const cluster = new Cluster();
    cluster.publish(before);
    const reader = new SnapshotReader();
    load(reader, cluster);
    step(cluster);
    const loaded = load(reader, cluster);
    expect(pushAllowed(loaded, 7)).toBe(push);
    // Whatever the reader returns is one complete generation: its content hash is the one it carries.
    if (loaded !== undefined) expect(snapshotOf(loaded.registries).generation).toBe(loaded.generation);
  });

  it('a shard part rewritten under the same name with other bytes is waited for, never mixed in', () => {
    const cluster = new Cluster();
    cluster.writeParts(after);
    const changed = after.parts.find((p) => !before.parts.some((q) => q.name === p.name) && !p.name.includes('-head-'))!;
    cluster.writeMain(after);
    cluster.parts.set(changed.name, Buffer.from('torn'));
    expect(load(new SnapshotReader(), cluster)).toBeUndefined();
  });

  it('reads every shard again when the shard count changes', () => {
    const cluster = new Cluster();
    cluster.publish(before);
    const reader = new SnapshotReader();
    load(reader, cluster);
    cluster.publish(plan(snapshot(5 * ENTRIES_PER_SHARD, 7)));
    expect(load(reader, cluster)).toEqual(snapshot(5 * ENTRIES_PER_SHARD, 7));
  });

  it('switches between one snapshot.json and shards as the snapshot grows or shrinks', () => {
    const cluster = new Cluster();
    const reader = new SnapshotReader();
    const small = plan(snapshot(3));
    expect(Object.keys(small.main)).toContain(SNAPSHOT_FILE);
    cluster.publish(small);
    expect(load(reader, cluster)).toEqual(snapshot(3));
    cluster.publish(before);
    expect(load(reader, cluster)).toEqual(snapshot(size));
    cluster.publish(small);
    expect(load(reader, cluster)).toEqual(snapshot(3));
  });

  it('a malformed shard is refused and the shards of the last good generation stay', () => {
    const cluster = new Cluster();
    cluster.publish(before);
    const reader = new SnapshotReader();
    load(reader, cluster);
    const hashes = Object.fromEntries(Object.entries(after.manifest.files).map(([f, e]) => [f, e.sha256]));
    const changed = Object.keys(hashes).find((f) => f !== SHARD_HEAD_FILE && before.manifest.files[f]?.sha256 !== hashes[f])!;
    const files: Record<string, string> = { [SHARD_HEAD_FILE]: headOf(after), [changed]: '[{"source":1}]' };
    expect(() => reader.read(hashes, (name) => files[name])).toThrow('invalid snapshot');
    cluster.publish(after);
    const read: string[] = [];
    expect(load(reader, cluster, read)).toEqual(snapshot(size, 7));
    expect(read.sort()).toEqual([SHARD_HEAD_FILE, changed].sort());
  });
});

function headOf(p: ChunkPlan): string {
  const assembled = assembleChunks(p.main, (n) => p.parts.find((q) => q.name === n)?.bytes);
  if (!assembled.complete) throw new Error('incomplete');
  return assembled.files[SHARD_HEAD_FILE]!;
}
