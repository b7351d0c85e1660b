// Intake through fastify.inject: the real SQLite store (in memory) and the real batcher for what is
// stored; a store double only where the store must fail or hold a write (503s). Every refusal is
// asserted by its status and body, and by nothing having been stored.
import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { notificationToken } from '../wire/notification-token.js';
import { IntakeBatcher } from './batcher.js';
import { EVENTS_MEDIA_TYPES } from './envelope.js';
import type { EventStore, RegistryEvent } from './event.js';
import { buildEventsApp } from './events-app.js';
import { loggerOptions } from './logger.js';
import { ActivityMetrics } from './metrics.js';
import { openEventStore } from './store/open.js';

const KEY = Buffer.from('an activity key of at least thirty-two bytes, for tests only');
const MAIN = { namespace: 'registry', name: 'main' };
const TOKEN = notificationToken(KEY, MAIN);
const DIGEST = 'sha256:e5a0df5a4b97f6146fc68f6cbfecf12f8b5309da91d4e0117624da6c0b10b284';
const [V1, V2] = EVENTS_MEDIA_TYPES;

const manifestPush = (id: string, actor = 'alice') => ({
  id,
  timestamp: '2026-11-27T14:12:51.47653242Z',
  action: 'push',
  target: {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: DIGEST,
    size: 402,
    length: 402,
    repository: 'team/app',
    url: `https://localhost:5000/v2/team/app/manifests/${DIGEST}`,
    tag: '1',
  },
  request: { id: `req-${id}`, addr: '127.0.0.1:43242', host: 'localhost:5000', method: 'PUT', useragent: 'crane/v0.22.1' },
  actor: { name: actor },
  source: { addr: 'registry-0:5000', instanceID: 'd6e0186b-d9c8-4aed-a32c-828225bfbfae' },
});
const envelope = (...events: unknown[]) => JSON.stringify({ events }, null, 3);

interface Harness {
  app: FastifyInstance;
  store: EventStore;
  metrics: ActivityMetrics;
  logs: string[];
  post(body: string, options?: { token?: string | null; path?: string; contentType?: string }): Promise<LightMyRequestResponse>;
}

const open: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of open.splice(0)) await close();
});

async function harness(
  options: { store?: EventStore; batcher?: Partial<ConstructorParameters<typeof IntakeBatcher>[0]>; maxBytes?: number } = {},
): Promise<Harness> {
  const store = options.store ?? (await openEventStore('sqlite::memory:'));
  const metrics = new ActivityMetrics();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const batcher = new IntakeBatcher({ store, maxBatch: 64, maxDelayMs: 0, maxPending: 1000, onWrite: (w) => metrics.batchWritten(w), ...options.batcher });
  const app = await buildEventsApp({
    activityKey: KEY,
    batcher,
    metrics,
    logger: pino(loggerOptions('info'), sink),
    ...(options.maxBytes === undefined ? {} : { limits: { maxEvents: 256, maxBytes: options.maxBytes } }),
  });
  open.push(async () => {
    await app.close();
    await batcher.close();
    await store.close();
  });
  return {
    app,
    store,
    metrics,
    logs,
    post: (body, o = {}) =>
      app.inject({
        method: 'POST',
        url: o.path ?? '/events/registry/main',
        headers: { 'content-type': o.contentType ?? V2, ...(o.token === null ? {} : { authorization: `Bearer ${o.token ?? TOKEN}` }) },
        payload: body,
      }),
  };
}

const storedIds = async (store: EventStore, registry = 'registry/main') => (await store.query({ registry })).map((e) => e.id).sort();

describe('intake: deliveries that are stored', () => {
  it('a v3 envelope with the Registry token: 200 after commit, stored under the Registry from the path', async () => {
    const h = await harness();
    const res = await h.post(envelope(manifestPush('e1')));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ accepted: 1, ignored: 0 });
    expect(await h.store.query({ registry: 'registry/main' })).toMatchObject([
      { id: 'e1', registry: 'registry/main', action: 'push', repository: 'team/app', tag: '1', digest: DIGEST, actor: 'alice', requestId: 'req-e1' },
    ]);
  });

  it('a 2.8 envelope (events.v1+json) and a plain application/json one are taken too', async () => {
    const h = await harness();
    expect((await h.post(envelope(manifestPush('e1')), { contentType: V1 })).statusCode).toBe(200);
    expect((await h.post(envelope(manifestPush('e2')), { contentType: 'application/json; charset=utf-8' })).statusCode).toBe(200);
    expect(await storedIds(h.store)).toEqual(['e1', 'e2']);
  });

  it('the same envelope delivered twice is stored once and counted as a duplicate', async () => {
    const h = await harness();
    const body = envelope(manifestPush('e1'));
    expect((await h.post(body)).statusCode).toBe(200);
    expect((await h.post(body)).statusCode).toBe(200);
    expect(await storedIds(h.store)).toEqual(['e1']);
    const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain('portcullis_activity_registry_events_total{registry="registry/main",action="push",outcome="stored"} 1');
    expect(metrics.body).toContain('portcullis_activity_registry_events_total{registry="registry/main",action="push",outcome="duplicate"} 1');
    expect(metrics.body).toContain('portcullis_activity_intake_requests_total{outcome="accepted"} 2');
  });

  it('blob events are answered 200 and not stored', async () => {
    const h = await harness();
    const blob = {
      ...manifestPush('b1'),
      target: { ...manifestPush('b1').target, mediaType: 'application/octet-stream', url: `https://localhost:5000/v2/team/app/blobs/${DIGEST}` },
    };
    const res = await h.post(envelope(blob));
    expect(res.json()).toEqual({ accepted: 0, ignored: 1 });
    expect(await storedIds(h.store)).toEqual([]);
  });
});

