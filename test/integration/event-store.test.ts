// The activity trail's stores against what activity/event.ts promises, one table of behaviours run
// against both: SQLite in a temp file and a real PostgreSQL 15 (local/postgres.ts), each test on an empty
// database of its own. Then what only one of them has: a SQLite file reopened, query plans, the errors
// a bad URL gets (never with its password).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventQuery, EventStore, RegistryEvent } from '../../activity/event.js';
import { openEventStore } from '../../activity/store/open.js';
import { checkQuery, eventQuerySql } from '../../activity/store/query.js';
import { SCHEMA_VERSION_TABLE } from '../../activity/store/schema-version.js';
import { PRUNE_CHUNK } from '../../activity/store/sql-store.js';
import { startPostgres, type RunningPostgres } from '../../local/postgres.js';

const NOW = new Date('2026-11-27T12:00:00.000Z');
const REGISTRY = 'tenants/main';
const OTHER_REGISTRY = 'tenants/other';

let postgres: RunningPostgres;
let dir: string;
const opened: EventStore[] = [];
let files = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-event-store-'));
  postgres = await startPostgres();
});
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await postgres?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const minutesAgo = (m: number): string => new Date(NOW.getTime() - m * 60_000).toISOString();

let ids = 0;
/** A pull of team-a/app by alice a minute ago, unless told otherwise. */
function event(fields: Partial<RegistryEvent> = {}): RegistryEvent {
  return { id: `ev-${++ids}`, registry: REGISTRY, action: 'pull', repository: 'team-a/app', actor: 'alice', timestamp: minutesAgo(1), ...fields };
}

type Open = () => Promise<EventStore>;
const track = (store: EventStore): EventStore => {
  opened.push(store);
  return store;
};
const stores: [string, Open][] = [
  ['SQLite', async () => track(await openEventStore(`sqlite:${join(dir, `events-${++files}.db`)}`, { now: () => NOW }))],
  ['PostgreSQL', async () => track(await openEventStore(await postgres.newDatabase(), { now: () => NOW }))],
];

const idsOf = (events: { id: string }[]): string[] => events.map((e) => e.id);
const query = (store: EventStore, q: Partial<EventQuery> = {}) => store.query({ registry: REGISTRY, ...q });

