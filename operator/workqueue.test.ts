import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF, type Timers } from '../kube/backoff.js';
import { WorkQueue } from './workqueue.js';

/** Timers that fire only when the test advances the clock. */
function fakeTimers(random = 0): Timers & { now: () => number; advance: (ms: number) => void; pending: () => number } {
  let now = 0;
  let nextId = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    setTimeout: (fn, ms) => {
      const id = nextId++;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout: (handle) => void timers.delete(handle as number),
    random: () => random,
    now: () => now,
    pending: () => timers.size,
    advance(ms) {
      now += ms;
      for (const [id, t] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at <= now) {
          timers.delete(id);
          t.fn();
        }
      }
    },
  };
}

describe('WorkQueue', () => {
  it('hands a key out once however often it was added before being taken', async () => {
    const q = new WorkQueue(fakeTimers());
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('re-runs a key added while it was being processed, after done, and not before', async () => {
    const q = new WorkQueue(fakeTimers());
    q.add('a');
    const key = await q.get();
    q.add('a');
    expect(q.length).toBe(0);
    q.done(key!);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('wakes a waiting worker when a key arrives', async () => {
    const q = new WorkQueue(fakeTimers());
    const pending = q.get();
    q.add('x');
    expect(await pending).toBe('x');
  });

  it('runs a key once when a waiting worker is woken by two adds of it in one tick (an event naming it twice)', async () => {
    const q = new WorkQueue(fakeTimers());
    const taken = q.get();
    q.add('a');
    q.add('a');
    expect(await taken).toBe('a');
    q.done('a');
    expect(q.length).toBe(0);
    let second: string | undefined = 'none';
    void q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBe('none');
    q.shutDown();
  });

  it('adds a key after the delay, keeping the earliest of two delays', () => {
    const t = fakeTimers();
    const q = new WorkQueue(t, DEFAULT_BACKOFF, t.now);
    q.addAfter('a', 100);
    q.addAfter('a', 50);
    q.addAfter('a', 200);
    t.advance(49);
    expect(q.length).toBe(0);
    t.advance(1);
    expect(q.length).toBe(1);
    t.advance(1000);
    expect(q.length).toBe(1);
  });

  it('backs off exponentially per key and forget resets it', async () => {
    const t = fakeTimers();
    const q = new WorkQueue(t, { baseMs: 5, maxMs: 1000, jitter: 0 }, t.now);
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      q.addRateLimited('a');
      let waited = 0;
      while (q.length === 0 && waited < 10_000) {
        t.advance(1);
        waited++;
      }
      delays.push(waited);
      q.done((await q.get())!);
    }
    expect(delays).toEqual([5, 10, 20, 40]);
    expect(q.numRequeues('a')).toBe(4);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
  });

  it('caps the backoff at the maximum plus jitter', () => {
    expect(backoffDelay(100, DEFAULT_BACKOFF, () => 0)).toBe(300_000);
    expect(backoffDelay(100, DEFAULT_BACKOFF, () => 0.5)).toBe(315_000);
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0)).toBe(5);
  });

  it('drains queued keys after shutDown, then returns undefined, and drops pending delays', async () => {
    const t = fakeTimers();
    const q = new WorkQueue(t, DEFAULT_BACKOFF, t.now);
    q.add('a');
    q.addAfter('b', 10);
    const waiting = new WorkQueue(t).get();
    q.shutDown();
    expect(t.pending()).toBe(0);
    q.add('c');
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBeUndefined();
    expect(waiting).toBeInstanceOf(Promise);
  });

  it('releases waiting workers on shutDown and reports idle once processing ends', async () => {
    const q = new WorkQueue(fakeTimers());
    const waiter = q.get();
    q.shutDown();
    expect(await waiter).toBeUndefined();
    const q2 = new WorkQueue(fakeTimers());
    q2.add('a');
    const key = await q2.get();
    let idle = false;
    const idlePromise = q2.idle().then(() => (idle = true));
    q2.shutDown();
    await Promise.resolve();
    expect(idle).toBe(false);
    q2.done(key!);
    await idlePromise;
    expect(idle).toBe(true);
  });
});
