import { describe, expect, it, vi } from 'vitest';
import { planChunks } from '../../wire/chunked.js';
import { GzipMemo } from './snapshot-layout.js';

const limits = { inlineLimit: 10, partBytes: 64 };
const slots = { name: (i: number) => `creds-${i}`, count: 8 };
const text = (n: number) => JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`user-${i}`, `$2b$04$${'x'.repeat(40)}${i}`])));

describe('GzipMemo', () => {
  it('without content names: the same plan as no memo, slot or generation names kept', () => {
    for (const fixed of [slots, undefined]) {
      const plain = planChunks('doc', 'gen-1', { 'a.json': text(20) }, limits, fixed);
      const memoized = planChunks('doc', 'gen-1', { 'a.json': text(20) }, limits, fixed, new GzipMemo().options(false));
      expect(memoized.main).toEqual(plain.main);
      expect(memoized.parts.map((p) => [p.name, p.bytes.toString('base64')])).toEqual(plain.parts.map((p) => [p.name, p.bytes.toString('base64')]));
    }
  });

  it('an unchanged file is not gzipped again; a changed one is, and what the last plan did not use is let go', () => {
    const memo = new GzipMemo();
    const plan = (body: string) => {
      const result = planChunks('doc', 'gen', { 'a.json': body }, limits, slots, memo.options(false));
      memo.settle();
      return result.parts.map((p) => p.bytes);
    };
    const first = plan(text(20));
    // The very same bytes, not an equal copy: nothing was compressed the second time.
    expect(plan(text(20))[0]?.buffer).toBe(first[0]?.buffer);
    expect(plan(text(21))[0]?.buffer).not.toBe(first[0]?.buffer);
    const back = plan(text(20));
    expect(back[0]?.buffer).not.toBe(first[0]?.buffer);
    expect(back.map((b) => b.toString('base64'))).toEqual(first.map((b) => b.toString('base64')));
  });

  it('plans the same manifest as no memo along edits: a text changed back and forth gets its own hash each time', () => {
    const memo = new GzipMemo();
    for (const [i, body] of [text(20), text(21), text(20), text(20), text(3), text(21)].entries()) {
      // Inline and split, so both of the plan's hashing paths see the memo.
      for (const fixed of [limits, { inlineLimit: 100_000, partBytes: 64 }]) {
        const memoized = planChunks('doc', `gen-${i}`, { 'a.json': body, 'b.json': text(i) }, fixed, undefined, memo.options());
        memo.settle();
        expect(memoized.manifest).toEqual(
          planChunks('doc', `gen-${i}`, { 'a.json': body, 'b.json': text(i) }, fixed, undefined, { contentNames: true }).manifest,
        );
      }
    }
  });

  it('measures a text in UTF-8 bytes once while plans keep it, again once a plan let it go', () => {
    const memo = new GzipMemo();
    // 2 bytes per character: measured in UTF-16 units it would fit the inline limit, in bytes it does not.
    const wide = 'é'.repeat(8);
    const measured = vi.spyOn(Buffer, 'byteLength');
    try {
      const plan = (files: Record<string, string>) => {
        const result = planChunks('doc', 'gen', files, limits, undefined, memo.options());
        memo.settle();
        return result;
      };
      expect(plan({ 'a.json': wide }).manifest.files['a.json']?.encoding).toBe('gzip');
      expect(memo.byteLength(wide)).toBe(16);
      const calls = () => measured.mock.calls.filter(([t]) => t === wide).length;
      const once = calls();
      expect(once).toBe(1);
      plan({ 'a.json': wide });
      plan({ 'a.json': wide, 'b.json': 'x' });
      expect(calls()).toBe(once);
      plan({ 'b.json': 'x' });
      plan({ 'a.json': wide });
      expect(calls()).toBe(once + 1);
    } finally {
      measured.mockRestore();
    }
  });
});
