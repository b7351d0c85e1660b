// The events table as both stores lay it out: the column list, an event checked and turned into the
// values of one row, and a row read back into a StoredEvent. Times are epoch milliseconds in SQLite and
// timestamptz in PostgreSQL (pg reads them as Date), big integers come back from pg as strings: the
// reader accepts each form, so one mapping serves both.

import { EVENT_ACTIONS, type EventAction, type RegistryEvent, type StoredEvent } from '../event.js';

export const EVENTS_TABLE = 'activity_events';
export const CURSORS_TABLE = 'activity_cursors';

/** The columns an insert writes, in the order of InsertRow's values. */
export const INSERT_COLUMNS = [
  'registry',
  'id',
  'action',
  'repository',
  'tag',
  'digest',
  'media_type',
  'size',
  'actor',
  'source_addr',
  'request_id',
  'ts',
  'received_at',
] as const;

/** The columns a read selects. */
export const SELECT_COLUMNS = `seq, ${INSERT_COLUMNS.join(', ')}`;

/** One row to insert: times as epoch milliseconds, absent fields as null. */
export interface InsertRow {
  registry: string;
  id: string;
  action: EventAction;
  repository: string;
  tag: string | null;
  digest: string | null;
  mediaType: string | null;
  size: number | null;
  actor: string | null;
  sourceAddr: string | null;
  requestId: string | null;
  ts: number;
  receivedAt: number;
}

/** A row as a driver returns it. */
export interface EventRow {
  seq: number | string;
  registry: string;
  id: string;
  action: string;
  repository: string;
  tag: string | null;
  digest: string | null;
  media_type: string | null;
  size: number | string | null;
  actor: string | null;
  source_addr: string | null;
  request_id: string | null;
  ts: number | Date;
  received_at: number | Date;
}

/** RFC 3339, as Distribution writes timestamps (any fraction of a second; stored to the millisecond). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i;

/** Longest text a column takes: anything longer is not something a registry sent. */
const MAX_TEXT = 4096;

function text(event: RegistryEvent, index: number, field: keyof RegistryEvent, required: boolean): string | null {
  const value: unknown = event[field];
  if (value === undefined || value === null) {
    if (required) throw new Error(`event ${index}: ${field} is missing`);
    return null;
  }
  if (typeof value !== 'string') throw new Error(`event ${index}: ${field} must be a string`);
  if (required && value === '') throw new Error(`event ${index}: ${field} is empty`);
  if (value.length > MAX_TEXT) throw new Error(`event ${index}: ${field} is longer than ${MAX_TEXT} characters`);
  return value;
}

/** Checks every event and turns it into a row; throws on the first bad one (so nothing is stored). */
export function toInsertRows(events: readonly RegistryEvent[], receivedAt: Date): InsertRow[] {
  const list: unknown = events;
  if (!Array.isArray(list)) throw new Error('append takes an array of events');
  return events.map((event, index): InsertRow => {
    const value: unknown = event;
    if (typeof value !== 'object' || value === null) throw new Error(`event ${index} is not an object`);
    if (!EVENT_ACTIONS.includes(event.action)) {
      throw new Error(`event ${index}: action ${JSON.stringify(event.action)} is not one of ${EVENT_ACTIONS.join(', ')}`);
    }
    const ts = typeof event.timestamp === 'string' && RFC3339.test(event.timestamp) ? Date.parse(event.timestamp) : NaN;
    if (!Number.isFinite(ts)) throw new Error(`event ${index}: timestamp ${JSON.stringify(event.timestamp)} is not an RFC 3339 time`);
    const size = event.size;
    if (size !== undefined && size !== null && !(Number.isSafeInteger(size) && size >= 0)) {
      throw new Error(`event ${index}: size must be a non-negative integer`);
    }
    return {
      registry: text(event, index, 'registry', true) as string,
      id: text(event, index, 'id', true) as string,
      action: event.action,
      repository: text(event, index, 'repository', true) as string,
      tag: text(event, index, 'tag', false),
      digest: text(event, index, 'digest', false),
      mediaType: text(event, index, 'mediaType', false),
      size: size ?? null,
      actor: text(event, index, 'actor', false),
      sourceAddr: text(event, index, 'sourceAddr', false),
      requestId: text(event, index, 'requestId', false),
      ts,
      receivedAt: receivedAt.getTime(),
    };
  });
}

/** A row's values in INSERT_COLUMNS order, times as `time` makes them. */
export function insertValues<T>(row: InsertRow, time: (ms: number) => T): (string | number | null | T)[] {
  return [
    row.registry,
    row.id,
    row.action,
    row.repository,
    row.tag,
    row.digest,
    row.mediaType,
    row.size,
    row.actor,
    row.sourceAddr,
    row.requestId,
    time(row.ts),
    time(row.receivedAt),
  ];
}

export const epochMs = (value: number | Date): number => (value instanceof Date ? value.getTime() : value);

/** A stored row as the contract's StoredEvent; absent fields are left out rather than undefined. */
export function toStoredEvent(row: EventRow): StoredEvent {
  const event: StoredEvent = {
    seq: Number(row.seq),
    id: row.id,
    registry: row.registry,
    action: row.action as EventAction,
    repository: row.repository,
    timestamp: new Date(epochMs(row.ts)).toISOString(),
    receivedAt: new Date(epochMs(row.received_at)).toISOString(),
  };
  if (row.tag !== null) event.tag = row.tag;
  if (row.digest !== null) event.digest = row.digest;
  if (row.media_type !== null) event.mediaType = row.media_type;
  if (row.size !== null) event.size = Number(row.size);
  if (row.actor !== null) event.actor = row.actor;
  if (row.source_addr !== null) event.sourceAddr = row.source_addr;
  if (row.request_id !== null) event.requestId = row.request_id;
  return event;
}
