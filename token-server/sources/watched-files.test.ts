import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WatchedFiles, type WatchedFilesOptions } from './watched-files.js';

let dir: string;
let source: WatchedFiles<string> | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-watched-'));
});
afterEach(async () => {
  source?.close();
  source = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** A source over one file, seen by polling only (no directory watched), counting its reads. */
function polled(file: string, options: Partial<WatchedFilesOptions<string>> = {}): { source: WatchedFiles<string>; reads: () => number } {
  let reads = 0;
  source = new WatchedFiles<string>({
    directories: [],
    files: [file],
    parse: ([text]) => text ?? '(absent)',
    now: () => new Date(),
    pollIntervalMs: 20,
    readText: (path) => {
      reads++;
      return readFile(path, 'utf8');
    },
    ...options,
  });
  return { source, reads: () => reads };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function nextValue(s: WatchedFiles<string>): Promise<string> {
  return new Promise((resolve) => {
    const off = s.onChange((value) => {
      off();
      resolve(value);
    });
  });
}

describe('watched files', () => {
  it('a poll does not read files whose stat did not move', async () => {
    const file = join(dir, 'snapshot.json');
    await writeFile(file, 'one');
    const { source: s, reads } = polled(file);
    await s.start();
    expect(s.current()).toBe('one');
    await sleep(200); // about ten polls
    expect(reads()).toBe(1);
  });

  it('a poll reads a file written since, even at the same size', async () => {
    const file = join(dir, 'snapshot.json');
    await writeFile(file, 'one');
    const { source: s, reads } = polled(file);
    await s.start();
    const changed = nextValue(s);
    await writeFile(file, 'two');
    expect(await changed).toBe('two');
    expect(reads()).toBe(2);
  });

  it('reads again once the last read is fullReadIntervalMs old, stat or not', async () => {
    const file = join(dir, 'snapshot.json');
    await writeFile(file, 'one');
    const { source: s, reads } = polled(file, { fullReadIntervalMs: 50 });
    await s.start();
    await sleep(300);
    expect(reads()).toBeGreaterThanOrEqual(3);
    expect(s.current()).toBe('one');
  });

  it('a forced check reads whatever the stat says', async () => {
    const file = join(dir, 'snapshot.json');
    await writeFile(file, 'one');
    const { source: s, reads } = polled(file, { pollIntervalMs: 60_000 });
    await s.start();
    await s.check(true);
    expect(reads()).toBe(2);
    await s.check();
    expect(reads()).toBe(2);
  });
});
