// The SQLite store on a worker thread, as `portcullis activity` opens it. The worker is a compiled file,
// so this test loads the store from dist/ (built by `npm test`'s pretest), like the CLI does.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore, RegistryEvent } from '../../activity/event.js';
import type { OpenOptions } from '../../activity/store/open.js';
import { repoRoot } from '../../local/tools.js';

type OpenEventStore = (url: string, options?: OpenOptions) => Promise<EventStore>;

let dir: string;
let openEventStore: OpenEventStore;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-event-store-thread-'));
  ({ openEventStore } = (await import(join(repoRoot, 'dist/activity/store/open.js'))) as { openEventStore: OpenEventStore });
});
afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

let ids = 0;
const event = (fields: Partial<RegistryEvent> = {}): RegistryEvent => ({
  id: `ev-${++ids}`,
  registry: 'registry/main',
  action: 'push',
  repository: 'team-a/app',
  tag: '1',
  digest: `sha256:${'a'.repeat(64)}`,
  actor: 'alice',
  timestamp: new Date(Date.now() - 60_000).toISOString(),
  ...fields,
});

describe('the SQLite event store on a worker thread', () => {
  it('stores, de-duplicates, queries with Dates and patterns, follows seq, keeps cursors, prunes, and keeps it all across a reopen', async () => {
    const path = join(dir, 'events.db');
    const store = await openEventStore(`sqlite:${path}`, { thread: true });
    const first = event({ actor: 'alice' });
    expect(await store.append([first, event({ actor: 'ci-bot', repository: 'team-b/app' }), first])).toBe(2);
    expect(await store.append([first])).toBe(0);
    const alice = await store.query({ registry: 'registry/main', actor: 'alice', since: new Date(Date.now() - 3_600_000) });
    expect(alice.map((e) => [e.id, e.actor, e.digest])).toEqual([[first.id, 'alice', first.digest]]);
    expect((await store.query({ registry: 'registry/main', within: ['team-b/**'] })).map((e) => e.repository)).toEqual(['team-b/app']);
    expect((await store.after('registry/main', 0, 10)).map((e) => e.seq)).toEqual([1, 2]);
    expect(await store.maxSeq()).toBe(2);
    await store.setCursor('webhook-uid', 1);
    expect(await store.cursor('webhook-uid')).toBe(1);
    expect(await store.prune({ maxRows: 1 }, new Date())).toBe(1);
    await store.close();

    const reopened = await openEventStore(`sqlite:${path}`, { thread: true });
    try {
      expect((await reopened.after('registry/main', 0, 10)).map((e) => e.id)).toEqual([(await reopened.query({ registry: 'registry/main' }))[0]?.id]);
      expect(await reopened.cursor('webhook-uid')).toBe(1);
    } finally {
      await reopened.close();
    }
  });

  it("passes the store's refusal back whole, and stores nothing of the batch", async () => {
    const store = await openEventStore(`sqlite:${join(dir, 'refusal.db')}`, { thread: true });
    try {
      await expect(store.append([event(), { ...event(), action: 'mount' as RegistryEvent['action'] }])).rejects.toThrow(
        /action "mount" is not one of push, pull, delete/,
      );
      expect(await store.maxSeq()).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('refuses to open what it cannot, with the reason, and leaves no thread behind', async () => {
    await expect(openEventStore(`sqlite:${join(dir, 'no-such-dir', 'x.db')}`, { thread: true })).rejects.toThrow(
      /directory does not exist|unable to open|SQLITE_CANTOPEN/i,
    );
  });
});
