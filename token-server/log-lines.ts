// Where the token server's log lines go: a file descriptor (stderr), written in batches. Every token is an
// audit line, so one write(2) per line was a fair part of a token's cost; here lines collect into chunks of
// whole lines, written when a chunk is full, every `flushIntervalMs`, and on flush() (shutdown) and at
// process exit. A chunk is written asynchronously, one at a time in order, so a slow reader of stderr never
// stalls the event loop; at exit whatever is left is written synchronously.
//
// How large a chunk: each asynchronous write is a hand-off to libuv's thread pool and back, and with 4 KiB
// chunks (about seven audit lines) those hand-offs cost a tenth of bench (a)'s ratio to its baseline (0.61
// -> 0.72 and 0.62 -> 0.70 with 64 KiB in two runs, each the median of 20 alternating one-second runs;
// the audit line in all: 0.16). But with --workers several processes share one stderr, and only a write
// of at most PIPE_BUF bytes to a pipe is atomic: a cluster worker writing to a pipe or socket keeps to
// PIPE_BUF, so no line is cut by another's chunk. A regular file's writes do not interleave (the kernel
// holds the file position for each write).

import cluster from 'node:cluster';
import { fstatSync, write, writeSync } from 'node:fs';

/** POSIX guarantees at least 512; Linux's is 4096. */
export const PIPE_BUF = 4096;
/** A chunk for a writer alone on its stream. */
export const LONE_WRITER_CHUNK_BYTES = 65536;

/** The chunk size for a process: PIPE_BUF only where its writes share a pipe or socket with other workers'. */
export function chunkBytesFor(sharedWithWorkers: boolean, stream: 'pipe' | 'file'): number {
  return sharedWithWorkers && stream === 'pipe' ? PIPE_BUF : LONE_WRITER_CHUNK_BYTES;
}

function streamKind(fd: number): 'pipe' | 'file' {
  try {
    const stats = fstatSync(fd);
    return stats.isFIFO() || stats.isSocket() ? 'pipe' : 'file';
  } catch {
    return 'pipe'; // unknown: the atomic size is the safe one
  }
}

export interface BatchedLinesOptions {
  /** Default 2 (stderr). */
  fd?: number;
  /** Lines never wait longer than this to be written. Default 250 ms. */
  flushIntervalMs?: number;
  /** Default fs.write; tests observe the chunks through it. */
  writeChunk?: WriteChunk;
  /** Default chunkBytesFor(this process is a cluster worker, what `fd` is). Only a single longer line is written past it. */
  maxChunkBytes?: number;
}

export type WriteChunk = (fd: number, chunk: Buffer, done: (err: NodeJS.ErrnoException | null, written: number) => void) => void;

export class BatchedLines {
  private pending: string[] = [];
  private pendingBytes = 0;
  /** Sealed chunks not written yet; the first is being written when `writing`. */
  private readonly unwritten: Buffer[] = [];
  private writing = false;
  private readonly idle: (() => void)[] = [];
  private readonly fd: number;
  private readonly maxChunkBytes: number;
  private readonly writeChunk: WriteChunk;
  private readonly timer: NodeJS.Timeout;
  private readonly onExit = (): void => this.flushSync();

  constructor(options: BatchedLinesOptions = {}) {
    this.fd = options.fd ?? 2;
    this.maxChunkBytes = options.maxChunkBytes ?? chunkBytesFor(cluster.isWorker, streamKind(this.fd));
    this.writeChunk = options.writeChunk ?? ((fd, chunk, done) => write(fd, chunk, done));
    this.timer = setInterval(() => this.flush(), options.flushIntervalMs ?? 250);
    this.timer.unref();
    process.on('exit', this.onExit);
  }

  /** pino's destination interface: one call per line, the line ending in a newline. */
  write(line: string): boolean {
    const bytes = Buffer.byteLength(line);
    if (this.pendingBytes > 0 && this.pendingBytes + bytes > this.maxChunkBytes) this.seal();
    this.pending.push(line);
    this.pendingBytes += bytes;
    if (this.pendingBytes >= this.maxChunkBytes) this.seal();
    return true;
  }

  /** pino's logger.flush(cb): writes everything collected so far; `callback` runs once it is written. */
  flush(callback?: (err?: Error) => void): void {
    if (callback !== undefined) this.idle.push(callback);
    if (this.pendingBytes > 0) this.seal();
    else this.drain();
  }

  /** At exit: writes what is left, synchronously. A chunk already being written is the kernel's by now. */
  flushSync(): void {
    if (this.pendingBytes > 0) {
      this.unwritten.push(Buffer.from(this.pending.join('')));
      this.pending = [];
      this.pendingBytes = 0;
    }
    const start = this.writing ? 1 : 0;
    try {
      for (const chunk of this.unwritten.slice(start)) {
        let offset = 0;
        while (offset < chunk.length) offset += writeSync(this.fd, chunk, offset);
      }
    } catch {
      // nowhere left to report it
    }
    this.unwritten.length = start;
  }

  /** Writes what is left and stops the timer and the exit hook. */
  close(callback?: () => void): void {
    clearInterval(this.timer);
    process.off('exit', this.onExit);
    this.flush(callback);
  }

  private seal(): void {
    this.unwritten.push(Buffer.from(this.pending.join('')));
    this.pending = [];
    this.pendingBytes = 0;
    this.drain();
  }

  private drain(): void {
    if (this.writing) return;
    const chunk = this.unwritten[0];
    if (chunk === undefined) {
      for (const callback of this.idle.splice(0)) callback();
      return;
    }
    this.writing = true;
    this.writeChunk(this.fd, chunk, (err, written) => {
      this.writing = false;
      if (err !== null) {
        // A full non-blocking pipe: try again shortly. Anything else (EPIPE: nobody reads) cannot be
        // reported anywhere, and keeping the lines would only grow memory.
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.drain(), 10).unref();
          return;
        }
        this.unwritten.length = 0;
      } else if (written < chunk.length) this.unwritten[0] = chunk.subarray(written);
      else this.unwritten.shift();
      this.drain();
    });
  }
}
