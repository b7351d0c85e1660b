// A value loaded from a few files and reloaded when they change. Mounted ConfigMaps and Secrets change
// by kubelet swapping a `..data` symlink, which fs.watch on the directory sees as a rename; fs.watch is
// not reliable everywhere (network filesystems, some container runtimes), so a periodic poll looks as
// well. The poll compares the files' stat (inode, size, mtime, ctime: a symlink swap or any write moves
// one of them) and reads only when one moved, or when the last read is `fullReadIntervalMs` old (a
// filesystem whose timestamps are too coarse to show a quick same-size rewrite). Every read compares a
// content hash. Reading every 5 s cost the token server at 100,000 users and grants a 39 MB read and
// hash per poll and about 50 MB of RSS (BENCH_ONLY=memory). A load that fails to parse is reported and
// the last good value stays.

import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { PushedSource } from './pushed.js';

export interface WatchedFilesOptions<T> {
  /** Directories to watch; a change in any of them triggers a re-read. */
  directories: string[];
  /** Reads the inputs; `undefined` entries mean "file absent". */
  files: string[];
  /** Turns the files' contents into a state; throws with a client-safe message when they are unusable. */
  parse: (contents: (string | undefined)[], loadedAt: Date) => T;
  now: () => Date;
  /** Default 5 s. */
  pollIntervalMs?: number;
  /** Default 100 ms: kubelet writes several entries per update. */
  debounceMs?: number;
  /** A poll reads the files at least this often even when their stat did not move. Default 60 s. */
  fullReadIntervalMs?: number;
  /** Default: fs.promises.readFile as UTF-8; tests count the reads through it. */
  readText?: (path: string) => Promise<string>;
}

export class WatchedFiles<T> extends PushedSource<T> {
  private lastHash: string | undefined;
  /** The files' stat when they were last read, and when that was. */
  private lastStats: string | undefined;
  private lastReadAt = Number.NEGATIVE_INFINITY;
  private readonly watchers: FSWatcher[] = [];
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  /** A coalesced call that must read whatever the files' stat says. */
  private againForced = false;
  private closed = false;

  constructor(private readonly options: WatchedFilesOptions<T>) {
    super();
  }

  /** Loads once (a failure is reported, not thrown) and starts watching. */
  async start(): Promise<void> {
    await this.check(true);
    for (const dir of new Set(this.options.directories)) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.schedule());
        watcher.on('error', () => undefined); // the poll still covers this directory
        this.watchers.push(watcher);
      } catch {
        // Directory missing or not watchable: polling alone will pick it up.
      }
    }
    this.poll = setInterval(() => void this.check(), this.options.pollIntervalMs ?? 5000);
    this.poll.unref();
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers) w.close();
    if (this.poll !== undefined) clearInterval(this.poll);
    if (this.debounce !== undefined) clearTimeout(this.debounce);
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce !== undefined) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.check(true), this.options.debounceMs ?? 100);
    this.debounce.unref();
  }

  /**
   * Looks now: `force` (a watch event, the start) reads the files; a poll reads them only when their stat
   * moved or the last read is old. Concurrent calls coalesce into one more look after the running one.
   */
  check(force = false): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      this.againForced ||= force;
      return this.running;
    }
    this.running = this.load(force).finally(() => {
      this.running = undefined;
      if (this.again && !this.closed) {
        const forced = this.againForced;
        this.again = false;
        this.againForced = false;
        void this.check(forced);
      }
    });
    return this.running;
  }

  private async load(force: boolean): Promise<void> {
    // Taken before the read: a file replaced while it is read shows a new stat at the next poll.
    const stats = (await Promise.all(this.options.files.map(statKey))).join('\n');
    const now = Date.now();
    if (!force && stats === this.lastStats && now - this.lastReadAt < (this.options.fullReadIntervalMs ?? 60_000)) return;
    const read = this.options.readText ?? ((path: string) => readFile(path, 'utf8'));
    const contents = await Promise.all(
      this.options.files.map((f) =>
        read(f).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        }),
      ),
    ).catch((err: Error) => err);
    if (contents instanceof Error) {
      this.lastStats = undefined;
      this.rejectInput(`cannot read inputs: ${contents.message}`, undefined);
      return;
    }
    this.lastStats = stats;
    this.lastReadAt = now;
    const hash = createHash('sha256');
    for (const c of contents) hash.update(c === undefined ? '\u0000absent' : `\u0001${c.length}:${c}`);
    const digest = hash.digest('hex');
    if (digest === this.lastHash) return;
    let next: T;
    try {
      next = this.options.parse(contents, this.options.now());
    } catch (err) {
      this.rejectInput((err as Error).message, digest);
      return;
    }
    this.lastHash = digest;
    this.set(next);
  }

  private rejectInput(reason: string, digest: string | undefined): void {
    // The same broken input is reported once, not at every poll.
    if (digest !== undefined) this.lastHash = digest;
    this.reject(reason);
  }
}

/** What moves when a file is replaced or written: stat follows the `..data` symlinks to the file itself. */
function statKey(path: string): Promise<string> {
  return stat(path).then(
    (s) => `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`,
    // Unreadable or absent: the read that follows says which.
    (err: NodeJS.ErrnoException) => `error:${err.code ?? ''}`,
  );
}
