import { describe, expect, it } from 'vitest';
import { Memo } from './compile-memo.js';

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
