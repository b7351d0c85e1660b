// One delivery loop against the real SQLite store (in memory) and receivers on loopback, with timers in
// which a retry wait never ends by itself: what must happen then can only come from a wake-up (a new plan,
// a stop), which is what these tests are about. Polls run on real time.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryWebhookStatus } from '../../crds/types.js';
import type { Timers } from '../../kube/backoff.js';
import type { EventStore, RegistryEvent } from '../event.js';
import { openEventStore } from '../store/open.js';
import { eventFilter } from './filter.js';
import { DeliveryLoop } from './loop.js';
import type { WebhookMetrics } from './metrics.js';
import type { WebhookPlan } from './plan.js';
import { createSender, type Sender } from './send.js';
import { StatusReporter } from './status.js';

const POLL_MS = 20;
/** Real timeouts for polls; a retry wait (anything longer) is left pending forever. */
const timers: Timers = {
  setTimeout: (fn, ms) => (ms <= POLL_MS ? setTimeout(fn, ms) : undefined),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  random: () => 0,
  now: Date.now,
};
const metrics = { delivered: () => undefined, backlog: () => undefined, forget: () => undefined } as unknown as WebhookMetrics;

let store: EventStore;
let sender: Sender;
const servers: http.Server[] = [];
const loops: DeliveryLoop[] = [];

async function receiver(status: number): Promise<{ url: URL; bodies: string[] }> {
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`), bodies };
}

function plan(url: URL, fingerprint: string, spec: { repositories?: string[] } = {}): WebhookPlan {
  return {
    fingerprint,
    target: { filter: eventFilter(spec, { registry: 'registry/main' }), url, headers: {}, secret: { namespace: 'registry', name: 'hook', key: 'secret' } },
  };
}

function startLoop(uid: string, first: WebhookPlan, statuses: RegistryWebhookStatus[] = [], initial?: RegistryWebhookStatus): DeliveryLoop {
  const loop = new DeliveryLoop(
    first,
    {
      uid,
      key: `registry/${uid}`,
      store,
      sender,
      readKey: () => Promise.resolve({ key: Buffer.from('k') }),
      reporter: (backlog) =>
        new StatusReporter({
          write: (s) => Promise.resolve(void statuses.push(s)),
          backlog,
          onError: () => undefined,
          timers: { ...timers, setTimeout: (fn) => setTimeout(fn, 0) },
          throttle: { intervalMs: 0, transitionGapMs: 0 },
        }),
      metrics,
      timers,
      pollMs: POLL_MS,
      keyTtlMs: 60_000,
      log: { warn: () => undefined },
    },
    initial,
  );
  loop.start();
  loops.push(loop);
  return loop;
}

let n = 0;
const event = (repository: string): RegistryEvent => ({
  id: `e${++n}`,
  registry: 'registry/main',
  action: 'push',
  repository,
  timestamp: new Date().toISOString(),
});

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never: ${what}`);
}

beforeAll(async () => {
  store = await openEventStore('sqlite::memory:');
  sender = createSender({ timeoutMs: 2000, allowLinkLocal: false });
});

afterEach(async () => {
  for (const loop of loops.splice(0)) await loop.stop();
});

afterAll(async () => {
  sender.close();
  for (const server of servers) await new Promise((r) => server.close(r));
  await store.close();
});

