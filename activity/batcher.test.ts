// The batcher against a store double that holds each append until the test releases it: the only way to
// observe "answered only after commit" and "one write at a time" without timing. The real stores (SQLite,
// PostgreSQL) are tested in store/.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BatcherClosedError, IntakeBatcher, QueueFullError, StoreWriteError, type BatchWrite } from './batcher.js';
import type { EventStore, RegistryEvent } from './event.js';

const event = (id: string): RegistryEvent => ({ id, registry: 'registry/main', action: 'push', repository: 'team/app', timestamp: '2026-11-27T14:12:51.180Z' });
const events = (prefix: string, n: number): RegistryEvent[] => Array.from({ length: n }, (_, i) => event(`${prefix}${i}`));

/** An append that waits for `release()` (or `fail()`); records every batch it was given. */
class HeldStore implements Pick<EventStore, 'append'> {
  readonly batches: RegistryEvent[][] = [];
  private held: { resolve: (n: number) => void; reject: (e: Error) => void; size: number }[] = [];
  append(batch: readonly RegistryEvent[]): Promise<number> {
    this.batches.push([...batch]);
    return new Promise((resolve, reject) => this.held.push({ resolve, reject, size: batch.length }));
  }
  get waiting(): number {
    return this.held.length;
  }
  release(stored?: number): void {
    const next = this.held.shift();
    next?.resolve(stored ?? next.size);
  }
  fail(message: string): void {
    this.held.shift()?.reject(new Error(message));
  }
}

/** Lets pending promise callbacks run. */
const settle = () => new Promise<void>((r) => setImmediate(r));

function track(p: Promise<void>): { state: () => 'pending' | 'resolved' | Error } {
  let state: 'pending' | 'resolved' | Error = 'pending';
  p.then(
    () => (state = 'resolved'),
    (e: Error) => (state = e),
  );
  return { state: () => state };
}

afterEach(() => vi.useRealTimers());

