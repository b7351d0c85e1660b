// The SQLite event store (better-sqlite3): one file beside one activity replica, the default.
//
// Durability: WAL journal with synchronous=FULL, so every commit is fsynced before append() resolves.
// Intake answers Distribution 200 only after its events are committed, and Distribution does not send
// an answered event again: with synchronous=NORMAL a power loss or kernel crash could drop the last
// commits that were already answered, and the audit trail would silently miss them. The price, one
// fsync per commit, is paid per batch, not per event, because intake group-commits. WAL lets queries
// read while a commit is written; busy_timeout makes a second writer (a CLI, another process on the
// same file) wait for the lock instead of failing at once.

import Database from 'better-sqlite3';
import type { EventStore } from '../event.js';
import { type SqlParam } from './query.js';
import { CURSORS_TABLE, EVENTS_TABLE, INSERT_COLUMNS, insertValues, type InsertRow } from './rows.js';
import { pendingSchemaSteps, SCHEMA_VERSION_TABLE } from './schema-version.js';
import { SqlEventStore, type SqlConnection, type SqlEventStoreOptions } from './sql-store.js';

const BUSY_TIMEOUT_MS = 5000;

/** Each step moves the layout one version on; the last step's number is the current version. */
export const SQLITE_SCHEMA: readonly (readonly string[])[] = [
  [
    // AUTOINCREMENT: a seq is never handed out twice, even after the newest rows were pruned, so a
    // webhook cursor can never point at a later, different event.
    `CREATE TABLE ${EVENTS_TABLE} (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      registry TEXT NOT NULL,
      id TEXT NOT NULL,
      action TEXT NOT NULL,
      repository TEXT NOT NULL,
      tag TEXT,
      digest TEXT,
      media_type TEXT,
      size INTEGER,
      actor TEXT,
      source_addr TEXT,
      request_id TEXT,
      ts INTEGER NOT NULL,
      received_at INTEGER NOT NULL,
      UNIQUE (registry, id)
    ) STRICT`,
    // The time-ordered indexes hold ts, seq explicitly (seq is the rowid: the others end in it
    // implicitly), so ORDER BY ts DESC, seq DESC is read off the index and LIMIT stops the walk early.
    // They carry repository too: a tenant's range (within) is checked on the index entry, and only the
    // rows it keeps are read.
    `CREATE INDEX ${EVENTS_TABLE}_registry_ts ON ${EVENTS_TABLE} (registry, ts, seq, repository)`,
    `CREATE INDEX ${EVENTS_TABLE}_registry_actor_ts ON ${EVENTS_TABLE} (registry, actor, ts, seq, repository)`,
    `CREATE INDEX ${EVENTS_TABLE}_registry_repository_ts ON ${EVENTS_TABLE} (registry, repository, ts)`,
    // "Who pulled this digest?": without it, a digest seen rarely means reading the whole registry.
    `CREATE INDEX ${EVENTS_TABLE}_registry_digest_ts ON ${EVENTS_TABLE} (registry, digest, ts)`,
    // Retention by age runs across all registries.
    `CREATE INDEX ${EVENTS_TABLE}_ts ON ${EVENTS_TABLE} (ts)`,
    `CREATE TABLE ${CURSORS_TABLE} (key TEXT PRIMARY KEY, seq INTEGER NOT NULL) STRICT`,
  ],
];

const bind = (params: readonly SqlParam[]): (string | number | null)[] => params.map((p) => (p instanceof Date ? p.getTime() : p));

const msTime = (ms: number): number => ms;

/** Statements are prepared once per distinct SQL text (a query's shape), up to this many. */
const MAX_CACHED_STATEMENTS = 200;

class SqliteConnection implements SqlConnection {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly insertRows: Database.Transaction<(rows: readonly InsertRow[]) => number>;

  constructor(private readonly db: Database.Database) {
    const insert = db.prepare(
      `INSERT INTO ${EVENTS_TABLE} (${INSERT_COLUMNS.join(', ')}) VALUES (${INSERT_COLUMNS.map(() => '?').join(', ')}) ON CONFLICT (registry, id) DO NOTHING`,
    );
    this.insertRows = db.transaction((rows: readonly InsertRow[]) => {
      let added = 0;
      for (const row of rows) added += insert.run(insertValues(row, msTime)).changes;
      return added;
    });
  }

  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      if (this.statements.size >= MAX_CACHED_STATEMENTS) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  async all<R>(sql: string, params: readonly SqlParam[]): Promise<R[]> {
    return this.statement(sql).all(bind(params)) as R[];
  }

  async run(sql: string, params: readonly SqlParam[]): Promise<number> {
    return this.statement(sql).run(bind(params)).changes;
  }

  async insert(rows: readonly InsertRow[]): Promise<number> {
    // BEGIN IMMEDIATE: take the write lock first, so a busy database is waited for (busy_timeout)
    // rather than failing halfway through the transaction.
    return this.insertRows.immediate(rows);
  }

  async close(): Promise<void> {
    // Lets SQLite refresh the planner's statistics on tables that changed a lot (cheap, bounded).
    this.db.pragma('optimize');
    this.db.close();
  }
}

function migrate(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS ${SCHEMA_VERSION_TABLE} (version INTEGER NOT NULL) STRICT`);
  const apply = db.transaction(() => {
    const row = db.prepare(`SELECT max(version) AS version FROM ${SCHEMA_VERSION_TABLE}`).get() as { version: number | null };
    const steps = pendingSchemaSteps(row.version ?? 0, SQLITE_SCHEMA);
    if (steps.length === 0) return;
    for (const step of steps) for (const statement of step) db.exec(statement);
    db.exec(`DELETE FROM ${SCHEMA_VERSION_TABLE}`);
    db.prepare(`INSERT INTO ${SCHEMA_VERSION_TABLE} (version) VALUES (?)`).run(SQLITE_SCHEMA.length);
  });
  apply.immediate();
}

/** Opens (creating when missing) the SQLite event store at `path`, or in memory for ':memory:'. */
export async function openSqliteEventStore(path: string, options: SqlEventStoreOptions = {}): Promise<EventStore> {
  const db = new Database(path);
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    // After a checkpoint, a WAL grown by a burst (a big prune) is cut back instead of keeping its size.
    db.pragma('journal_size_limit = 67108864');
    migrate(db);
    return new SqlEventStore(new SqliteConnection(db), options);
  } catch (error) {
    db.close();
    throw error;
  }
}
