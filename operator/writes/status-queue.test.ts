import { describe, expect, it } from 'vitest';
import { StatusQueue, type StatusJob } from './status-queue.js';

/** Writes that finish only when the test says so, recording the order they started in. */
class Writes {
  readonly started: string[] = [];
  private readonly open = new Map<string, { resolve: () => void; reject: (e: Error) => void }[]>();
  maxInFlight = 0;
  inFlight = 0;

  job(key: string, content = 'v1'): StatusJob {
    return {
      key,
      content,
      write: () =>
        new Promise<void>((resolve, reject) => {
          this.started.push(`${key}=${content}`);
          this.inFlight++;
          this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
          const done = (settle: () => void) => () => {
            this.inFlight--;
            settle();
          };
          this.open.set(key, [...(this.open.get(key) ?? []), { resolve: done(resolve), reject: (e) => done(() => reject(e))() }]);
        }),
    };
  }

  /** Finishes the oldest open write of `key` (or of any key) and lets the queue react. */
  async finish(key?: string, error?: Error): Promise<void> {
    const k = key ?? [...this.open.keys()][0]!;
    const list = this.open.get(k)!;
    const first = list.shift()!;
    if (list.length === 0) this.open.delete(k);
    if (error) first.reject(error);
    else first.resolve();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }

  async finishAll(): Promise<void> {
    while (this.open.size > 0) await this.finish();
  }
}