describe('DeliveryLoop', () => {
  it('a new webhook starts at the newest event and hears nothing of what came before', async () => {
    await store.append([event('old/app')]);
    const hook = await receiver(200);
    startLoop('fresh', plan(hook.url, 'a'));
    await until('the cursor is stored', async () => (await store.cursor('fresh')) === (await store.maxSeq()));
    const next = event('new/app');
    await store.append([next]);
    await until('the new event delivered', () => hook.bodies.length === 1);
    expect((JSON.parse(hook.bodies[0] as string) as { id: string }).id).toBe(next.id);
  });

  it('passes over events its patterns do not want and stores the position it reached', async () => {
    const hook = await receiver(200);
    startLoop('picky', plan(hook.url, 'a', { repositories: ['wanted/**'] }));
    await until('the cursor is stored', async () => (await store.cursor('picky')) !== undefined);
    await store.append([event('other/a'), event('other/b'), event('other/c')]);
    await until('the position past them is stored', async () => (await store.cursor('picky')) === (await store.maxSeq()));
    expect(hook.bodies).toEqual([]);
  });

  it("attack: events only in other tenants' repositories change nothing in the status, not even a step between two of its own", async () => {
    const hook = await receiver(200);
    const statuses: RegistryWebhookStatus[] = [];
    startLoop('tenant', plan(hook.url, 'a', { repositories: ['team-a/**'] }), statuses);
    await until('the cursor is stored', async () => (await store.cursor('tenant')) !== undefined);
    const mine = event('team-a/app');
    await store.append([mine]);
    await until('its own event delivered and reported', () => statuses.at(-1)?.lastDeliveredEventId === mine.id);
    const written = statuses.length;
    await store.append([event('team-b/app'), event('team-b/other'), event('team-c/app')]);
    // The loop has passed over them (its stored cursor is past them) and had every chance to report.
    await until('the position past them is stored', async () => (await store.cursor('tenant')) === (await store.maxSeq()));
    await new Promise((r) => setTimeout(r, POLL_MS * 5));
    expect(hook.bodies).toHaveLength(1);
    expect(statuses.slice(written)).toEqual([]);
    // Its next event: what the status shows of it is the same whether or not others' events came between.
    const next = event('team-a/next');
    await store.append([next]);
    await until('its next event reported', () => statuses.at(-1)?.lastDeliveredEventId === next.id);
    // No number in it but the generation and its own backlog: no seq whose step counts others' events.
    const numbers = statuses.flatMap((s) =>
      Object.entries(s)
        .filter(([, v]) => typeof v === 'number')
        .map(([k]) => k),
    );
    expect(numbers.filter((k) => k !== 'backlog' && k !== 'observedGeneration')).toEqual([]);
    expect(statuses.map((s) => s.backlog ?? 0).every((b) => b <= 1)).toBe(true);
  });

  it('a new webhook reports no delivered event, not the newest event of the whole store', async () => {
    await store.append([event('team-b/app')]);
    const hook = await receiver(200);
    const statuses: RegistryWebhookStatus[] = [];
    startLoop('newcomer', plan(hook.url, 'a', { repositories: ['team-a/**'] }), statuses);
    await until('a status written', () => statuses.length > 0);
    expect(await store.maxSeq()).toBeGreaterThan(0);
    expect(statuses.map((s) => s.lastDeliveredEventId)).toEqual([undefined]);
  });

  it('a restart neither repeats nor skips: the cursor is the stored one, the status keeps the last delivered event', async () => {
    const hook = await receiver(200);
    const statuses: RegistryWebhookStatus[] = [];
    const first = startLoop('restarted', plan(hook.url, 'a', { repositories: ['team-a/**'] }), statuses);
    await until('the cursor is stored', async () => (await store.cursor('restarted')) !== undefined);
    await store.append([event('team-a/one')]);
    await until('delivered and reported', () => statuses.at(-1)?.lastSuccessTime !== undefined);
    await store.append([event('team-b/app')]);
    await until('the position past it is stored', async () => (await store.cursor('restarted')) === (await store.maxSeq()));
    await first.stop();
    loops.splice(loops.indexOf(first), 1);
    const shown = statuses.at(-1) as RegistryWebhookStatus;
    const after: RegistryWebhookStatus[] = [];
    startLoop('restarted', plan(hook.url, 'a', { repositories: ['team-a/**'] }), after, shown);
    await until('a status written after the restart', () => after.length > 0);
    expect(shown.lastDeliveredEventId).toBeDefined();
    expect(after[0]?.lastDeliveredEventId).toBe(shown.lastDeliveredEventId);
    const two = event('team-a/two');
    await store.append([two]);
    await until('the next event delivered', () => hook.bodies.length === 2);
    expect((JSON.parse(hook.bodies[1] as string) as { id: string }).id).toBe(two.id);
    await until('reported', () => after.at(-1)?.lastDeliveredEventId === two.id);
  });

  it('a fixed URL takes effect during a retry wait: the same event goes to the new receiver at once', async () => {
    const broken = await receiver(503);
    const fixed = await receiver(200);
    const statuses: RegistryWebhookStatus[] = [];
    const loop = startLoop('fixed', plan(broken.url, 'broken'), statuses);
    await until('the cursor is stored', async () => (await store.cursor('fixed')) !== undefined);
    const e = event('team/app');
    await store.append([e]);
    await until('the failure reported', () => statuses.some((s) => s.lastFailure?.reason === 'HTTP 503'));
    // The retry wait never ends by itself here: only the new plan can move the loop on.
    loop.update(plan(fixed.url, 'fixed'));
    await until('delivered to the fixed URL', () => fixed.bodies.length === 1);
    expect([broken.bodies.length, (JSON.parse(fixed.bodies[0] as string) as { id: string }).id]).toEqual([1, e.id]);
    await until('the position stored', async () => (await store.cursor('fixed')) === (await store.maxSeq()));
  });

  it('stop() during a retry wait returns without waiting for it', async () => {
    const broken = await receiver(500);
    const statuses: RegistryWebhookStatus[] = [];
    const loop = startLoop('stopping', plan(broken.url, 'a'), statuses);
    await until('the cursor is stored', async () => (await store.cursor('stopping')) !== undefined);
    await store.append([event('team/stop')]);
    await until('the failure reported', () => statuses.some((s) => s.lastFailure !== undefined));
    await loop.stop();
    loops.splice(loops.indexOf(loop), 1);
    // It stopped before the event: a restart delivers it again rather than losing it.
    expect(await store.cursor('stopping')).toBe((await store.maxSeq()) - 1);
  });
});
