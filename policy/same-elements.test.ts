import { describe, expect, it } from 'vitest';
import { sameElements } from './same-elements.js';

const a = { id: 1 };
const b = { id: 2 };

describe('sameElements', () => {
  it.each([
    ['two empty lists', [], [], true],
    ['the same objects in the same order', [a, b], [a, b], true],
    ['equal strings', ['x', 'y'], ['x', 'y'], true],
    ['an equal copy of an object (not the same object)', [a], [{ id: 1 }], false],
    ['the same objects in another order', [a, b], [b, a], false],
    ['one more element', [a], [a, b], false],
    ['one fewer element', [a, b], [a], false],
  ])('%s', (_name, x: unknown[], y: unknown[], expected) => {
    expect(sameElements(x, y)).toBe(expected);
  });
});