const keys = (n: number, prefix = 'RepositoryGrant/ns/g-'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('StatusQueue', () => {
  it('keeps at most `concurrency` writes in flight and writes each status once', async () => {
    const writes = new Writes();
    const queue = new StatusQueue({ concurrency: 4, onError: () => undefined });
    queue.submit(
      'ns/main',
      keys(50).map((k) => writes.job(k)),
    );
    expect(writes.started).toHaveLength(4);
    await writes.finishAll();
    await queue.idle();
    expect(writes.maxInFlight).toBe(4);
    expect(new Set(writes.started).size).toBe(50);
    expect(writes.started).toHaveLength(50);
  });

  it('writes a status new in a later submission before the backlog of an earlier one', async () => {
    const writes = new Writes();
    const queue = new StatusQueue({ concurrency: 2, onError: () => undefined });
    const backlog = keys(100);
    queue.submit(
      'ns/main',
      backlog.map((k) => writes.job(k)),
    );
    await writes.finish();
    // The next reconcile asks for the same backlog (nothing of it written yet but 1) plus the change.
    queue.submit('ns/main', [...backlog.slice(1).map((k) => writes.job(k)), writes.job('RepositoryGrant/ns/late')]);
    await writes.finish();
    expect(writes.started.slice(0, 4)).toEqual([
      'RepositoryGrant/ns/g-0=v1',
      'RepositoryGrant/ns/g-1=v1',
      'RepositoryGrant/ns/g-2=v1',
      'RepositoryGrant/ns/late=v1',
    ]);
    await writes.finishAll();
    await queue.idle();
    expect(writes.started).toHaveLength(101);
  });

  it('writes the latest content asked for, and drops a status no longer asked for', async () => {
    const writes = new Writes();
    const queue = new StatusQueue({ concurrency: 1, onError: () => undefined });
    queue.submit('ns/main', [writes.job('a'), writes.job('b'), writes.job('c')]);
    queue.submit('ns/main', [writes.job('a'), writes.job('b', 'v2')]);
    await writes.finishAll();
    await queue.idle();
    expect(writes.started).toEqual(['a=v1', 'b=v2']);
  });

  it('never writes one object twice at once: newer content waits for the write in flight', async () => {
    const writes = new Writes();
    const queue = new StatusQueue({ concurrency: 4, onError: () => undefined });
    queue.submit('ns/main', [writes.job('a')]);
    queue.submit('ns/main', [writes.job('a', 'v2'), writes.job('b')]);
    expect(writes.started).toEqual(['a=v1', 'b=v1']);
    await writes.finish('a');
    expect(writes.started).toEqual(['a=v1', 'b=v1', 'a=v2']);
    await writes.finishAll();
    await queue.idle();
  });

  it('does not write content again until a submission shows the cache caught up', async () => {
    const writes = new Writes();
    const queue = new StatusQueue({ concurrency: 2, onError: () => undefined });
    queue.submit('ns/main', [writes.job('a')]);
    await writes.finishAll();
    // The watch has not delivered the write yet: the reconcile still asks for it.
    queue.submit('ns/main', [writes.job('a')]);
    expect(writes.started).toEqual(['a=v1']);
    // It did; then someone reverted the status: asked for again, it is written again.
    queue.submit('ns/main', []);
    queue.submit('ns/main', [writes.job('a')]);
    expect(writes.started).toEqual(['a=v1', 'a=v1']);
    await writes.finishAll();
  });

  it('keeps Registries apart: one submission does not drop another Registry’s statuses', async () => {
    const writes = new Writes();
    const queue = new StatusQueue({ concurrency: 1, onError: () => undefined });
    queue.submit('ns/one', [writes.job('x'), writes.job('y')]);
    queue.submit('ns/two', [writes.job('z')]);
    await writes.finishAll();
    await queue.idle();
    expect(writes.started.sort()).toEqual(['x=v1', 'y=v1', 'z=v1']);
  });

  it('reports failed writes once per Registry until it submits again, and writes the statuses again when asked', async () => {
    const writes = new Writes();
    const failed: string[] = [];
    const queue = new StatusQueue({ concurrency: 1, onError: (registry) => failed.push(registry) });
    queue.submit('ns/main', [writes.job('a'), writes.job('b')]);
    await writes.finish('a', new Error('HTTP 500'));
    await writes.finish('b', new Error('HTTP 500'));
    // One report for the burst: the Registry's next reconcile asks for both again.
    expect(failed).toEqual(['ns/main']);
    queue.submit('ns/main', [writes.job('a'), writes.job('b')]);
    expect(writes.started).toEqual(['a=v1', 'b=v1', 'a=v1']);
    await writes.finish('a', new Error('HTTP 500'));
    expect(failed).toEqual(['ns/main', 'ns/main']);
    await writes.finishAll();
  });

  it('stop drops what is pending, lets writes in flight finish, and ignores submissions until started', async () => {
    const writes = new Writes();
    const queue = new StatusQueue({ concurrency: 2, onError: () => undefined });
    queue.submit(
      'ns/main',
      keys(10).map((k) => writes.job(k)),
    );
    const stopped = queue.stop();
    queue.submit('ns/main', [writes.job('late')]);
    await writes.finishAll();
    await stopped;
    expect(writes.started).toHaveLength(2);
    queue.start();
    queue.submit('ns/main', [writes.job('late')]);
    await writes.finishAll();
    await queue.idle();
    expect(writes.started).toHaveLength(3);
  });

  it('reports a Registry drained once its many writes have all ended, counting only writes since its last submission', async () => {
    const writes = new Writes();
    const drained: string[] = [];
    const queue = new StatusQueue({ concurrency: 2, drainedAfter: 3, onError: () => undefined, onDrained: (r) => drained.push(r) });
    queue.submit(
      'ns/many',
      keys(4).map((k) => writes.job(k)),
    );
    queue.submit('ns/few', [writes.job('f')]);
    await writes.finish('RepositoryGrant/ns/g-0');
    await writes.finish('RepositoryGrant/ns/g-1');
    await writes.finish('RepositoryGrant/ns/g-2');
    // Three written, but one status is still pending and one in flight: not drained yet.
    expect(drained).toEqual([]);
    await writes.finishAll();
    await queue.idle();
    // ns/few wrote one status: its next reconcile takes that answer in cheaply, whenever it comes.
    expect(drained).toEqual(['ns/many']);
    // A submission resets the count: its reconcile already took in the answers its cache showed.
    queue.submit(
      'ns/many',
      keys(4).map((k) => writes.job(k, 'v2')),
    );
    await writes.finish('RepositoryGrant/ns/g-0');
    await writes.finish('RepositoryGrant/ns/g-1');
    queue.submit(
      'ns/many',
      keys(4).map((k) => writes.job(k, 'v2')),
    );
    await writes.finishAll();
    await queue.idle();
    expect(drained).toEqual(['ns/many']);
    // A failed write is no answer to take in.
    queue.submit(
      'ns/many',
      keys(4).map((k) => writes.job(k, 'v3')),
    );
    for (let i = 0; i < 4; i++) await writes.finish(undefined, new Error('HTTP 500'));
    await queue.idle();
    expect(drained).toEqual(['ns/many']);
    queue.submit(
      'ns/many',
      keys(4).map((k) => writes.job(k, 'v4')),
    );
    await writes.finishAll();
    await queue.idle();
    expect(drained).toEqual(['ns/many', 'ns/many']);
  });

  describe('follow-ups (Events)', () => {
    /** A job whose follow-up records itself in `writes.started` as `event:KEY` (it finishes at once). */
    const withEvent = (writes: Writes, key: string, warning = false): StatusJob => ({
      ...writes.job(key),
      followUp: { warning, run: () => Promise.resolve(void writes.started.push(`event:${key}`)) },
    });

    it('runs a follow-up after its status, and only once no status waits', async () => {
      const writes = new Writes();
      const queue = new StatusQueue({ concurrency: 2, onError: () => undefined });
      queue.submit(
        'ns/main',
        keys(4).map((k) => withEvent(writes, k)),
      );
      await writes.finish('RepositoryGrant/ns/g-0');
      // g-0's status is written, but two statuses still wait: its Event waits too.
      expect(writes.started.filter((s) => s.startsWith('event:'))).toEqual([]);
      await writes.finishAll();
      await queue.idle();
      const events = writes.started.filter((s) => s.startsWith('event:'));
      expect(events.sort()).toEqual(keys(4).map((k) => `event:${k}`));
      // Every status was started before the first Event.
      expect(writes.started.findIndex((s) => s.startsWith('event:'))).toBe(4);
    });

    it('has no follow-up for a status whose write failed', async () => {
      const writes = new Writes();
      const queue = new StatusQueue({ concurrency: 1, onError: () => undefined });
      queue.submit('ns/main', [withEvent(writes, 'a')]);
      await writes.finish('a', new Error('conflict'));
      await queue.idle();
      expect(writes.started).toEqual(['a=v1']);
    });

    it('keeps at most maxFollowUps waiting, Warnings before Normal ones, and counts what it drops', async () => {
      const writes = new Writes();
      const queue = new StatusQueue({ concurrency: 1, maxFollowUps: 2, onError: () => undefined });
      queue.submit('ns/main', [withEvent(writes, 'n1'), withEvent(writes, 'n2'), withEvent(writes, 'w1', true), withEvent(writes, 'w2', true)]);
      // One write at a time, in order: the statuses keep the slot, so every follow-up waits till the end.
      for (const key of ['n1', 'n2', 'w1', 'w2']) await writes.finish(key);
      await queue.idle();
      // n1 and n2 filled the two places; each Warning then took the newest Normal one's place.
      expect(writes.started.filter((s) => s.startsWith('event:'))).toEqual(['event:w1', 'event:w2']);
      expect(queue.droppedFollowUps).toBe(2);
    });

    it('stop drops the follow-ups waiting', async () => {
      const writes = new Writes();
      const queue = new StatusQueue({ concurrency: 1, onError: () => undefined });
      queue.submit('ns/main', [withEvent(writes, 'a'), withEvent(writes, 'b')]);
      await writes.finish('a');
      const stopped = queue.stop();
      await writes.finishAll();
      await stopped;
      expect(writes.started.filter((s) => s.startsWith('event:'))).toEqual([]);
    });
  });
});