describe.each(stores)('the %s event store', (_name, open) => {
  it('append returns how many events were new: a redelivered (registry, id) is stored once, in a batch or across batches', async () => {
    const store = await open();
    const a = event({ id: 'a' });
    const b = event({ id: 'b' });
    expect(await store.append([a, b, { ...a, actor: 'mallory' }])).toBe(2);
    expect(await store.append([b, event({ id: 'c' })])).toBe(1);
    expect(await store.append([])).toBe(0);
    const stored = await query(store);
    expect(idsOf(stored).sort()).toEqual(['a', 'b', 'c']);
    expect(stored.find((e) => e.id === 'a')?.actor).toBe('alice');
    // The same id from another Registry is another event.
    expect(await store.append([{ ...a, registry: OTHER_REGISTRY }])).toBe(1);
    expect(idsOf(await query(store, { registry: OTHER_REGISTRY }))).toEqual(['a']);
  });

  it('stores every field and reads it back, times to the millisecond and receivedAt from its clock', async () => {
    const store = await open();
    const full: RegistryEvent = {
      id: 'full',
      registry: REGISTRY,
      action: 'push',
      repository: 'team-a/app',
      tag: '1.4.2',
      digest: 'sha256:aaaa',
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 5_000_000_000,
      actor: 'ci:runner',
      sourceAddr: '10.0.0.7:51234',
      requestId: 'req-1',
      timestamp: '2026-11-27T11:59:00.123456789+01:00',
    };
    await store.append([full, event({ id: 'bare', actor: undefined })]);
    const [bare, stored] = await query(store, { since: new Date('2026-11-27T10:00:00Z') });
    expect(stored).toEqual({ ...full, timestamp: '2026-11-27T10:59:00.123Z', seq: expect.any(Number), receivedAt: NOW.toISOString() });
    expect(bare).toEqual({
      id: 'bare',
      registry: REGISTRY,
      action: 'pull',
      repository: 'team-a/app',
      timestamp: minutesAgo(1),
      seq: expect.any(Number),
      receivedAt: NOW.toISOString(),
    });
  });

  describe('every filter, in SQL', () => {
    const data: RegistryEvent[] = [
      event({ id: 'alice-push', action: 'push', tag: '1.0', digest: 'sha256:one', timestamp: minutesAgo(50) }),
      event({ id: 'alice-pull', digest: 'sha256:one', timestamp: minutesAgo(40) }),
      event({ id: 'bob-pull', actor: 'bob', repository: 'team-b/web', digest: 'sha256:two', tag: 'latest', timestamp: minutesAgo(30) }),
      event({ id: 'bob-delete', actor: 'bob', action: 'delete', repository: 'team-b/web', digest: 'sha256:two', timestamp: minutesAgo(20) }),
      event({ id: 'anonymous-pull', actor: undefined, repository: 'public/base', tag: '1.0', timestamp: minutesAgo(10) }),
      event({ id: 'elsewhere', registry: OTHER_REGISTRY, timestamp: minutesAgo(5) }),
    ];
    const cases: [string, Partial<EventQuery>, string[]][] = [
      ['registry alone, newest first', {}, ['anonymous-pull', 'bob-delete', 'bob-pull', 'alice-pull', 'alice-push']],
      ['another registry', { registry: OTHER_REGISTRY }, ['elsewhere']],
      ['actor', { actor: 'bob' }, ['bob-delete', 'bob-pull']],
      ['repository', { repository: 'team-a/app' }, ['alice-pull', 'alice-push']],
      ['action', { action: 'push' }, ['alice-push']],
      ['digest', { digest: 'sha256:two' }, ['bob-delete', 'bob-pull']],
      ['tag', { tag: '1.0' }, ['anonymous-pull', 'alice-push']],
      ['since is inclusive', { since: new Date(minutesAgo(30)) }, ['anonymous-pull', 'bob-delete', 'bob-pull']],
      ['until is exclusive', { until: new Date(minutesAgo(30)) }, ['alice-pull', 'alice-push']],
      ['since and until', { since: new Date(minutesAgo(45)), until: new Date(minutesAgo(15)) }, ['bob-delete', 'bob-pull', 'alice-pull']],
      ['filters combine', { actor: 'bob', action: 'pull', tag: 'latest' }, ['bob-pull']],
      ['a registry that sent nothing', { registry: 'tenants/none' }, []],
    ];
    let store: EventStore;
    beforeAll(async () => {
      store = await open();
      await store.append(data);
    });
    it.each(cases)('%s', async (_sentence, q, expected) => {
      expect(idsOf(await query(store, q))).toEqual(expected);
    });
  });

  describe('within: a tenant sees only its prefixes (policy/match.ts decides)', () => {
    const repositories = [
      'team-a',
      'team-a/x',
      'team-a/x/y',
      'team-ab/x',
      'team-b/x',
      'team-b/app',
      'team-a/app',
      'a_b/%x',
      'axb/%x',
      'a_b/c',
      'axb/c',
      'a_b/cd',
    ];
    let store: EventStore;
    beforeAll(async () => {
      store = await open();
      await store.append(
        repositories.map((repository, i) => event({ id: repository, repository, actor: i % 2 === 0 ? 'alice' : 'bob', timestamp: minutesAgo(i) })),
      );
    });
    const cases: [string, string[], Partial<EventQuery>, string[]][] = [
      ['team-a/** is everything under team-a, not team-a itself nor team-ab', ['team-a/**'], {}, ['team-a/x', 'team-a/x/y', 'team-a/app']],
      ['team-a/* is one level below team-a', ['team-a/*'], {}, ['team-a/x', 'team-a/app']],
      ['*/app: any first segment', ['*/app'], {}, ['team-b/app', 'team-a/app']],
      ['several prefixes', ['team-a/*', 'team-b/**'], {}, ['team-a/x', 'team-b/x', 'team-b/app', 'team-a/app']],
      ['an exact name', ['team-b/x'], {}, ['team-b/x']],
      ['_ and % in names are plain characters under a prefix', ['a_b/**'], {}, ['a_b/%x', 'a_b/c', 'a_b/cd']],
      ['_ in an exact name is a plain character', ['a_b/c'], {}, ['a_b/c']],
      ['within and actor', ['team-a/**'], { actor: 'alice' }, ['team-a/x/y', 'team-a/app']],
      ['no pattern: nothing', [], {}, []],
      ['an unfilled ${user}: nothing', ['users/${user}/**'], {}, []],
      ['** is the whole registry', ['**'], { limit: 3 }, ['team-a', 'team-a/x', 'team-a/x/y']],
    ];
    it.each(cases)('%s', async (_sentence, within, q, expected) => {
      expect(idsOf(await query(store, { within, ...q }))).toEqual(expected);
    });
    it('an exact repository filter takes % and _ literally', async () => {
      expect(idsOf(await query(store, { repository: 'a_b/%x' }))).toEqual(['a_b/%x']);
    });
    it('an invalid pattern is refused with a clear error', async () => {
      await expect(query(store, { within: ['team-*'] })).rejects.toThrow(/within: pattern "team-\*"/);
    });
  });

  it('within still returns `limit` matches when the SQL pre-filter lets non-matches through (pages further back)', async () => {
    const store = await open();
    // Newest: 30 deeper names that team-a/* does not match but its prefix range admits; older: 5 matches.
    await store.append([
      ...Array.from({ length: 30 }, (_, i) => event({ id: `deep-${i}`, repository: `team-a/x/y${i}`, timestamp: minutesAgo(i) })),
      ...Array.from({ length: 5 }, (_, i) => event({ id: `match-${i}`, repository: `team-a/m${i}`, timestamp: minutesAgo(100 + i) })),
    ]);
    expect(idsOf(await query(store, { within: ['team-a/*'], limit: 4 }))).toEqual(['match-0', 'match-1', 'match-2', 'match-3']);
    expect(idsOf(await query(store, { within: ['*/m3', '*/m4'], limit: 1 }))).toEqual(['match-3']);
    expect(await query(store, { within: ['team-a/*'], limit: 50 })).toHaveLength(5);
  });

  it('limit: 500 by default, at most 5000, newest first with ties in insertion order reversed', async () => {
    const store = await open();
    const sameTime = minutesAgo(1);
    for (let batch = 0; batch < 6; batch++) {
      await store.append(Array.from({ length: 1000 }, (_, i) => event({ id: `e-${batch}-${i}`, timestamp: sameTime })));
    }
    await store.append([event({ id: 'newest', timestamp: minutesAgo(0) }), event({ id: 'oldest', timestamp: minutesAgo(2) })]);
    const page = await query(store);
    expect(page).toHaveLength(500);
    expect(page[0]?.id).toBe('newest');
    expect(page.slice(1).map((e) => e.seq)).toEqual([...page.slice(1).map((e) => e.seq)].sort((x, y) => y - x));
    expect(page[1]?.id).toBe('e-5-999');
    expect(await query(store, { limit: 100_000 })).toHaveLength(5000);
    expect(idsOf(await query(store, { limit: 2, since: new Date(minutesAgo(0)) }))).toEqual(['newest']);
    await expect(query(store, { limit: 0 })).rejects.toThrow(/limit must be a positive integer/);
    await expect(query(store, { limit: 2.5 })).rejects.toThrow(/limit must be a positive integer/);
  });

  it('after(): one registry, oldest first, seq strictly increasing across appends', async () => {
    const store = await open();
    expect(await store.maxSeq()).toBe(0);
    await store.append([event({ id: 'one' }), event({ id: 'x', registry: OTHER_REGISTRY }), event({ id: 'two' })]);
    await store.append([event({ id: 'three', timestamp: minutesAgo(999) })]);
    const all = await store.after(REGISTRY, 0, 10);
    expect(idsOf(all)).toEqual(['one', 'two', 'three']);
    const seqs = all.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(3);
    expect(idsOf(await store.after(REGISTRY, seqs[0] as number, 1))).toEqual(['two']);
    expect(await store.after(REGISTRY, seqs[2] as number, 10)).toEqual([]);
    expect(await store.maxSeq()).toBe(seqs[2]);
    await expect(store.after(REGISTRY, -1, 10)).rejects.toThrow(/afterSeq/);
  });

  it('after with within: only the repositories its patterns match, oldest first, limit counted in matches', async () => {
    const store = await open();
    const events = [
      event({ repository: 'team-a/app' }),
      event({ repository: 'team-ab/app' }),
      event({ repository: 'team-b/x' }),
      event({ repository: 'team-a/lib' }),
      event({ repository: 'team-a' }),
      event({ repository: 'team-a/app', registry: OTHER_REGISTRY }),
      event({ repository: 'team-a/app' }),
    ];
    await store.append(events);
    const mine = [events[0], events[3], events[6]].map((e) => e?.id);
    expect(idsOf(await store.after(REGISTRY, 0, 10, ['team-a/**']))).toEqual(mine);
    expect(idsOf(await store.after(REGISTRY, 0, 2, ['team-a/**']))).toEqual(mine.slice(0, 2));
    const [first] = await store.after(REGISTRY, 0, 1, ['team-a/**']);
    expect(idsOf(await store.after(REGISTRY, first?.seq ?? 0, 10, ['team-a/**']))).toEqual(mine.slice(1));
    // A pattern led by a wildcard has no pre-filter: matched exactly on every row.
    expect(idsOf(await store.after(REGISTRY, 0, 10, ['*/lib']))).toEqual([events[3]?.id]);
    expect(await store.after(REGISTRY, 0, 10, ['${namespace}/**'])).toEqual([]);
    expect(await store.after(REGISTRY, 0, 10)).toHaveLength(6);
  });

  it('after with within reads a bounded number of rows: a pattern with nothing to pre-filter on stops early', async () => {
    const store = await open();
    await store.append(Array.from({ length: 50 }, () => event({ repository: 'team-b/app' })));
    const wanted = event({ repository: 'x/lib' });
    await store.append([wanted]);
    // limit 2: at most 40 rows read, all team-b's; limit 10: up to 200, enough to reach x/lib.
    expect(await store.after(REGISTRY, 0, 2, ['*/lib'])).toEqual([]);
    expect(idsOf(await store.after(REGISTRY, 0, 10, ['*/lib']))).toEqual([wanted.id]);
  });

  it('cursors: absent until set, then the last value set, one per key', async () => {
    const store = await open();
    expect(await store.cursor('webhook-uid-1')).toBeUndefined();
    await store.setCursor('webhook-uid-1', 7);
    await store.setCursor('webhook-uid-2', 3);
    await store.setCursor('webhook-uid-1', 12);
    expect(await store.cursor('webhook-uid-1')).toBe(12);
    expect(await store.cursor('webhook-uid-2')).toBe(3);
    await expect(store.setCursor('webhook-uid-1', -1)).rejects.toThrow(/non-negative/);
    expect(await store.cursor('webhook-uid-1')).toBe(12);
    expect(await store.cursorKeys()).toEqual(['webhook-uid-1', 'webhook-uid-2']);
    await store.deleteCursor('webhook-uid-1');
    await store.deleteCursor('never-set');
    expect(await store.cursor('webhook-uid-1')).toBeUndefined();
    expect(await store.cursorKeys()).toEqual(['webhook-uid-2']);
  });

  it('prune by age removes what is older than maxAgeMs, across registries', async () => {
    const store = await open();
    await store.append([
      event({ id: 'old', timestamp: minutesAgo(120) }),
      event({ id: 'old-elsewhere', registry: OTHER_REGISTRY, timestamp: minutesAgo(90) }),
      event({ id: 'recent', timestamp: minutesAgo(30) }),
    ]);
    expect(await store.prune({ maxAgeMs: 60 * 60_000 }, NOW)).toBe(2);
    expect(idsOf(await query(store))).toEqual(['recent']);
    expect(await query(store, { registry: OTHER_REGISTRY })).toEqual([]);
    expect(await store.prune({ maxAgeMs: 60 * 60_000 }, NOW)).toBe(0);
  });

  it('prune by rows keeps the newest maxRows, deleting in chunks', async () => {
    const store = await open();
    const total = PRUNE_CHUNK * 2 + 500;
    await store.append(Array.from({ length: total }, (_, i) => event({ id: `r-${i}` })));
    const maxSeq = await store.maxSeq();
    expect(await store.prune({ maxRows: 100 }, NOW)).toBe(total - 100);
    const left = await store.after(REGISTRY, 0, 1000);
    expect(left).toHaveLength(100);
    expect(left[0]?.id).toBe(`r-${total - 100}`);
    expect(await store.maxSeq()).toBe(maxSeq);
    // Both limits at once: age first, then rows.
    await store.append([event({ id: 'ancient', timestamp: minutesAgo(10_000) })]);
    expect(await store.prune({ maxAgeMs: 60_000 * 60, maxRows: 10 }, NOW)).toBe(91);
    await expect(store.prune({ maxRows: -1 }, NOW)).rejects.toThrow(/maxRows/);
  });

  it('concurrent appends lose nothing, and a reader following after() sees every event once', async () => {
    const store = await open();
    let cursor = 0;
    const delivered: string[] = [];
    let writing = true;
    const reader = (async () => {
      while (writing || (await store.maxSeq()) > cursor) {
        const batch = await store.after(REGISTRY, cursor, 200);
        delivered.push(...idsOf(batch));
        cursor = batch.at(-1)?.seq ?? cursor;
        if (batch.length === 0) await new Promise((r) => setTimeout(r, 5));
      }
    })();
    // 20 writers of 50 events each; neighbouring writers share 10 ids (a redelivery racing the original).
    const counts = await Promise.all(
      Array.from({ length: 20 }, (_, w) => store.append(Array.from({ length: 50 }, (_, i) => event({ id: `c-${w * 40 + i}` })))),
    );
    writing = false;
    await reader;
    const distinct = 19 * 40 + 50;
    expect(counts.reduce((a, b) => a + b, 0)).toBe(distinct);
    expect((await query(store, { limit: 5000 })).length).toBe(distinct);
    expect(delivered.length).toBe(distinct);
    expect(new Set(delivered).size).toBe(distinct);
  });

  it('a batch with one bad event is refused whole, with a message naming it', async () => {
    const store = await open();
    const bad: [string, Partial<RegistryEvent> | Record<string, unknown>, RegExp][] = [
      ['action', { action: 'mount' }, /event 1: action "mount" is not one of push, pull, delete/],
      ['timestamp', { timestamp: 'yesterday' }, /event 1: timestamp "yesterday" is not an RFC 3339 time/],
      ['repository', { repository: '' }, /event 1: repository is empty/],
      ['size', { size: -1 }, /event 1: size must be a non-negative integer/],
      ['id', { id: 42 }, /event 1: id must be a string/],
    ];
    for (const [, fields, message] of bad) {
      await expect(store.append([event({ id: 'good' }), { ...event(), ...fields }])).rejects.toThrow(message);
    }
    expect(await query(store)).toEqual([]);
    await expect(query(store, { registry: '' })).rejects.toThrow(/registry is required/);
    await expect(query(store, { since: new Date('nope') })).rejects.toThrow(/since must be a valid Date/);
    await expect(query(store, { action: 'mount' as 'push' })).rejects.toThrow(/action "mount"/);
  });

  it('close(): later calls are refused, a second close is harmless', async () => {
    const store = await open();
    await store.append([event()]);
    await store.close();
    await store.close();
    await expect(store.append([event()])).rejects.toThrow('the event store is closed');
    await expect(query(store)).rejects.toThrow('the event store is closed');
    await expect(store.maxSeq()).rejects.toThrow('the event store is closed');
  });
});

