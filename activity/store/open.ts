// The one place a store URL is read: `sqlite:/abs/path.db`, `sqlite::memory:`, or a postgres:// /
// postgresql:// URL. An unknown URL is refused by its scheme alone, so a password in it is never repeated.

import type { EventStore } from '../event.js';
import { openPostgresEventStore } from './postgres.js';
import type { SqlEventStoreOptions } from './sql-store.js';
import { openSqliteEventStore } from './sqlite.js';
import { openThreadedSqliteEventStore } from './sqlite-thread.js';

const EXPECTED = 'expected sqlite:/absolute/path.db, sqlite::memory: or postgres://user:password@host:port/database';

export interface OpenOptions extends SqlEventStoreOptions {
  /** A SQLite file on a worker thread of its own (sqlite-thread.ts); the built CLI sets it. */
  thread?: boolean;
}

export async function openEventStore(url: string, options: OpenOptions = {}): Promise<EventStore> {
  if (typeof url !== 'string' || url === '') throw new Error(`no event store URL given: ${EXPECTED}`);
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === ':memory:') return openSqliteEventStore(':memory:', options);
    // Two or more slashes would read as a URL authority (sqlite://host/...): refused rather than guessed.
    if (!path.startsWith('/') || path.startsWith('//')) throw new Error(`the SQLite event store needs an absolute path: ${EXPECTED}`);
    return options.thread === true ? openThreadedSqliteEventStore(path) : openSqliteEventStore(path, options);
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return openPostgresEventStore(url, options);
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]{0,30}):/.exec(url)?.[1];
  throw new Error(`unsupported event store URL${scheme === undefined ? '' : ` scheme ${JSON.stringify(`${scheme}:`)}`}: ${EXPECTED}`);
}
