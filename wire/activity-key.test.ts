import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIN_ACTIVITY_KEY_BYTES, parseActivityKey, readActivityKey } from './activity-key.js';

const key = 'k'.repeat(MIN_ACTIVITY_KEY_BYTES);

describe('activity key', () => {
  it.each([
    ['a key without a newline is its bytes', key, key],
    ['a trailing newline is not part of the key', `${key}\n`, key],
    ['nor is a trailing CRLF', `${key}\r\n`, key],
    ['inner bytes are kept as they are', `${key} \nx`, `${key} \nx`],
  ])('%s', (_name, content, expected) => {
    expect(parseActivityKey(Buffer.from(content), 'f').toString()).toBe(expected);
  });

  it('a short key is refused, naming the file and the length but not the content', () => {
    expect(() => parseActivityKey(Buffer.from('short-secret\n'), '/keys/activity')).toThrow(
      /^activity key \/keys\/activity is too short: it needs at least 32 bytes \(it has 12\)$/,
    );
  });

  describe('from a file', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'portcullis-activity-key-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('reads the key a Secret mount shows as a file', async () => {
      await writeFile(join(dir, 'key'), `${key}\n`);
      expect((await readActivityKey(join(dir, 'key'))).toString()).toBe(key);
    });

    it('a missing file is an error that says which', async () => {
      await expect(readActivityKey(join(dir, 'nope'))).rejects.toThrow(`cannot read activity key ${join(dir, 'nope')}: ENOENT`);
    });
  });
});
