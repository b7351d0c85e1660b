// The status throttle: Ready transitions are written promptly, everything else at most every interval,
// and a write that would change nothing is not sent.
import { describe, expect, it } from 'vitest';
import type { RegistryWebhookStatus } from '../../crds/types.js';
import type { Timers } from '../../kube/backoff.js';
import { StatusReporter, statusObject, writeDelayMs, type DeliveryState } from './status.js';

const THROTTLE = { intervalMs: 5000, transitionGapMs: 1000 };

describe('writeDelayMs', () => {
  it.each([
    ['the first write goes at once', undefined, 'True/Delivering', 0],
    ['a transition right after a write waits for the 1 s gap', { at: 10_000, ready: 'True/Delivering' }, 'False/DeliveryFailing', 1000],
    ['a transition long after a write goes at once', { at: 0, ready: 'True/Delivering' }, 'False/DeliveryFailing', 0],
    ['progress right after a write waits for the 5 s interval', { at: 10_000, ready: 'True/Delivering' }, 'True/Delivering', 5000],
    ['progress 3 s after a write waits the rest', { at: 7000, ready: 'True/Delivering' }, 'True/Delivering', 2000],
  ])('%s', (_sentence, last, ready, delay) => {
    expect(writeDelayMs(last, ready, 10_000, THROTTLE)).toBe(delay);
  });
});

describe('statusObject', () => {
  const state: DeliveryState = { generation: 3, ready: { status: 'True', reason: 'Delivering', message: 'ok' }, lastDeliveredEventId: 'e9' };
  const now = new Date('2026-11-27T10:00:00.123Z');

  it('keeps the transition time while the Ready status stays the same', () => {
    const previous = { type: 'Ready', status: 'True' as const, reason: 'Delivering', message: 'x', lastTransitionTime: '2026-01-01T00:00:00Z' };
    expect(statusObject(state, 0, previous, now).conditions?.[0]?.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
  });

  it('stamps a transition with the time now, in whole seconds', () => {
    const previous = { type: 'Ready', status: 'False' as const, reason: 'DeliveryFailing', message: 'x', lastTransitionTime: '2026-01-01T00:00:00Z' };
    expect(statusObject(state, 0, previous, now)).toEqual({
      observedGeneration: 3,
      lastDeliveredEventId: 'e9',
      backlog: 0,
      conditions: [{ type: 'Ready', status: 'True', reason: 'Delivering', message: 'ok', observedGeneration: 3, lastTransitionTime: '2026-11-27T10:00:00Z' }],
    });
  });
});

/** Timers a test advances by hand. */
function manualTimers(): Timers & { advance(ms: number): Promise<void> } {
  let now = 0;
  let queue: { at: number; fn: () => void; id: number }[] = [];
  let next = 0;
  return {
    now: () => now,
    random: () => 0,
    setTimeout: (fn, ms) => {
      const id = next++;
      queue.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout: (id) => {
      queue = queue.filter((t) => t.id !== id);
    },
    async advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = queue.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
        if (due === undefined) break;
        queue = queue.filter((t) => t !== due);
        now = due.at;
        due.fn();
        for (let i = 0; i < 10; i++) await Promise.resolve();
      }
      now = until;
    },
  };
}

describe('StatusReporter', () => {
  const ready = (status: 'True' | 'False', reason: string): DeliveryState['ready'] => ({ status, reason, message: reason });

  it('writes a transition promptly, batches progress into one write per interval, and skips writes that change nothing', async () => {
    const timers = manualTimers();
    const written: RegistryWebhookStatus[] = [];
    const reporter = new StatusReporter({
      write: (s) => {
        written.push(s);
        return Promise.resolve();
      },
      backlog: () => Promise.resolve(0),
      onError: () => undefined,
      timers,
      throttle: THROTTLE,
    });
    reporter.report({ ready: ready('True', 'Delivering'), lastDeliveredEventId: 'e1' });
    await timers.advance(0);
    expect(written.map((s) => s.lastDeliveredEventId)).toEqual(['e1']);

    for (let seq = 2; seq <= 6; seq++) {
      reporter.report({ ready: ready('True', 'Delivering'), lastDeliveredEventId: `e${seq}` });
      await timers.advance(500);
    }
    expect(written).toHaveLength(1);
    await timers.advance(3000);
    expect(written.map((s) => s.lastDeliveredEventId)).toEqual(['e1', 'e6']);

    reporter.report({ ready: ready('False', 'DeliveryFailing'), lastDeliveredEventId: 'e6' });
    await timers.advance(1000);
    expect(written.map((s) => s.conditions?.[0]?.reason)).toEqual(['Delivering', 'Delivering', 'DeliveryFailing']);

    reporter.report({ ready: ready('False', 'DeliveryFailing'), lastDeliveredEventId: 'e6' });
    await timers.advance(10_000);
    expect(written).toHaveLength(3);
    await reporter.stop();
  });

  it('retries a failed write once per interval, not in a tight loop', async () => {
    const timers = manualTimers();
    let attempts = 0;
    const reporter = new StatusReporter({
      write: () => {
        attempts++;
        return Promise.reject(new Error('HTTP 403'));
      },
      backlog: () => Promise.resolve(undefined),
      onError: () => undefined,
      timers,
      throttle: THROTTLE,
    });
    reporter.report({ ready: ready('True', 'Delivering') });
    await timers.advance(12_000);
    expect(attempts).toBe(3);
    await reporter.stop();
  });
});
