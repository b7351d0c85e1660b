// The EventStore both databases share: every operation but append is the same SQL on SQLite and on
// PostgreSQL, so it lives here once, over a small connection interface each store implements (`?`
// placeholders, Date parameters for times, and its own schema, append and close).

import type { EventQuery, EventStore, RegistryEvent, RetentionLimits, StoredEvent } from '../event.js';
import { matchRepository } from '../../policy/match.js';
import {
  checkQuery,
  checkWithin,
  eventQuerySql,
  matchesNothing,
  MAX_LIMIT,
  prefilterCondition,
  withinMatches,
  type PageStart,
  type SqlParam,
} from './query.js';
import { CURSORS_TABLE, epochMs, EVENTS_TABLE, SELECT_COLUMNS, toInsertRows, toStoredEvent, type EventRow, type InsertRow } from './rows.js';

export interface SqlConnection {
  /** The rows of a statement with `?` placeholders. */
  all<R>(sql: string, params: readonly SqlParam[]): Promise<R[]>;
  /** Runs one statement (its own transaction); returns how many rows it changed. */
  run(sql: string, params: readonly SqlParam[]): Promise<number>;
  /** Inserts the rows in one transaction, skipping (registry, id) already stored; returns how many were new. */
  insert(rows: readonly InsertRow[]): Promise<number>;
  close(): Promise<void>;
}

export interface SqlEventStoreOptions {
  /** The clock stamping receivedAt (tests pass their own). */
  now?: () => Date;
}

/** Rows removed per statement by prune: each is its own short transaction, so appends wait briefly. */
export const PRUNE_CHUNK = 2000;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** How many pages of rows `after` with `within` reads at most for one call. */
export const AFTER_SCAN_PAGES = 20;

export class SqlEventStore implements EventStore {
  private closed = false;
  private readonly now: () => Date;

  constructor(
    private readonly db: SqlConnection,
    options: SqlEventStoreOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
  }

  private open(): SqlConnection {
    if (this.closed) throw new Error('the event store is closed');
    return this.db;
  }

  async append(events: readonly RegistryEvent[]): Promise<number> {
    const db = this.open();
    const rows = toInsertRows(events, this.now());
    return rows.length === 0 ? 0 : db.insert(rows);
  }

  async query(query: EventQuery): Promise<StoredEvent[]> {
    const db = this.open();
    const q = checkQuery(query);
    if (matchesNothing(q)) return [];
    const found: StoredEvent[] = [];
    let pageSize = q.limit;
    let start: PageStart | undefined;
    // The SQL pre-filter of `within` may return rows the patterns do not match; keep reading older
    // pages until `limit` rows matched or the rows ran out.
    for (;;) {
      const { sql, params } = eventQuerySql(q, pageSize, start);
      const rows = await db.all<EventRow>(sql, params);
      for (const row of rows) {
        const event = toStoredEvent(row);
        if (!withinMatches(q, event.repository)) continue;
        found.push(event);
        if (found.length === q.limit) return found;
      }
      const last = rows[rows.length - 1];
      if (rows.length < pageSize || last === undefined) return found;
      start = { ts: new Date(epochMs(last.ts)), seq: Number(last.seq) };
      pageSize = Math.min(MAX_LIMIT, pageSize * 4);
    }
  }

  async after(registry: string, afterSeq: number, limit: number, within?: readonly string[]): Promise<StoredEvent[]> {
    const db = this.open();
    if (typeof registry !== 'string' || registry === '') throw new Error('after: registry is required');
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new Error('after: afterSeq must be a non-negative integer');
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new Error(`after: limit must be an integer from 1 to ${MAX_LIMIT}`);
    const checked = within === undefined ? undefined : checkWithin(within, 'after');
    if (checked?.prefilter?.length === 0) return [];
    const found: StoredEvent[] = [];
    let from = afterSeq;
    let scanned = 0;
    // As in query: the pre-filter may pass rows the patterns do not match (all of them for a pattern that
    // starts with a wildcard), so read on until `limit` matched, or AFTER_SCAN_PAGES pages were read: what
    // matched so far comes back short, as the end of the events would.
    for (;;) {
      const params: SqlParam[] = [registry, from];
      const condition = prefilterCondition(checked?.prefilter, params);
      params.push(limit);
      const rows = await db.all<EventRow>(
        `SELECT ${SELECT_COLUMNS} FROM ${EVENTS_TABLE} WHERE registry = ? AND seq > ?${condition === undefined ? '' : ` AND ${condition}`} ORDER BY seq LIMIT ?`,
        params,
      );
      for (const row of rows) {
        const event = toStoredEvent(row);
        if (checked !== undefined && !checked.patterns.some((p) => matchRepository(p, event.repository, {}).matched)) continue;
        found.push(event);
        if (found.length === limit) return found;
      }
      const last = rows[rows.length - 1];
      scanned += rows.length;
      if (rows.length < limit || last === undefined || scanned >= AFTER_SCAN_PAGES * limit) return found;
      from = Number(last.seq);
    }
  }

