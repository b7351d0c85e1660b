import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from './canonical.js';

describe('canonicalJson', () => {
  const cases: [string, unknown, string][] = [
    ['keys are sorted at every depth', { b: 1, a: { d: [1, { z: 0, y: 1 }], c: null } }, '{"a":{"c":null,"d":[1,{"y":1,"z":0}]},"b":1}'],
    ['undefined members are dropped', { a: undefined, b: 'x' }, '{"b":"x"}'],
    ['undefined array items become null', [undefined, 1], '[null,1]'],
    ['a __proto__ key stays a member', JSON.parse('{"__proto__":{"x":1},"a":2}'), '{"__proto__":{"x":1},"a":2}'],
    ['scalars print as JSON', 'a"b', '"a\\"b"'],
    // Integer-like keys print first, in numeric order, as V8 enumerates every object's keys: "9" before "10"
    // on either path (generations written by earlier versions depend on it).
    ['integer-like keys print as V8 enumerates them', JSON.parse('{"10":1,"9":{"b":2,"a":1}}'), '{"9":{"a":1,"b":2},"10":1}'],
    ['a toJSON result is sorted too', { a: { toJSON: () => ({ y: 1, x: 2 }) } }, '{"a":{"x":2,"y":1}}'],
    ['a Date prints as its toJSON', { a: new Date(0), b: [new Date(0)] }, '{"a":"1970-01-01T00:00:00.000Z","b":["1970-01-01T00:00:00.000Z"]}'],
    ['members that are functions are dropped', { a: () => 1, b: [() => 1] }, '{"b":[null]}'],
    ['a boxed string prints as the sorted copy always printed it', { a: Object('ab') as unknown }, '{"a":{"0":"a","1":"b"}}'],
  ];
  it.each(cases)('%s', (_sentence, value, text) => {
    expect(canonicalJson(value)).toBe(text);
  });
  it('does not depend on key insertion order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        return canonicalJson(obj) === canonicalJson(reversed);
      }),
    );
  });
  it('gives the same text for a value in order (parsed back) as for the same value out of order', () => {
    // The parsed text enumerates its keys in sorted order (the path that skips the sorted copy); the
    // reversed value does not. Both must print the same.
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = canonicalJson(v);
        const reversed = JSON.parse(text, (_key, value: unknown) =>
          value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).reverse()) : value,
        ) as unknown;
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(canonicalJson(reversed)).toBe(text);
      }),
    );
  });
  it('parses back to an equal value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(JSON.parse(canonicalJson(v))).toEqual(JSON.parse(JSON.stringify(v)));
      }),
    );
  });
});

describe('sha256Hex', () => {
  it('is the hex SHA-256 of the UTF-8 bytes', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
