// Retention against the real SQLite store (in memory): what a run removes, and a failing store that only
// costs a log line.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { RegistryEvent } from './event.js';
import { RetentionSchedule } from './retention.js';
import { openEventStore } from './store/open.js';

const DAY = 86_400_000;
const NOW = new Date('2026-11-27T12:00:00Z');
const event = (id: string, daysAgo: number): RegistryEvent => ({
  id,
  registry: 'registry/main',
  action: 'push',
  repository: 'team/app',
  digest: 'sha256:e5a0df5a4b97f6146fc68f6cbfecf12f8b5309da91d4e0117624da6c0b10b284',
  timestamp: new Date(NOW.getTime() - daysAgo * DAY).toISOString(),
});

function capture(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: pino(sink), lines };
}

describe('RetentionSchedule', () => {
  it('removes events past the age limit and the oldest beyond the row limit, and reports how many', async () => {
    const store = await openEventStore('sqlite::memory:');
    try {
      await store.append([event('old', 100), event('a', 30), event('b', 20), event('c', 10), event('d', 1)]);
      const removed: number[] = [];
      const { logger } = capture();
      const retention = new RetentionSchedule({ store, limits: { maxAgeMs: 90 * DAY, maxRows: 3 }, logger, now: () => NOW, onPruned: (n) => removed.push(n) });
      await retention.runOnce();
      expect((await store.query({ registry: 'registry/main' })).map((e) => e.id)).toEqual(['d', 'c', 'b']);
      expect(removed).toEqual([2]);
      await retention.stop();
    } finally {
      await store.close();
    }
  });

  it('without limits it is inactive; a failing prune is logged and does not throw', async () => {
    const { logger, lines } = capture();
    const failing = { prune: () => Promise.reject(new Error('database is locked')) };
    expect(new RetentionSchedule({ store: failing, limits: {}, logger }).active).toBe(false);
    const retention = new RetentionSchedule({ store: failing, limits: { maxRows: 1 }, logger });
    await retention.runOnce();
    expect(lines.join('')).toContain('database is locked');
    await retention.stop();
    await retention.runOnce();
    expect(lines).toHaveLength(1);
  });
});