  async cursor(key: string): Promise<number | undefined> {
    const db = this.open();
    checkCursorKey(key);
    const rows = await db.all<{ seq: number | string }>(`SELECT seq FROM ${CURSORS_TABLE} WHERE key = ?`, [key]);
    return rows[0] === undefined ? undefined : Number(rows[0].seq);
  }

  async setCursor(key: string, seq: number): Promise<void> {
    const db = this.open();
    checkCursorKey(key);
    if (!Number.isSafeInteger(seq) || seq < 0) throw new Error('setCursor: seq must be a non-negative integer');
    await db.run(`INSERT INTO ${CURSORS_TABLE} (key, seq) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET seq = excluded.seq`, [key, seq]);
  }

  async deleteCursor(key: string): Promise<void> {
    const db = this.open();
    checkCursorKey(key);
    await db.run(`DELETE FROM ${CURSORS_TABLE} WHERE key = ?`, [key]);
  }

  async cursorKeys(): Promise<string[]> {
    const db = this.open();
    const rows = await db.all<{ key: string }>(`SELECT key FROM ${CURSORS_TABLE} ORDER BY key`, []);
    return rows.map((r) => r.key);
  }

  async maxSeq(): Promise<number> {
    const db = this.open();
    const rows = await db.all<{ max: number | string | null }>(`SELECT max(seq) AS max FROM ${EVENTS_TABLE}`, []);
    return Number(rows[0]?.max ?? 0);
  }

  async prune(limits: RetentionLimits, now: Date): Promise<number> {
    const db = this.open();
    const { maxAgeMs, maxRows } = limits;
    if (maxAgeMs !== undefined && !(Number.isFinite(maxAgeMs) && maxAgeMs > 0)) throw new Error('prune: maxAgeMs must be a positive number');
    if (maxRows !== undefined && !(Number.isSafeInteger(maxRows) && maxRows >= 0)) throw new Error('prune: maxRows must be a non-negative integer');
    if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new Error('prune: now must be a valid Date');
    let removed = 0;
    if (maxAgeMs !== undefined) {
      const cutoff = new Date(now.getTime() - maxAgeMs);
      removed += await this.deleteInChunks(db, `SELECT seq FROM ${EVENTS_TABLE} WHERE ts < ? ORDER BY ts LIMIT ?`, cutoff);
    }
    if (maxRows !== undefined) {
      // The newest event that no longer fits; it and everything before it go.
      const rows = await db.all<{ seq: number | string }>(`SELECT seq FROM ${EVENTS_TABLE} ORDER BY seq DESC LIMIT 1 OFFSET ?`, [maxRows]);
      const last = rows[0];
      if (last !== undefined) {
        removed += await this.deleteInChunks(db, `SELECT seq FROM ${EVENTS_TABLE} WHERE seq <= ? ORDER BY seq LIMIT ?`, Number(last.seq));
      }
    }
    return removed;
  }

  /** Deletes what `select` (one bound value, then the chunk size) finds, a chunk per transaction. */
  private async deleteInChunks(db: SqlConnection, select: string, bound: SqlParam): Promise<number> {
    let removed = 0;
    for (;;) {
      const n = await db.run(`DELETE FROM ${EVENTS_TABLE} WHERE seq IN (${select})`, [bound, PRUNE_CHUNK]);
      removed += n;
      if (n < PRUNE_CHUNK || this.closed) return removed;
      // SQLite runs in this thread: let intake and queries in between the chunks.
      await yieldToEventLoop();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }
}

function checkCursorKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw new Error('cursor key must be a non-empty string');
}
