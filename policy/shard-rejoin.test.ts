import { describe, expect, it } from 'vitest';
import { random } from '../local/seeded-random.js';
import { compareStrings } from './compile/status.js';
import { rejoinShards } from './shard-rejoin.js';

interface Entry {
  key: string;
  version: number;
}

const SHARDS = 16;
const shardOf = (key: string): number => [...key].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % SHARDS;
const byKey = (a: Entry, b: Entry): number => compareStrings(a.key, b.key);
const keyOf = (e: Entry): string => e.key;

function shardsOf(entries: Entry[]): Entry[][] {
  const shards = Array.from({ length: SHARDS }, (): Entry[] => []);
  for (const e of entries) shards[shardOf(e.key)]!.push(e);
  return shards.map((s) => s.sort(byKey));
}

describe('rejoinShards', () => {
  it('gives what gathering and sorting every shard gives, after random edits of a few shards', () => {
    const next = random(42);
    for (let round = 0; round < 200; round++) {
      const entries = Array.from({ length: 50 + Math.floor(next() * 300) }, (_, i) => ({ key: `k-${i}-${Math.floor(next() * 1e6)}`, version: 0 }));
      const before = shardsOf(entries);
      const joined = before.flat().sort(byKey);
      // Edit one to three shards: drop some entries, replace some (same key, new object), add new keys.
      const after = [...before];
      const edited = new Set(Array.from({ length: 1 + Math.floor(next() * 3) }, () => Math.floor(next() * SHARDS)));
      for (const s of edited) {
        const shard = before[s]!.filter(() => next() > 0.2).map((e) => (next() < 0.3 ? { key: e.key, version: e.version + 1 } : e));
        for (let j = 0; j < 5; j++) {
          const key = `new-${round}-${j}-${Math.floor(next() * 1e6)}`;
          if (shardOf(key) === s) shard.push({ key, version: 0 });
        }
        after[s] = shard.sort(byKey);
      }
      const result = rejoinShards(joined, before, after, keyOf);
      expect(result).toBeDefined();
      const expected = after.flat().sort(byKey);
      expect(result!.joined).toEqual(expected);
      expect(result!.joined.every((e, i) => e === expected[i])).toBe(true);
      expect(new Set(result!.removed)).toEqual(new Set([...edited].flatMap((s) => before[s]!)));
      expect(result!.added.map(keyOf)).toEqual(
        [...edited]
          .flatMap((s) => after[s]!)
          .sort(byKey)
          .map(keyOf),
      );
    }
  });

  it('hands back the same entries when no shard changed', () => {
    const before = shardsOf([
      { key: 'a', version: 0 },
      { key: 'b', version: 0 },
    ]);
    const joined = before.flat().sort(byKey);
    const result = rejoinShards(joined, before, [...before], keyOf);
    expect(result?.joined).toEqual(joined);
    expect(result?.removed).toEqual([]);
  });

  it('declines when the shard count changed or too many shards changed', () => {
    const before = shardsOf(Array.from({ length: 64 }, (_, i) => ({ key: `k${i}`, version: 0 })));
    const joined = before.flat().sort(byKey);
    expect(rejoinShards(joined, before, before.slice(1), keyOf)).toBeUndefined();
    expect(
      rejoinShards(
        joined,
        before,
        before.map((s) => [...s]),
        keyOf,
      ),
    ).toBeUndefined();
  });
});
