import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { assembleChunks, MANIFEST_KEY, MAX_FILE_BYTES, openChunks, parseManifest, planChunks, sha256Hex, type ChunkPlan } from './chunked.js';

const small = { inlineLimit: 200, partBytes: 64 };

function lookup(plan: ChunkPlan): (name: string) => Buffer | undefined {
  const parts = new Map(plan.parts.map((p) => [p.name, p.bytes]));
  return (name) => parts.get(name);
}

describe('chunked layout', () => {
  it('keeps small payloads inline in the main object with no parts', () => {
    const plan = planChunks('portcullis-main-snapshot', 'abc', { 'snapshot.json': '{"a":1}' }, small);
    expect(plan.parts).toEqual([]);
    expect(plan.main['snapshot.json']).toBe('{"a":1}');
    expect(parseManifest(plan.main[MANIFEST_KEY]!).files['snapshot.json']!.encoding).toBe('inline');
  });

  it('splits a large payload into gzip parts whose names carry the generation', () => {
    const text = Array.from({ length: 2000 }, (_, i) => `user-${i}-${(i * 7919) % 1000}`).join(',');
    const plan = planChunks('b', '0123456789abcdef', { 'snapshot.json': text }, small);
    expect(plan.parts.length).toBeGreaterThan(1);
    for (const p of plan.parts) expect(p.name.startsWith('b-0123456789ab-')).toBe(true);
    expect(plan.main['snapshot.json']).toBeUndefined();
    expect(assembleChunks(plan.main, lookup(plan))).toEqual({ complete: true, generation: '0123456789abcdef', files: { 'snapshot.json': text } });
  });

  it('waits while a part is missing or still holds other bytes', () => {
    const text = 'x'.repeat(5000) + Array.from({ length: 500 }, (_, i) => i).join('');
    const plan = planChunks('b', 'gen1', { 'f.json': text }, small);
    const name = plan.parts[0]!.name;
    const missing = assembleChunks(plan.main, (n) => (n === name ? undefined : lookup(plan)(n)));
    expect(missing).toEqual({ complete: false, waitingFor: [name] });
    const wrong = assembleChunks(plan.main, (n) => (n === name ? Buffer.from('stale') : lookup(plan)(n)));
    expect(wrong.complete).toBe(false);
  });

  it('refuses an inline file that does not match the manifest', () => {
    const plan = planChunks('b', 'g', { 'f.json': 'good' }, small);
    expect(() => assembleChunks({ ...plan.main, 'f.json': 'evil' }, () => undefined)).toThrow(/checksum/);
  });

  it('round-trips any set of files, inline or split', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('a.json', 'b.json', 'sources.json'), fc.string({ maxLength: 600 })),
        fc.stringMatching(/^[0-9a-f]{12,64}$/),
        (files, gen) => {
          const plan = planChunks('base', gen, files, small);
          expect(assembleChunks(plan.main, lookup(plan))).toEqual({ complete: true, generation: gen, files });
          expect(new Set(plan.parts.map((p) => p.name)).size).toBe(plan.parts.length);
        },
      ),
    );
  });

  it('plans the same bytes for the same input', () => {
    const text = 'y'.repeat(10_000);
    expect(planChunks('b', 'g', { f: text }, small)).toEqual(planChunks('b', 'g', { f: text }, small));
  });

  it('names parts by content when asked: an unchanged file keeps its part names across generations', () => {
    const files = (b: string) => ({ 'a.json': 'a'.repeat(500), 'b.json': b.repeat(500) });
    const one = planChunks('b', 'gen-one', files('x'), small, undefined, { contentNames: true });
    const two = planChunks('b', 'gen-two', files('y'), small, undefined, { contentNames: true });
    const names = (p: ChunkPlan, file: string) => p.manifest.files[file]!.parts.map((x) => x.name);
    expect(names(two, 'a.json')).toEqual(names(one, 'a.json'));
    expect(names(two, 'b.json')).not.toEqual(names(one, 'b.json'));
    expect(names(one, 'a.json')[0]).toMatch(/^b-a-[0-9a-f]{16}-0$/);
  });

  it('skips the files a reader says it already holds, without looking for their parts', () => {
    const plan = planChunks('b', 'g', { 'a.json': 'a'.repeat(500), 'b.json': 'b'.repeat(500) }, small, undefined, { contentNames: true });
    const aParts = new Set(plan.manifest.files['a.json']!.parts.map((p) => p.name));
    const result = assembleChunks(
      plan.main,
      (n) => (aParts.has(n) ? undefined : lookup(plan)(n)),
      (file, sha256) => file === 'a.json' && sha256 === plan.manifest.files['a.json']!.sha256,
    );
    expect(result).toEqual({ complete: true, generation: 'g', files: { 'b.json': 'b'.repeat(500) } });
  });

  it('names each part’s own hash, also when a writer hands over the same gzip bytes with another part size', () => {
    const text = 'x'.repeat(5000) + Array.from({ length: 400 }, (_, i) => String(i * 7919)).join(',');
    const gz = planChunks('doc', 'g', { 'a.json': text }, small).parts.map((p) => p.bytes);
    const whole = Buffer.concat(gz);
    for (const partBytes of [64, 100, 64, 1000]) {
      const plan = planChunks('doc', 'g', { 'a.json': text }, { inlineLimit: 10, partBytes }, undefined, { gzip: () => whole });
      const listed = plan.manifest.files['a.json']!.parts.map((p) => p.sha256);
      expect(listed).toEqual(plan.parts.map((p) => sha256Hex(p.bytes)));
      expect(plan.parts.length).toBe(Math.ceil(whole.length / partBytes));
    }
  });
});