describe('the SQLite event store, on its own', () => {
  it('a reopened file keeps its events, cursors and seq', async () => {
    const url = `sqlite:${join(dir, 'reopened.db')}`;
    const first = await openEventStore(url);
    await first.append([event({ id: 'kept' })]);
    await first.setCursor('hook', 1);
    await first.close();
    const second = track(await openEventStore(url));
    expect(idsOf(await query(second))).toEqual(['kept']);
    expect(await second.cursor('hook')).toBe(1);
    await second.append([event({ id: 'next' })]);
    expect((await second.after(REGISTRY, 1, 10)).map((e) => [e.id, e.seq])).toEqual([['next', 2]]);
  });

  it('refuses a file a newer release has migrated', async () => {
    const path = join(dir, 'newer.db');
    await (await openEventStore(`sqlite:${path}`)).close();
    const db = new Database(path);
    db.prepare(`UPDATE ${SCHEMA_VERSION_TABLE} SET version = 99`).run();
    db.close();
    await expect(openEventStore(`sqlite:${path}`)).rejects.toThrow(/schema version 99, newer than the 1 this Portcullis knows/);
  });

  it('finds the page by user, repository, digest and tenant in an index alone, in index order, reading only the rows it returns', async () => {
    const path = join(dir, 'plans.db');
    await (await openEventStore(`sqlite:${path}`)).close();
    const db = new Database(path, { readonly: true });
    const plan = (q: EventQuery): string => {
      const { sql, params } = eventQuerySql(checkQuery(q), 500);
      const bound = params.map((p) => (p instanceof Date ? p.getTime() : p));
      return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(bound) as { detail: string }[]).map((r) => r.detail).join('; ');
    };
    const since = new Date(NOW.getTime() - 86_400_000);
    // One sort only, of the page's rows: the seqs come off the index in order, and LIMIT stops it early.
    const pageFrom = (index: string, constraint: string): RegExp =>
      new RegExp(
        `^SEARCH activity_events USING INTEGER PRIMARY KEY \\(rowid=\\?\\); LIST SUBQUERY 1; SEARCH activity_events USING COVERING INDEX activity_events_${index} \\(${constraint}\\); USE TEMP B-TREE FOR ORDER BY$`,
      );
    expect(plan({ registry: REGISTRY, actor: 'alice', since })).toMatch(pageFrom('registry_actor_ts', 'registry=\\? AND actor=\\? AND ts>\\?'));
    expect(plan({ registry: REGISTRY, repository: 'team-a/app' })).toMatch(pageFrom('registry_repository_ts', 'registry=\\? AND repository=\\?'));
    expect(plan({ registry: REGISTRY, digest: 'sha256:aaaa' })).toMatch(pageFrom('registry_digest_ts', 'registry=\\? AND digest=\\?'));
    expect(plan({ registry: REGISTRY, within: ['team-a/**'], since })).toMatch(
      /COVERING INDEX activity_events_registry_(repository_)?ts \(registry=\? AND (repository>\? AND repository<\?|ts>\?)\)/,
    );
    expect(plan({ registry: REGISTRY, within: ['team-a/**'], actor: 'alice' })).toMatch(/COVERING INDEX activity_events_registry_(actor|repository)_ts/);
    db.close();
  });
});

