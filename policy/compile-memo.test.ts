import { describe, expect, it, vi } from 'vitest';
import { Memo, sameVersion, sameVersions } from './compile-memo.js';

const obj = (resourceVersion: string | undefined, generation?: number) => ({
  metadata: { name: 'g', namespace: 'team-a', uid: 'g-uid', resourceVersion, generation },
});

describe('Memo: when a remembered result is reused', () => {
  it.each([
    ['a status write (new resourceVersion, same generation)', obj('1', 1), obj('2', 1), false],
    ['a spec change (new generation)', obj('1', 1), obj('2', 2), true],
    ['no generation: a new resourceVersion', obj('1'), obj('2'), true],
    ['no generation: the same resourceVersion', obj('1'), obj('1'), false],
    ['no resourceVersion: never remembered', obj(undefined, 1), obj(undefined, 1), true],
  ])('%s: computed again = %s', (_name, first, second, again) => {
    const memo = new Memo<number>();
    let computed = 0;
    memo.get(first, () => ++computed);
    memo.settle();
    memo.get(second, () => ++computed);
    expect(computed).toBe(again ? 2 : 1);
  });

  it('a different `extra` (what else the result depends on) computes again under the same generation', () => {
    const memo = new Memo<string>();
    expect(memo.get(obj('1', 1), () => 'old', 'hash-a')).toBe('old');
    memo.settle();
    expect(memo.get(obj('2', 1), () => 'new', 'hash-b')).toBe('new');
  });

  it('a status write is not reported as a change; a spec change is', () => {
    const memo = new Memo<string>();
    memo.get(obj('1', 1), () => 'a');
    memo.settle();
    memo.get(obj('2', 1), () => 'b');
    expect(memo.settle()).toEqual([]);
    memo.get(obj('3', 2), () => 'c');
    expect(memo.settle()).toEqual([{ before: 'a', after: 'c' }]);
  });
});

describe('Memo.getList: the very objects of the last list skip the lookup', () => {
  const named = (name: string, resourceVersion = '1', generation = 1) => ({
    metadata: { name, namespace: 'ns', uid: `${name}-uid`, resourceVersion, generation },
  });
  type Named = ReturnType<typeof named>;
  const setup = () => {
    const memo = new Memo<string>();
    const computed: string[] = [];
    const compute = (o: Named) => {
      computed.push(o.metadata.name);
      return `${o.metadata.name}@${o.metadata.generation}`;
    };
    const lookups = vi.spyOn(memo as unknown as { lookup: (o: Named) => unknown }, 'lookup');
    const round = (list: Named[]) => {
      lookups.mockClear();
      computed.length = 0;
      const values = memo.getList(list, compute);
      return { values, changes: memo.settle(), computed: [...computed], looked: lookups.mock.calls.map(([o]) => o.metadata.name) };
    };
    return { memo, round };
  };
  const [a, b, c] = [named('a'), named('b'), named('c')];

  it('the same objects in the same places: no lookup, no change', () => {
    const { round } = setup();
    expect(round([a, b, c])).toMatchObject({ changes: 'all', computed: ['a', 'b', 'c'] });
    expect(round([a, b, c])).toEqual({ values: ['a@1', 'b@1', 'c@1'], changes: [], computed: [], looked: [] });
  });

  it('a new version at one place is looked up and reported; moved objects are looked up, not computed', () => {
    const { round } = setup();
    round([a, b, c]);
    const b2 = named('b', '2', 2);
    expect(round([a, b2, c])).toEqual({ values: ['a@1', 'b@2', 'c@1'], changes: [{ before: 'b@1', after: 'b@2' }], computed: ['b'], looked: ['b'] });
    expect(round([c, a, b2])).toEqual({ values: ['c@1', 'a@1', 'b@2'], changes: [], computed: [], looked: ['c', 'a', 'b'] });
  });

  it('a result the memo let go is computed again, even for the very object at the same place', () => {
    const { memo, round } = setup();
    round([a, b]);
    // A round that asks only for a drops b.
    memo.get(a, () => 'a@1');
    expect(memo.settle()).toEqual([{ before: 'b@1' }]);
    expect(round([a, b])).toMatchObject({ computed: ['b'], looked: ['b'], changes: [{ after: 'b@1' }] });
  });

  it('after clear(), and in a list edited in place, nothing is carried over', () => {
    const { memo, round } = setup();
    const list = [a, b];
    round(list);
    list[1] = c;
    expect(round(list)).toMatchObject({ computed: ['c'], looked: ['c'] });
    memo.clear();
    expect(round(list)).toMatchObject({ changes: 'all', computed: ['a', 'c'] });
  });
});

describe('sameVersion: the memo\'s rule for "this object compiles as it did"', () => {
  const named = (name: string, uid: string | undefined, resourceVersion: string | undefined, generation?: number) => ({
    metadata: { name, namespace: 'team-a', uid, resourceVersion, generation },
  });
  it.each([
    ['a status write (new resourceVersion, same uid and generation)', named('g', 'u1', '1', 1), named('g', 'u1', '2', 1), true],
    ['a spec change (new generation)', named('g', 'u1', '1', 1), named('g', 'u1', '2', 2), false],
    ['deleted and created again under the same name (new uid, same generation)', named('g', 'u1', '1', 1), named('g', 'u2', '5', 1), false],
    ['another object at the same generation', named('g', 'u1', '1', 1), named('h', 'u3', '1', 1), false],
    ['no uid: the same key and generation', named('g', undefined, '1', 1), named('g', undefined, '2', 1), true],
    ['no uid: another key', named('g', undefined, '1', 1), named('h', undefined, '2', 1), false],
    ['no generation: a new resourceVersion', named('g', 'u1', '1'), named('g', 'u1', '2'), false],
    ['no generation: the same resourceVersion', named('g', 'u1', '1'), named('g', 'u1', '1'), true],
    ['no resourceVersion', named('g', 'u1', undefined, 1), named('g', 'u1', undefined, 1), false],
    ['an empty resourceVersion before', named('g', 'u1', '', 1), named('g', 'u1', '2', 1), false],
  ])('%s: %s', (_name, before, after, same) => {
    expect(sameVersion(before, after)).toBe(same);
    // The rule Memo keeps results by: reused exactly when sameVersion says so.
    const memo = new Memo<number>();
    let computed = 0;
    memo.get(before, () => ++computed);
    memo.settle();
    memo.get(after, () => ++computed);
    expect(computed === 1).toBe(same);
  });

  it('the very same object is the same version; lists compare position by position', () => {
    const o = named('g', 'u1', undefined, 1);
    expect(sameVersion(o, o)).toBe(true);
    const a = named('a', 'ua', '1', 1);
    const b = named('b', 'ub', '2', 1);
    expect(sameVersions([a, b], [named('a', 'ua', '3', 1), named('b', 'ub', '4', 1)])).toBe(true);
    expect(sameVersions([a, b], [b, a])).toBe(false);
    expect(sameVersions([a, b], [a])).toBe(false);
  });
});