describe('intake: refusals change nothing', () => {
  const unauthorized = { error: 'UNAUTHORIZED', message: 'a valid notification token for this Registry is required' };

  it.each([
    ['no Authorization header', { token: null }],
    ['a wrong token', { token: notificationToken(Buffer.from('another key, also thirty-two bytes long!'), MAIN) }],
    ['the token of another Registry', { token: notificationToken(KEY, { namespace: 'registry', name: 'other' }) }],
    ['the right token on another Registry path', { path: '/events/team-a/main' }],
    ['a path that cannot name a Registry', { path: '/events/Registry/main', token: notificationToken(KEY, { namespace: 'Registry', name: 'main' }) }],
    ['Basic instead of Bearer', { token: null, basic: true }],
  ])('%s: 401, the same body, nothing stored', async (_name, o: { token?: string | null; path?: string; basic?: boolean }) => {
    const h = await harness();
    const res = o.basic
      ? await h.app.inject({
          method: 'POST',
          url: '/events/registry/main',
          headers: { 'content-type': V2, authorization: `Basic ${TOKEN}` },
          payload: envelope(manifestPush('e1')),
        })
      : await h.post(envelope(manifestPush('e1')), o);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual(unauthorized);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(await storedIds(h.store)).toEqual([]);
    expect(await storedIds(h.store, 'team-a/main')).toEqual([]);
  });

  it('a wrong token is refused before the body is read: an oversized body still gets 401', async () => {
    const h = await harness({ maxBytes: 1024 });
    const res = await h.post('x'.repeat(4096), { token: 'wrong' });
    expect(res.statusCode).toBe(401);
  });

  it('an envelope with one bad event among good ones: 400 naming the field, none of it stored, a log line without the token', async () => {
    const h = await harness();
    const bad = { ...manifestPush('e2'), target: { ...manifestPush('e2').target, repository: 'Not/Valid' } };
    const res = await h.post(envelope(manifestPush('e1'), bad, manifestPush('e3')));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: 'MALFORMED_ENVELOPE',
      message: 'malformed notification envelope; nothing of it was stored',
      reason: 'events[1].target.repository: not a repository name',
    });
    expect(await storedIds(h.store)).toEqual([]);
    const line = h.logs.find((l) => l.includes('notification envelope refused'));
    expect(line).toContain('events[1].target.repository: not a repository name');
    expect(line).toContain('registry/main');
    expect(h.logs.join('')).not.toContain(TOKEN);
  });

  it('a body that is not JSON: 400', async () => {
    const h = await harness();
    const res = await h.post('{"events": [');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'MALFORMED_ENVELOPE', reason: 'body is not JSON' });
  });

  it('a body over the limit: 413', async () => {
    const h = await harness({ maxBytes: 1024 });
    const res = await h.post(envelope(manifestPush('e1'), manifestPush('e2'), manifestPush('e3')));
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({ error: 'TOO_LARGE', message: 'notification envelope too large' });
    expect(await storedIds(h.store)).toEqual([]);
  });

  it('a Content-Type other than the events types or JSON: 415', async () => {
    const h = await harness();
    const res = await h.post(envelope(manifestPush('e1')), { contentType: 'text/plain' });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ error: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(await storedIds(h.store)).toEqual([]);
  });

  it('unknown paths: 404 JSON', async () => {
    const h = await harness();
    const res = await h.app.inject({ method: 'POST', url: '/events/registry', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'NOT_FOUND' });
  });
});

/** A store whose append fails, or waits until released; nothing else is ever called. */
class FailingStore {
  appended = 0;
  private held: (() => void)[] = [];
  constructor(private readonly mode: 'fail' | 'hold') {}
  append(events: readonly RegistryEvent[]): Promise<number> {
    this.appended += events.length;
    if (this.mode === 'fail') return Promise.reject(new Error('SQLITE_FULL: database or disk is full'));
    return new Promise((resolve) => this.held.push(() => resolve(events.length)));
  }
  release(): void {
    for (const r of this.held.splice(0)) r();
  }
  async close(): Promise<void> {
    this.release();
  }
}

describe('intake: when the store cannot take the events (Distribution retries a 503)', () => {
  it('a failed write: 503 with Retry-After, and the reason in the log', async () => {
    const store = new FailingStore('fail');
    const h = await harness({ store: store as unknown as EventStore });
    const res = await h.post(envelope(manifestPush('e1')));
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json()).toEqual({ error: 'STORE_FAILED', message: 'the event store did not commit the events; retry shortly' });
    expect(h.logs.join('')).toContain('SQLITE_FULL');
  });

  it('a full queue: 503 at once, while the earlier delivery waits for its commit', async () => {
    const store = new FailingStore('hold');
    const h = await harness({ store: store as unknown as EventStore, batcher: { maxBatch: 1, maxPending: 1 } });
    const first = h.post(envelope(manifestPush('e1')));
    await new Promise((r) => setImmediate(r));
    const second = await h.post(envelope(manifestPush('e2')));
    expect(second.statusCode).toBe(503);
    expect(second.json()).toEqual({ error: 'BUSY', message: 'intake is busy or shutting down; retry shortly' });
    store.release();
    expect((await first).statusCode).toBe(200);
    expect(store.appended).toBe(1);
  });
});

describe('events listener: health and metrics', () => {
  it('GET /healthz answers ok; GET /metrics serves the activity metrics', async () => {
    const h = await harness();
    expect((await h.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    await h.post('nope', { token: 'wrong' });
    const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.body).toContain('portcullis_activity_intake_requests_total{outcome="unauthorized"} 1');
    expect(metrics.body).toContain('portcullis_activity_batch_write_duration_seconds');
    expect(metrics.body).toContain('portcullis_activity_intake_lag_seconds');
  });
});
