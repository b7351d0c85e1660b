// The PostgreSQL event store (pg Pool): for several activity replicas sharing one database.
//
// Appends take a transaction-scoped advisory lock, so they commit one at a time in the order their seq
// values were drawn. Without it, two replicas could draw seq 10 and 11 and commit 11 first; a webhook
// reading after(9) at that moment would move its cursor to 11 and never see 10. Intake group-commits,
// so this serialises batches, not events.

import pg from 'pg';
import type { EventStore } from '../event.js';
import type { SqlParam } from './query.js';
import { CURSORS_TABLE, EVENTS_TABLE, INSERT_COLUMNS, insertValues, type InsertRow } from './rows.js';
import { pendingSchemaSteps, SCHEMA_VERSION_TABLE } from './schema-version.js';
import { SqlEventStore, type SqlConnection, type SqlEventStoreOptions } from './sql-store.js';

/** pg_advisory_xact_lock(class, id): the class is "port" in ASCII; ids tell the two locks apart. */
const LOCK_CLASS = 0x706f7274;
const MIGRATE_LOCK = 1;
const APPEND_LOCK = 2;

export const POSTGRES_SCHEMA: readonly (readonly string[])[] = [
  [
    // repository is compared in "C" (byte) order whatever the database's locale, so a tenant's prefix
    // range (repository-prefilter.ts) is exact and walks the index.
    `CREATE TABLE ${EVENTS_TABLE} (
      seq bigserial PRIMARY KEY,
      registry text NOT NULL,
      id text NOT NULL,
      action text NOT NULL,
      repository text COLLATE "C" NOT NULL,
      tag text,
      digest text,
      media_type text,
      size bigint,
      actor text,
      source_addr text,
      request_id text,
      ts timestamptz NOT NULL,
      received_at timestamptz NOT NULL,
      UNIQUE (registry, id)
    )`,
    // Each index ends in (ts, seq): the query's ORDER BY ts DESC, seq DESC is read off the index. The
    // time-ordered ones include repository, so the query's first step (the page's seqs) is an
    // index-only scan that checks a tenant's range without visiting the rows it rejects.
    `CREATE INDEX ${EVENTS_TABLE}_registry_ts ON ${EVENTS_TABLE} (registry, ts, seq) INCLUDE (repository)`,
    `CREATE INDEX ${EVENTS_TABLE}_registry_actor_ts ON ${EVENTS_TABLE} (registry, actor, ts, seq) INCLUDE (repository)`,
    `CREATE INDEX ${EVENTS_TABLE}_registry_repository_ts ON ${EVENTS_TABLE} (registry, repository, ts, seq)`,
    `CREATE INDEX ${EVENTS_TABLE}_registry_digest_ts ON ${EVENTS_TABLE} (registry, digest, ts, seq)`,
    `CREATE INDEX ${EVENTS_TABLE}_ts ON ${EVENTS_TABLE} (ts)`,
    `CREATE TABLE ${CURSORS_TABLE} (key text PRIMARY KEY, seq bigint NOT NULL)`,
  ],
];

const COLUMN_TYPES: Record<(typeof INSERT_COLUMNS)[number], string> = {
  registry: 'text',
  id: 'text',
  action: 'text',
  repository: 'text',
  tag: 'text',
  digest: 'text',
  media_type: 'text',
  size: 'bigint',
  actor: 'text',
  source_addr: 'text',
  request_id: 'text',
  ts: 'timestamptz',
  received_at: 'timestamptz',
};

// One statement for any batch size: each column travels as one array parameter.
const INSERT = `INSERT INTO ${EVENTS_TABLE} (${INSERT_COLUMNS.join(', ')})
  SELECT * FROM unnest(${INSERT_COLUMNS.map((c, i) => `$${i + 1}::${COLUMN_TYPES[c]}[]`).join(', ')})
  ON CONFLICT (registry, id) DO NOTHING`;

/** `?` placeholders as PostgreSQL's `$1, $2, ...` (the shared SQL has no `?` anywhere else). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

const isoTime = (ms: number): string => new Date(ms).toISOString();

/** Runs `work` in a transaction on one pooled client; a client whose transaction failed is discarded. */
async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    client.release();
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release(true);
    throw error;
  }
}

class PostgresConnection implements SqlConnection {
  constructor(private readonly pool: pg.Pool) {}

  async all<R>(sql: string, params: readonly SqlParam[]): Promise<R[]> {
    const result = await this.pool.query(numbered(sql), [...params]);
    return result.rows as R[];
  }

  async run(sql: string, params: readonly SqlParam[]): Promise<number> {
    const result = await this.pool.query(numbered(sql), [...params]);
    return result.rowCount ?? 0;
  }

  async insert(rows: readonly InsertRow[]): Promise<number> {
    const columns: unknown[][] = INSERT_COLUMNS.map(() => []);
    for (const row of rows) insertValues(row, isoTime).forEach((value, i) => (columns[i] as unknown[]).push(value));
    return inTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, APPEND_LOCK]);
      const result = await client.query(INSERT, columns);
      return result.rowCount ?? 0;
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Creates the tables, or brings them to this release's version; replicas opening at once take turns. */
async function migrate(pool: pg.Pool): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, MIGRATE_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS ${SCHEMA_VERSION_TABLE} (version integer NOT NULL)`);
    const found = await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${SCHEMA_VERSION_TABLE}`);
    const steps = pendingSchemaSteps(found.rows[0]?.version ?? 0, POSTGRES_SCHEMA);
    if (steps.length === 0) return;
    for (const step of steps) for (const statement of step) await client.query(statement);
    await client.query(`DELETE FROM ${SCHEMA_VERSION_TABLE}`);
    await client.query(`INSERT INTO ${SCHEMA_VERSION_TABLE} (version) VALUES ($1)`, [POSTGRES_SCHEMA.length]);
  });
}

/** The URL without its password or query (which may carry one): safe in an error message. */
export function describePostgresUrl(url: URL): string {
  const user = url.username === '' ? '' : `${url.username}@`;
  return `${url.protocol}//${user}${url.host}${url.pathname}`;
}

/** `message` with every form of `secret` in it replaced. */
function scrub(message: string, secrets: readonly string[]): string {
  return secrets.filter((s) => s !== '').reduce((m, s) => m.split(s).join('***'), message);
}

/** Opens the PostgreSQL event store at a postgres:// or postgresql:// URL, creating its tables. */
export async function openPostgresEventStore(url: string, options: SqlEventStoreOptions = {}): Promise<EventStore> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('the PostgreSQL event store URL is not a valid URL (expected postgres://user:password@host:port/database)');
  }
  const secrets = [parsed.password, safeDecode(parsed.password), parsed.search];
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 10_000, application_name: 'portcullis-activity' });
  // An idle pooled connection that breaks (a database restart) is dropped by pg and replaced on the next
  // query, which reports the failure itself; without a listener the event would end the process.
  pool.on('error', () => undefined);
  try {
    await migrate(pool);
  } catch (error) {
    await pool.end().catch(() => undefined);
    const reason = error instanceof Error ? error.message : String(error);
    // No `cause`: the driver's error may carry connection details, and whatever logs this error logs its cause.
    // eslint-disable-next-line preserve-caught-error
    throw new Error(`could not open the PostgreSQL event store at ${describePostgresUrl(parsed)}: ${scrub(reason, secrets)}`);
  }
  return new SqlEventStore(new PostgresConnection(pool), options);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
