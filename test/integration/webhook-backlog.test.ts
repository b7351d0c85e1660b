// A tenant webhook's backlog on a real store: what its status shows must be its own events still owed,
// whatever the other tenants do. The count reads at most BACKLOG_CAP events; when the other tenants'
// events counted against that cap, a tenant whose receiver failed (its cursor held) and who added one
// event a minute saw its backlog stop growing after B minutes: the others produced about 10,000/B events
// a minute (review, Low).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore, RegistryEvent } from '../../activity/event.js';
import { openEventStore } from '../../activity/store/open.js';
import { BACKLOG_CAP, countBacklog } from '../../activity/webhooks/backlog.js';
import type { EventFilter } from '../../activity/webhooks/filter.js';
import { compilePattern } from '../../policy/match.js';

const REGISTRY = 'registry/main';
let dir: string;
let store: EventStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-webhook-backlog-'));
  store = await openEventStore(`sqlite:${join(dir, 'events.db')}`);
});
afterAll(async () => {
  await store?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

let ids = 0;
const push = (repository: string): RegistryEvent => ({
  id: `ev-${++ids}`,
  registry: REGISTRY,
  action: 'push',
  repository,
  tag: '1',
  actor: 'ci-bot',
  timestamp: new Date().toISOString(),
});

const tenantFilter: EventFilter = {
  registry: REGISTRY,
  actions: new Set(['push']),
  patterns: [compilePattern('team-a/**')],
  prefixes: [compilePattern('team-a/**')],
};

describe("a tenant webhook's backlog", () => {
  it("counts the tenant's own events owed, however many of other tenants' events lie between", async () => {
    const [held] = await store.append([push('team-a/app')]).then(() => store.after(REGISTRY, 0, 1));
    const cursor = held?.seq ?? 0;
    // Other tenants' events, more than the cap, then three of team-a's own, then more of the others.
    for (let i = 0; i < BACKLOG_CAP + 2000; i += 1000) await store.append(Array.from({ length: 1000 }, () => push('team-b/app')));
    await store.append([push('team-a/app'), push('team-a/lib'), push('team-ab/app')]);
    await store.append(Array.from({ length: 500 }, () => push('team-b/app')));
    await store.append([push('team-a/app')]);
    // Before: 0 (the cap was spent on team-b's events before team-a's were reached).
    expect(await countBacklog(store, tenantFilter, cursor)).toBe(3);
  });
});