describe('IntakeBatcher', () => {
  it('a submission resolves only after the store committed its events', async () => {
    const store = new HeldStore();
    const batcher = new IntakeBatcher({ store, maxBatch: 2, maxDelayMs: 60_000, maxPending: 10 });
    const submitted = track(batcher.submit(events('a', 2)));
    await settle();
    expect(store.batches).toHaveLength(1);
    expect(submitted.state()).toBe('pending');
    store.release();
    await settle();
    expect(submitted.state()).toBe('resolved');
  });

  it(`writes as soon as maxBatch events wait, without waiting for the delay`, async () => {
    const store = new HeldStore();
    const batcher = new IntakeBatcher({ store, maxBatch: 3, maxDelayMs: 60_000, maxPending: 10 });
    void batcher.submit(events('a', 1));
    void batcher.submit(events('b', 1));
    await settle();
    expect(store.batches).toHaveLength(0);
    void batcher.submit(events('c', 1));
    await settle();
    expect(store.batches.map((b) => b.map((e) => e.id))).toEqual([['a0', 'b0', 'c0']]);
  });

  it('writes fewer than maxBatch once maxDelayMs has passed since the first arrived', async () => {
    vi.useFakeTimers();
    const store = new HeldStore();
    const batcher = new IntakeBatcher({ store, maxBatch: 100, maxDelayMs: 50, maxPending: 1000 });
    void batcher.submit(events('a', 1));
    await vi.advanceTimersByTimeAsync(49);
    expect(store.batches).toHaveLength(0);
    void batcher.submit(events('b', 1));
    await vi.advanceTimersByTimeAsync(1);
    expect(store.batches.map((b) => b.length)).toEqual([2]);
  });

  it('one write at a time: submissions during a write form the next batch, written together', async () => {
    const store = new HeldStore();
    const batcher = new IntakeBatcher({ store, maxBatch: 1, maxDelayMs: 0, maxPending: 100 });
    const first = track(batcher.submit(events('a', 1)));
    await settle();
    const later = ['b', 'c', 'd'].map((p) => track(batcher.submit(events(p, 2))));
    await settle();
    expect(store.waiting).toBe(1);
    store.release();
    await settle();
    expect(first.state()).toBe('resolved');
    expect(later.map((t) => t.state())).toEqual(['pending', 'pending', 'pending']);
    expect(store.batches.map((b) => b.map((e) => e.id))).toEqual([['a0'], ['b0', 'b1', 'c0', 'c1', 'd0', 'd1']]);
    store.release();
    await settle();
    expect(later.map((t) => t.state())).toEqual(['resolved', 'resolved', 'resolved']);
  });

  it('a failed write rejects every submission of that batch with a retryable error; the next batch is written', async () => {
    const store = new HeldStore();
    const writes: BatchWrite[] = [];
    const batcher = new IntakeBatcher({ store, maxBatch: 2, maxDelayMs: 0, maxPending: 100, onWrite: (w) => writes.push(w) });
    const failed = [track(batcher.submit(events('a', 1))), track(batcher.submit(events('b', 1)))];
    await settle();
    store.fail('disk full');
    await settle();
    for (const t of failed) {
      expect(t.state()).toBeInstanceOf(StoreWriteError);
      expect((t.state() as StoreWriteError).retryable).toBe(true);
    }
    expect(writes[0]).toMatchObject({ error: new Error('disk full') });
    expect(writes[0]).not.toHaveProperty('stored');
    const next = track(batcher.submit(events('c', 2)));
    await settle();
    store.release(1);
    await settle();
    expect(next.state()).toBe('resolved');
    expect(writes[1]).toMatchObject({ stored: 1, events: events('c', 2) });
  });

  it('refuses at once when the queue would exceed maxPending (events waiting and being written), and takes more once written', async () => {
    const store = new HeldStore();
    const batcher = new IntakeBatcher({ store, maxBatch: 4, maxDelayMs: 0, maxPending: 6 });
    void batcher.submit(events('a', 4));
    await settle();
    void batcher.submit(events('b', 2));
    expect(batcher.pending).toBe(6);
    await expect(batcher.submit(events('c', 1))).rejects.toBeInstanceOf(QueueFullError);
    store.release();
    await settle();
    expect(batcher.pending).toBe(2);
    const taken = track(batcher.submit(events('d', 4)));
    await settle();
    // Taken, not refused: the written events made room. Whether b and d share a write depends on when
    // b's 0 ms timer fires, so only the order of everything written is asserted.
    expect(taken.state()).toBe('pending');
    for (let i = 0; i < 50 && taken.state() === 'pending'; i++) {
      store.release();
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(taken.state()).toBe('resolved');
    expect(store.batches.flat().map((e) => e.id)).toEqual([...events('a', 4), ...events('b', 2), ...events('d', 4)].map((e) => e.id));
  });

  it('close() writes what waits, waits for the write, and refuses later submissions', async () => {
    const store = new HeldStore();
    const batcher = new IntakeBatcher({ store, maxBatch: 100, maxDelayMs: 60_000, maxPending: 1000 });
    const waiting = track(batcher.submit(events('a', 3)));
    const closing = track(batcher.close());
    await settle();
    expect(store.batches.map((b) => b.length)).toEqual([3]);
    expect(closing.state()).toBe('pending');
    await expect(batcher.submit(events('b', 1))).rejects.toBeInstanceOf(BatcherClosedError);
    store.release();
    await settle();
    expect(waiting.state()).toBe('resolved');
    expect(closing.state()).toBe('resolved');
  });

  it('an empty submission resolves without a write', async () => {
    const store = new HeldStore();
    const batcher = new IntakeBatcher({ store, maxBatch: 1, maxDelayMs: 0, maxPending: 1 });
    await batcher.submit([]);
    expect(store.batches).toEqual([]);
  });

  it('refuses settings that could never write', () => {
    const store = new HeldStore();
    expect(() => new IntakeBatcher({ store, maxBatch: 0, maxDelayMs: 0, maxPending: 1 })).toThrow(/maxBatch >= 1/);
    expect(() => new IntakeBatcher({ store, maxBatch: 10, maxDelayMs: 0, maxPending: 5 })).toThrow(/maxPending >= maxBatch/);
  });
});
