import { describe, expect, it } from 'vitest';
import { BoundedMap } from './bounded-map.js';

function filled(maxKeys: number, keys: string[]): BoundedMap<number> {
  const map = new BoundedMap<number>(maxKeys);
  keys.forEach((key, i) => map.set(key, i));
  return map;
}

const present = (map: BoundedMap<number>, keys: string[]) => keys.filter((key) => map.get(key) !== undefined);

describe('BoundedMap', () => {
  it('never holds more than its bound: the oldest written key goes first', () => {
    const map = filled(3, ['a', 'b', 'c', 'd']);
    expect(map.size).toBe(3);
    expect(present(map, ['a', 'b', 'c', 'd'])).toEqual(['b', 'c', 'd']);
  });

  it('writing a key again makes it the newest', () => {
    const map = filled(3, ['a', 'b', 'c', 'a', 'd']);
    expect(present(map, ['a', 'b', 'c', 'd'])).toEqual(['a', 'c', 'd']);
  });

  it.each<[string, number, string[], string[], string[]]>([
    // Half full or more: a read key is kept over older ones.
    ['a read at the bound keeps the key', 3, ['a', 'b', 'c'], ['d'], ['a', 'c', 'd']],
    ['a read at half the bound keeps the key', 4, ['a', 'b'], ['c', 'd', 'e'], ['a', 'c', 'd', 'e']],
    // Below half: reads move nothing (nothing is near eviction), so insertion order decides.
    ['a read below half the bound moves nothing', 8, ['a', 'b', 'c'], ['d', 'e', 'f', 'g', 'h', 'i'], ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']],
  ])('%s', (_sentence, maxKeys, before, added, kept) => {
    const map = filled(maxKeys, before);
    expect(map.getRecent('a')).toBe(0);
    for (const key of added) map.set(key, 9);
    expect(present(map, [...before, ...added])).toEqual(kept);
  });

  it('getRecent of a missing key is undefined and adds nothing', () => {
    const map = filled(2, ['a']);
    expect(map.getRecent('z')).toBeUndefined();
    expect(map.size).toBe(1);
  });
});
