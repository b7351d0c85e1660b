// `npm run bench` (part, BENCH_ONLY=activity): the activity trail's store.
//
// (a) Intake into SQLite over HTTP as Distribution delivers it: autocannon posts real-shaped v3
//     notification envelopes (one event each, a fresh id every time) to the events listener in a process
//     of its own (activity-intake-server.ts: intake route, group-commit batcher, SQLite store with
//     synchronous=FULL). Once at 2,000 events/s offered, once as fast as it goes. Target: 2,000 events/s
//     sustained with p99 under 50 ms. Beside it, in this process, on the same database: store.append
//     and, as the baseline, raw better-sqlite3 inserts of the same rows, one transaction per batch of
//     the size the batcher made at full speed (time to commit only). Afterwards the database must hold
//     every event answered 200. Run twice: into an empty database, and into the one (b) filled with
//     1,000,000 events (a store in service: every insert updates large indexes).
// (b) Queries over 1,000,000 stored events in SQLite, and PostgreSQL when installed (activity-query.ts).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { openEventStore } from '../activity/store/open.js';
import { EVENTS_TABLE, INSERT_COLUMNS, insertValues, toInsertRows } from '../activity/store/rows.js';
import { notificationToken } from '../wire/notification-token.js';
import { random } from '../local/seeded-random.js';
import { distributionEnvelope, storeEvents } from './activity-fixture.js';
import { postgresQueryBench, sqliteQueryBench } from './activity-query.js';
import { percentile, row, type Start } from './measure.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const TARGET_RATE = 2000;
const FULL_SPEED_CONNECTIONS = 64;
const REGISTRY = { namespace: 'bench', name: 'main' };

interface IntakeRun {
  eventsPerSecond: number;
  p50: number;
  p99: number;
  accepted: number;
  refused: number;
  batches: number;
  /** The event ids of the deliveries answered 200. */
  answeredIds: string[];
}

/** Reads a counter's total (all label sets) from a Prometheus text exposition. */
function counter(text: string, name: string, labelMatch = ''): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || !line.includes(labelMatch)) continue;
    const m = /^[^\s{]+(?:\{[^}]*\})?\s+([0-9.e+-]+)$/.exec(line);
    if (m) total += Number(m[1]);
  }
  return total;
}

async function intakeRun(port: number, token: string, connections: number, overallRate: number | undefined): Promise<IntakeRun> {
  const metricsBefore = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const next = random(connections + (overallRate ?? 0));
  const answeredIds: string[] = [];
  // A connection sends one request at a time: its context holds the id of the event it is waiting on.
  type Context = { id?: string };
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: DURATION,
    ...(overallRate === undefined ? {} : { overallRate }),
    requests: [
      {
        method: 'POST',
        path: `/events/${REGISTRY.namespace}/${REGISTRY.name}`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.docker.distribution.events.v2+json' },
        setupRequest: (request, context: Context) => {
          const envelope = distributionEnvelope(next);
          context.id = envelope.id;
          return { ...request, body: envelope.body };
        },
        onResponse: (status, _body, context: Context) => {
          if (status === 200 && context.id !== undefined) answeredIds.push(context.id);
        },
      },
    ],
  });
  const metricsAfter = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const batches = (text: string): number => counter(text, 'portcullis_activity_batch_write_duration_seconds_count', 'result="ok"');
  return {
    eventsPerSecond: result['2xx'] / DURATION,
    p50: result.latency.p50,
    p99: result.latency.p99,
    accepted: result['2xx'],
    refused: result.non2xx + result.errors + result.timeouts,
    batches: batches(metricsAfter) - batches(metricsBefore),
    answeredIds,
  };
}

interface WriteRun {
  eventsPerSecond: number;
  p50: number;
  p99: number;
}

