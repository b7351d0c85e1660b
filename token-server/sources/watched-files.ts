// A value loaded from a few files and reloaded when they change. Mounted ConfigMaps and Secrets change
// by kubelet swapping a `..data` symlink, which fs.watch on the directory sees as a rename; fs.watch is
// not reliable everywhere (network filesystems, some container runtimes), so a periodic re-read compares
// a content hash as well. A load that fails to parse is reported and the last good value stays.

import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
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
}

export class WatchedFiles<T> extends PushedSource<T> {
  private lastHash: string | undefined;
  private readonly watchers: FSWatcher[] = [];
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly options: WatchedFilesOptions<T>) {
    super();
  }

  /** Loads once (a failure is reported, not thrown) and starts watching. */
  async start(): Promise<void> {
    await this.check();
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
    this.debounce = setTimeout(() => void this.check(), this.options.debounceMs ?? 100);
    this.debounce.unref();
  }

  /** Re-reads now; concurrent calls coalesce into one more read after the running one. */
  check(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = this.load().finally(() => {
      this.running = undefined;
      if (this.again && !this.closed) {
        this.again = false;
        void this.check();
      }
    });
    return this.running;
  }

  private async load(): Promise<void> {
    const contents = await Promise.all(
      this.options.files.map((f) =>
        readFile(f, 'utf8').catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        }),
      ),
    ).catch((err: Error) => err);
    if (contents instanceof Error) {
      this.rejectInput(`cannot read inputs: ${contents.message}`, undefined);
      return;
    }
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