describe('opening a store from a URL', () => {
  it('refuses a relative SQLite path and an unknown scheme, never repeating a password', async () => {
    await expect(openEventStore('sqlite:events.db')).rejects.toThrow(/needs an absolute path/);
    await expect(openEventStore('sqlite://host/events.db')).rejects.toThrow(/needs an absolute path/);
    const refused = openEventStore('mysql://portcullis:s3cret-in-url@db:3306/activity');
    await expect(refused).rejects.toThrow(/unsupported event store URL scheme "mysql:"/);
    await expect(refused).rejects.not.toThrow(/s3cret-in-url/);
    await expect(openEventStore('')).rejects.toThrow(/no event store URL given/);
  });

  it('a wrong PostgreSQL password is refused by the server and the error shows the URL without it', async () => {
    const wrong = postgres.url.replace(/:([0-9a-f]+)@/, ':wr0ng-passw0rd@');
    const error = await openEventStore(wrong).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(
      /could not open the PostgreSQL event store at postgresql:\/\/portcullis@127\.0\.0\.1:\d+\/activity: password authentication failed/,
    );
    expect(error?.message).not.toContain('wr0ng-passw0rd');
    await expect(openEventStore('postgres://user:pa ss@[not-a-host/db')).rejects.toThrow(/not a valid URL/);
    await expect(openEventStore('postgres://user:pa ss@[not-a-host/db')).rejects.not.toThrow(/pa ss/);
  });

  it('refuses a PostgreSQL database a newer release has migrated', async () => {
    const url = await postgres.newDatabase();
    await (await openEventStore(url)).close();
    const database = new URL(url).pathname.slice(1);
    await postgres.asSuperuser(database, `UPDATE ${SCHEMA_VERSION_TABLE} SET version = 2`);
    await expect(openEventStore(url)).rejects.toThrow(/schema version 2, newer than the 1 this Portcullis knows/);
  });
});