/** Writes `batches` batches of `batchSize` events made by `make` (untimed) with `write` (timed, per commit). */
async function writeRun<T>(batches: number, make: (batch: number) => T, write: (batch: T) => unknown): Promise<WriteRun> {
  const latencies: number[] = [];
  let events = 0;
  for (let i = 0; i < batches; i++) {
    const batch = make(i);
    const t0 = performance.now();
    await write(batch);
    latencies.push(performance.now() - t0);
    events += Array.isArray(batch) ? batch.length : 0;
  }
  const seconds = latencies.reduce((a, b) => a + b, 0) / 1000;
  return { eventsPerSecond: events / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

const freshEvents = (next: () => number, prefix: string, batchSize: number) => (batch: number) =>
  storeEvents(next, 'bench/main', prefix, batch * batchSize, batchSize, Date.now(), Date.now() + 1000);

/** Raw better-sqlite3 on the store's file, with its pragmas: a prepared insert, one transaction per batch. */
async function rawSqliteRun(path: string, batches: number, batchSize: number): Promise<WriteRun> {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const insert = db.prepare(
    `INSERT INTO ${EVENTS_TABLE} (${INSERT_COLUMNS.join(', ')}) VALUES (${INSERT_COLUMNS.map(() => '?').join(', ')}) ON CONFLICT (registry, id) DO NOTHING`,
  );
  const tx = db.transaction((rows: unknown[][]) => {
    for (const values of rows) insert.run(values);
  });
  const events = freshEvents(random(7), 'raw', batchSize);
  try {
    return await writeRun(
      batches,
      (n) => toInsertRows(events(n), new Date()).map((r) => insertValues(r, (ms) => ms)),
      (rows) => tx(rows),
    );
  } finally {
    db.close();
  }
}

async function storeAppendRun(path: string, batches: number, batchSize: number): Promise<WriteRun> {
  const store = await openEventStore(`sqlite:${path}`);
  try {
    return await writeRun(batches, freshEvents(random(8), 'append', batchSize), (events) => store.append(events));
  } finally {
    await store.close();
  }
}

async function intakeBench(dir: string, dbPath: string, print: (s: string) => void, start: Start, serverScript: string): Promise<void> {
  const key = randomBytes(32);
  const keyFile = join(dir, 'activity.key');
  await writeFile(keyFile, key, { mode: 0o600 });
  const token = notificationToken(key, REGISTRY);
  const before = (await storedIds(dbPath)).size;
  const server = await start([serverScript, dbPath, keyFile], /activity intake listening on 127\.0\.0\.1:(\d+)/);
  let atRate: IntakeRun;
  let fullSpeed: IntakeRun;
  try {
    // Sanity: a real envelope is accepted and stored (a fast refusal would flatter the figures).
    const check = await fetch(`http://127.0.0.1:${server.port}/events/${REGISTRY.namespace}/${REGISTRY.name}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.docker.distribution.events.v2+json' },
      body: distributionEnvelope(random(1)).body,
    });
    const body = (await check.json()) as { accepted?: number };
    if (check.status !== 200 || body.accepted !== 1) throw new Error(`intake sanity check failed: ${check.status} ${JSON.stringify(body)}`);
    atRate = await intakeRun(server.port, token, 50, TARGET_RATE);
    fullSpeed = await intakeRun(server.port, token, FULL_SPEED_CONNECTIONS, undefined);
  } finally {
    await server.stop();
  }
  // autocannon stops with requests in flight: those may be stored unanswered, never answered unstored.
  const stored = await storedIds(dbPath);
  const answered = [...atRate.answeredIds, ...fullSpeed.answeredIds];
  const lost = answered.filter((id) => !stored.has(id)).length;
  if (lost > 0 || answered.length !== atRate.accepted + fullSpeed.accepted) {
    throw new Error(`intake lost events: ${lost} of ${answered.length} answered 200 are not stored`);
  }

  const batchSize = Math.max(1, Math.round(fullSpeed.accepted / Math.max(1, fullSpeed.batches)));
  const batches = Math.max(100, fullSpeed.batches);
  const raw = await rawSqliteRun(dbPath, batches, batchSize);
  const append = await storeAppendRun(dbPath, batches, batchSize);
  const avgBatch = (r: IntakeRun): string => (r.accepted / Math.max(1, r.batches)).toFixed(1);
  print('');
  print(
    `activity intake into SQLite (WAL, synchronous=FULL) holding ${before.toLocaleString('en')} events: ${DURATION} s per HTTP run; all ${answered.length} events answered 200 are stored`,
  );
  print(row(['workload', 'events/s', 'p50 ms', 'p99 ms', 'batch (avg)', 'non-2xx', 'x baseline']));
  print(row([`  baseline (better-sqlite3, tx/batch)`, raw.eventsPerSecond.toFixed(0), raw.p50.toFixed(2), raw.p99.toFixed(2), batchSize, '-', '1.00']));
  print(
    row([
      'store.append, same batches',
      append.eventsPerSecond.toFixed(0),
      append.p50.toFixed(2),
      append.p99.toFixed(2),
      batchSize,
      '-',
      (append.eventsPerSecond / raw.eventsPerSecond).toFixed(2),
    ]),
  );
  print(
    row([`HTTP intake, ${TARGET_RATE}/s offered (50 conn)`, atRate.eventsPerSecond.toFixed(0), atRate.p50, atRate.p99, avgBatch(atRate), atRate.refused, '-']),
  );
  print(
    row([
      `HTTP intake, full speed (${FULL_SPEED_CONNECTIONS} conn)`,
      fullSpeed.eventsPerSecond.toFixed(0),
      fullSpeed.p50,
      fullSpeed.p99,
      avgBatch(fullSpeed),
      fullSpeed.refused,
      (fullSpeed.eventsPerSecond / raw.eventsPerSecond).toFixed(2),
    ]),
  );
  const met = atRate.eventsPerSecond >= TARGET_RATE * 0.98 && atRate.p99 < 50 && atRate.refused === 0;
  print(
    `target (${TARGET_RATE} events/s sustained, p99 < 50 ms): ${met ? 'met' : 'NOT met'}; latency is the HTTP round trip, commit included; the baseline and store.append rows time the commit alone`,
  );
}

async function storedIds(path: string): Promise<Set<string>> {
  const db = new Database(path, { readonly: true });
  try {
    return new Set(db.prepare('SELECT id FROM activity_events').pluck().all() as string[]);
  } finally {
    db.close();
  }
}

export async function runActivityBench(print: (s: string) => void, start: Start, benchDir: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-activity-bench-'));
  try {
    const serverScript = join(benchDir, 'activity-intake-server.js');
    const fresh = join(dir, 'fresh.db');
    await (await openEventStore(`sqlite:${fresh}`)).close();
    await intakeBench(dir, fresh, print, start, serverScript);
    const filled = join(dir, 'events.db');
    await sqliteQueryBench(filled, print);
    await intakeBench(dir, filled, print, start, serverScript);
    await postgresQueryBench(print);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