describe('openChunks', () => {
  const big = Array.from({ length: 2000 }, (_, i) => `user-${i}`).join(',');
  const files = { 'head.json': '{"h":1}', 'users-0.json': big, 'users-1.json': `${big}!` };
  const plan = planChunks('b', 'gen2', files, small);

  it('names the files present and reads each as assembleChunks does, one call at a time', () => {
    const opened = openChunks(plan.main, lookup(plan));
    if (!opened.complete) throw new Error('incomplete');
    expect(opened.names).toEqual(Object.keys(files));
    for (const name of opened.names) expect(opened.file(name)).toBe(files[name as keyof typeof files]);
    expect(opened.file('users-9.json')).toBeUndefined();
  });

  it('leaves out what the reader already holds', () => {
    const opened = openChunks(plan.main, lookup(plan), (file) => file === 'users-0.json');
    if (!opened.complete) throw new Error('incomplete');
    expect(opened.names).toEqual(['head.json', 'users-1.json']);
    expect(opened.file('users-0.json')).toBeUndefined();
  });

  it('waits for missing parts like assembleChunks', () => {
    const name = plan.parts[0]!.name;
    expect(openChunks(plan.main, (n) => (n === name ? undefined : lookup(plan)(n)))).toEqual({ complete: false, waitingFor: [name] });
  });

  it('attack: a file whose text does not match the manifest throws when it is read, inline or split', () => {
    const manifest = parseManifest(plan.main[MANIFEST_KEY]!);
    const tampered = { ...manifest, files: Object.fromEntries(Object.entries(manifest.files).map(([f, e]) => [f, { ...e, sha256: sha256Hex('other') }])) };
    const opened = openChunks({ ...plan.main, [MANIFEST_KEY]: JSON.stringify(tampered) }, lookup(plan));
    if (!opened.complete) throw new Error('incomplete');
    expect(() => opened.file('head.json')).toThrow(/checksum/);
    expect(() => opened.file('users-0.json')).toThrow(/checksum/);
  });

  /** A manifest of gzip files (one unless `files`) made of `parts` (name, bytes), each file listing `listed`. */
  const forged = (parts: [string, Buffer][], listed = parts.map(([name]) => name), files = 1) => {
    const bytes = new Map(parts);
    const entry = { sha256: sha256Hex('x'), encoding: 'gzip', parts: listed.map((name) => ({ name, sha256: sha256Hex(bytes.get(name)!) })) };
    const manifest = {
      format: parseManifest(plan.main[MANIFEST_KEY]!).format,
      generation: 'g',
      files: Object.fromEntries(Array.from({ length: files }, (_, i) => [`users-${i}.json`, entry])),
    };
    return openChunks({ [MANIFEST_KEY]: JSON.stringify(manifest) }, (name) => bytes.get(name));
  };

  it('attack: a gzip bomb stops at the file bound instead of unzipping to gigabytes', () => {
    // Gzip members concatenate: 1 MiB of zeros is about 1 KiB, so a 300 KiB part unzips to 300 MiB.
    const member = gzipSync(Buffer.alloc(1024 * 1024), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: MAX_FILE_BYTES / (1024 * 1024) + 1 }, () => member));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const opened = forged([['p0', bomb]]);
    if (!opened.complete) throw new Error('incomplete');
    expect(() => opened.file('users-0.json')).toThrow(/larger than|maxOutputLength|buffer/i);
  });

  it('attack: a part listed twice (in one file or across files), or more than 4,096 parts, is no manifest', () => {
    const part = gzipSync('x');
    expect(() => forged([['p0', part]], ['p0', 'p0'])).toThrow(/part "p0" is listed more than once/);
    expect(() => forged([['p0', part]], ['p0'], 5000)).toThrow(/part "p0" is listed more than once/);
    const many = Array.from({ length: 4097 }, (_, i) => [`p${i}`, part] as [string, Buffer]);
    expect(() => forged(many)).toThrow(/more than 4096 parts/);
    expect(forged(many.slice(0, 4096)).complete).toBe(true);
  });
});
