// `npm run bench` (activity part a): queries over 1,000,000 stored events, 30 days of one registry's
// traffic (50 users, 2,000 repositories in 50 teams), filled through store.append in 10,000-event
// transactions. Timed, each over many runs with the user, repository or team changing every run:
//   by user, last 24 h      query({registry, actor, since: 24 h ago, limit: 500})
//   by repository           query({registry, repository, limit: 500})
//   by tenant prefix        query({registry, within: ['team-N/**'], limit: 500}), and over the last 24 h
// Target p99 under 100 ms. Baseline: the same SQL statement (eventQuerySql) run directly on the
// database handle — better-sqlite3, or a single pg client — so the ratio is the store's own cost
// (object mapping, the exact `within` check). PostgreSQL (local/postgres.ts) when it is installed.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { EventQuery, EventStore } from '../activity/event.js';
import { openEventStore } from '../activity/store/open.js';
import { checkQuery, eventQuerySql, type SqlParam } from '../activity/store/query.js';
import { POSTGRES_BIN, startPostgres } from '../local/postgres.js';
import { random } from '../local/seeded-random.js';
import { repositoryName, storeEvents, teamPrefix, userName } from './activity-fixture.js';
import { median, percentile, row } from './measure.js';

const TOTAL = Number(process.env.BENCH_ACTIVITY_EVENTS ?? 1_000_000);
const FILL_BATCH = 10_000;
const RUNS = 200;
const WARMUP = 20;
const REGISTRY = 'bench/main';
const DAY = 86_400_000;

interface Workload {
  name: string;
  query: (run: number, now: number) => EventQuery;
}

const WORKLOADS: Workload[] = [
  { name: 'by user, last 24 h', query: (i, now) => ({ registry: REGISTRY, actor: userName(i * 7), since: new Date(now - DAY), limit: 500 }) },
  { name: 'by repository', query: (i) => ({ registry: REGISTRY, repository: repositoryName(i * 37), limit: 500 }) },
  { name: 'by tenant prefix (team-N/**)', query: (i) => ({ registry: REGISTRY, within: [`${teamPrefix(i * 3)}/**`], limit: 500 }) },
  {
    name: 'by tenant prefix, last 24 h',
    query: (i, now) => ({ registry: REGISTRY, within: [`${teamPrefix(i * 3)}/**`], since: new Date(now - DAY), limit: 500 }),
  },
];

interface Timing {
  p50: number;
  p99: number;
  rows: number;
}

async function time(run: (i: number) => Promise<number>): Promise<Timing> {
  for (let i = 0; i < WARMUP; i++) await run(i);
  const ms: number[] = [];
  const rows: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    rows.push(await run(i));
    ms.push(performance.now() - t0);
  }
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), rows: median(rows) };
}

async function fill(store: EventStore, now: number): Promise<number> {
  const next = random(42);
  const from = now - 30 * DAY;
  const step = (now - from) / TOTAL;
  const started = performance.now();
  for (let first = 0; first < TOTAL; first += FILL_BATCH) {
    const count = Math.min(FILL_BATCH, TOTAL - first);
    const added = await store.append(storeEvents(next, REGISTRY, 'fill', first, count, from + first * step, from + (first + count) * step));
    if (added !== count) throw new Error(`fill: ${added} of ${count} events stored`);
  }
  return (performance.now() - started) / 1000;
}

/** Times every workload on the store and, as the baseline, its SQL on `direct`; prints a row for each. */
async function compare(
  label: string,
  store: EventStore,
  direct: (sql: string, params: SqlParam[]) => Promise<number>,
  now: number,
  print: (s: string) => void,
) {
  print(row(['query', 'p50 ms', 'p99 ms', 'rows', 'x baseline', 'baseline p50', 'baseline p99']));
  let worstP99 = 0;
  for (const w of WORKLOADS) {
    const base = await time((i) => {
      const { sql, params } = eventQuerySql(checkQuery(w.query(i, now)), 500);
      return direct(sql, params);
    });
    const measured = await time(async (i) => (await store.query(w.query(i, now))).length);
    worstP99 = Math.max(worstP99, measured.p99);
    print(
      row([
        `${label}: ${w.name}`,
        measured.p50.toFixed(2),
        measured.p99.toFixed(2),
        measured.rows,
        (measured.p50 / base.p50).toFixed(2),
        base.p50.toFixed(2),
        base.p99.toFixed(2),
      ]),
    );
  }
  print(`${label} target (p99 < 100 ms for every query): ${worstP99 < 100 ? 'met' : 'NOT met'} (worst p99 ${worstP99.toFixed(1)} ms)`);
}

/** Fills the SQLite store at `path` and times the queries on it; the file stays for the intake bench. */
export async function sqliteQueryBench(path: string, print: (s: string) => void): Promise<void> {
  const now = Date.now();
  const store = await openEventStore(`sqlite:${path}`);
  try {
    const seconds = await fill(store, now);
    print('');
    print(`activity queries over ${TOTAL.toLocaleString('en')} events in SQLite (filled in ${seconds.toFixed(1)} s, ${(TOTAL / seconds).toFixed(0)} events/s)`);
    const db = new Database(path, { readonly: true });
    const statements = new Map<string, Database.Statement>();
    try {
      await compare(
        'SQLite',
        store,
        async (sql, params) => {
          let statement = statements.get(sql);
          if (statement === undefined) statements.set(sql, (statement = db.prepare(sql)));
          return statement.all(params.map((p) => (p instanceof Date ? p.getTime() : p))).length;
        },
        now,
        print,
      );
    } finally {
      db.close();
    }
  } finally {
    await store.close();
  }
}

export async function postgresQueryBench(print: (s: string) => void): Promise<void> {
  print('');
  if (!existsSync(join(POSTGRES_BIN, 'postgres'))) {
    print(`activity queries in PostgreSQL: not measured (${POSTGRES_BIN}/postgres is not installed)`);
    return;
  }
  const postgres = await startPostgres();
  const now = Date.now();
  try {
    const store = await openEventStore(postgres.url);
    const client = new pg.Client({ connectionString: postgres.url });
    try {
      const seconds = await fill(store, now);
      // What autovacuum does soon after a bulk load: statistics for the planner, and the visibility map
      // that lets the query's first step read the index alone.
      await postgres.asSuperuser('activity', 'VACUUM ANALYZE activity_events');
      print(
        `activity queries over ${TOTAL.toLocaleString('en')} events in PostgreSQL 15, local, fsync off (filled in ${seconds.toFixed(1)} s, ${(TOTAL / seconds).toFixed(0)} events/s)`,
      );
      await client.connect();
      await compare(
        'PostgreSQL',
        store,
        async (sql, params) => {
          let n = 0;
          const numbered = sql.replace(/\?/g, () => `$${++n}`);
          return (await client.query(numbered, params)).rowCount ?? 0;
        },
        now,
        print,
      );
    } finally {
      await client.end().catch(() => undefined);
      await store.close();
    }
  } finally {
    await postgres.stop();
  }
}
