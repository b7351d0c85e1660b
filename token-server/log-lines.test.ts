import { describe, expect, it } from 'vitest';
import { BatchedLines, chunkBytesFor, LONE_WRITER_CHUNK_BYTES, PIPE_BUF, type WriteChunk } from './log-lines.js';

/** Records every chunk; `failFirst` answers EAGAIN that many times first (a full non-blocking pipe). */
function recorder(failFirst = 0): { chunks: Buffer[]; write: WriteChunk } {
  const chunks: Buffer[] = [];
  let failures = failFirst;
  return {
    chunks,
    write: (_fd, chunk, done) =>
      setImmediate(() => {
        if (failures-- > 0) return done(Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' }), 0);
        chunks.push(Buffer.from(chunk));
        done(null, chunk.length);
      }),
  };
}

const line = (i: number) => `${JSON.stringify({ n: i, user: i % 3 === 0 ? 'jürgen-€' : 'user', pad: 'x'.repeat(i % 700) })}\n`;

describe('batched log lines', () => {
  it('writes every line once, in order, whole, in chunks no larger than PIPE_BUF', async () => {
    const out = recorder();
    const lines = new BatchedLines({ writeChunk: out.write, flushIntervalMs: 60_000, maxChunkBytes: PIPE_BUF });
    const written = Array.from({ length: 500 }, (_, i) => line(i));
    for (const l of written) lines.write(l);
    await new Promise<void>((resolve) => lines.close(resolve));
    expect(out.chunks.length).toBeGreaterThan(1);
    expect(out.chunks.length).toBeLessThan(written.length);
    for (const chunk of out.chunks) {
      expect(chunk.length).toBeLessThanOrEqual(PIPE_BUF);
      expect(chunk.toString('utf8').endsWith('\n')).toBe(true);
    }
    expect(Buffer.concat(out.chunks).toString('utf8')).toBe(written.join(''));
  });

  it('holds lines until a chunk fills or flush, then writes them; a full pipe (EAGAIN) is retried', async () => {
    const out = recorder(2);
    const lines = new BatchedLines({ writeChunk: out.write, flushIntervalMs: 60_000 });
    lines.write('{"a":1}\n');
    lines.write('{"a":2}\n');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(out.chunks).toEqual([]);
    await new Promise<void>((resolve) => lines.flush(() => resolve()));
    lines.write('{"a":3}\n');
    await new Promise<void>((resolve) => lines.close(resolve));
    expect(out.chunks.map((c) => c.toString())).toEqual(['{"a":1}\n{"a":2}\n', '{"a":3}\n']);
  });

  it('a line longer than PIPE_BUF is written alone, whole', async () => {
    const out = recorder();
    const lines = new BatchedLines({ writeChunk: out.write, flushIntervalMs: 60_000, maxChunkBytes: PIPE_BUF });
    const long = `${'y'.repeat(PIPE_BUF * 2)}\n`;
    lines.write('{"before":1}\n');
    lines.write(long);
    lines.write('{"after":1}\n');
    await new Promise<void>((resolve) => lines.close(resolve));
    expect(out.chunks.map((c) => c.toString())).toEqual(['{"before":1}\n', long, '{"after":1}\n']);
  });

  // A worker's chunk past PIPE_BUF on a shared pipe could be cut by another worker's line.
  it.each([
    [true, 'pipe', PIPE_BUF],
    [true, 'file', LONE_WRITER_CHUNK_BYTES],
    [false, 'pipe', LONE_WRITER_CHUNK_BYTES],
    [false, 'file', LONE_WRITER_CHUNK_BYTES],
  ] as const)('a cluster worker (%s) writing to a %s writes chunks of at most %i bytes', (worker, stream, bytes) => {
    expect(chunkBytesFor(worker, stream)).toBe(bytes);
  });

  it('a lone writer fills chunks up to its size', async () => {
    const out = recorder();
    const lines = new BatchedLines({ writeChunk: out.write, flushIntervalMs: 60_000, maxChunkBytes: LONE_WRITER_CHUNK_BYTES });
    const written = Array.from({ length: 500 }, (_, i) => line(i));
    for (const l of written) lines.write(l);
    await new Promise<void>((resolve) => lines.close(resolve));
    expect(out.chunks.slice(0, -1).every((chunk) => chunk.length > PIPE_BUF && chunk.length <= LONE_WRITER_CHUNK_BYTES)).toBe(true);
    expect(Buffer.concat(out.chunks).toString('utf8')).toBe(written.join(''));
  });
});
