// LayeredMap against a plain Map along random edits: every version answers get, has, size and iteration
// as a Map with the same edits would, folded or not, and an older version still answers as it did when
// it was made (the token server's requests in flight keep reading the index they started with).
import { describe, expect, it } from 'vitest';
import { LayeredMap } from './layered-map.js';
import { random } from '../local/seeded-random.js';

const KEYS = Array.from({ length: 40 }, (_, i) => `k${i}`);

function expectSame(layered: LayeredMap<string, number>, model: ReadonlyMap<string, number>): void {
  expect(layered.size).toBe(model.size);
  expect(new Map(layered)).toEqual(model);
  expect([...layered.keys()].sort()).toEqual([...model.keys()].sort());
  expect([...layered.values()].length).toBe(model.size);
  for (const key of [...KEYS, 'absent']) {
    expect(layered.get(key)).toBe(model.get(key));
    expect(layered.has(key)).toBe(model.has(key));
  }
}

describe('LayeredMap', () => {
  it.each([
    [1, 0],
    [2, 3],
    [3, 1024],
    [4, 8],
  ])('answers as a Map along random edits, and old versions do not move (seed %i, fold past %i overlay entries)', (seed, foldMin) => {
    const rnd = random(seed);
    const start = new Map(KEYS.slice(0, 20).map((k, i) => [k, i]));
    let layered = LayeredMap.of(start);
    let model = new Map(start);
    const history: { layered: LayeredMap<string, number>; model: Map<string, number> }[] = [];
    for (let step = 0; step < 200; step++) {
      const remove = KEYS.filter(() => rnd() < 0.05);
      const set = KEYS.filter(() => rnd() < 0.05).map((k) => [k, Math.floor(rnd() * 1000)] as const);
      layered = layered.with({ remove, set }, foldMin);
      model = new Map(model);
      for (const k of remove) model.delete(k);
      for (const [k, v] of set) model.set(k, v);
      expectSame(layered, model);
      history.push({ layered, model });
    }
    for (const { layered: old, model: then } of history) expectSame(old, then);
    expect(start).toEqual(new Map(KEYS.slice(0, 20).map((k, i) => [k, i])));
  });

  it('a key removed and set in one change holds the new value; forEach passes the map itself', () => {
    const map = LayeredMap.of([['a', 1]]).with({ remove: ['a', 'missing'], set: [['a', 2]] });
    expect(map.get('a')).toBe(2);
    expect(map.size).toBe(1);
    const seen: [string, number, unknown][] = [];
    map.forEach((v, k, m) => seen.push([k, v, m]));
    expect(seen).toEqual([['a', 2, map]]);
  });
});
