// How many events a webhook still owes its receiver: the matching events after its cursor. Counted by
// paging through the store, up to a cap, when a status is about to be written (every few seconds at
// most), never per event. A tenant's webhook pages through its prefixes' events only (the store's
// `within`): had other tenants' events counted against the cap, where its count stopped growing would
// tell the tenant how busy they are.

import type { EventStore } from '../event.js';
import { wants, type EventFilter } from './filter.js';

export const BACKLOG_CAP = 10_000;
const PAGE = 500;

export async function countBacklog(store: Pick<EventStore, 'after'>, filter: EventFilter, cursor: number, cap = BACKLOG_CAP): Promise<number> {
  let count = 0;
  let after = cursor;
  // Counting reads at most `cap` events: a long non-matching stretch ends the count early, as a lower bound.
  for (let read = 0; read < cap; read += PAGE) {
    const page = await store.after(
      filter.registry,
      after,
      PAGE,
      filter.prefixes?.map((p) => p.source),
    );
    for (const event of page) if (wants(filter, event)) count++;
    if (page.length < PAGE || count >= cap) break;
    after = (page[page.length - 1] as { seq: number }).seq;
  }
  return Math.min(count, cap);
}

/** A count at least this large is reused for `refreshMs`; a smaller one costs a page and is always fresh. */
const REUSED_FROM = PAGE;

/**
 * The dispatcher's one backlog counter. Counts run one at a time: the store answers in order on one
 * connection, so many webhooks far behind counting at once held intake and every other read up behind
 * their scans (a tenant could make dozens of them; review, Medium). And a count that took more than a
 * page is reused for `refreshMs` (30 s) before it is taken again, so a webhook far behind costs at most
 * one scan per interval, however often its status is written.
 */
export class BacklogCounter {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly last = new Map<string, { at: number; count: number }>();
  /** Keys forgotten while a count of theirs ran: that count is not kept. */
  private readonly forgottenWhileCounting = new Set<string>();
  private readonly counting = new Map<string, number>();

  constructor(
    private readonly store: Pick<EventStore, 'after'>,
    private readonly now: () => number,
    private readonly refreshMs = 30_000,
    private readonly cap = BACKLOG_CAP,
  ) {}

  /** The backlog of webhook `key` (its filter, its cursor now). */
  count(key: string, filter: EventFilter, cursor: number): Promise<number> {
    const known = this.last.get(key);
    if (known !== undefined && known.count >= REUSED_FROM && this.now() - known.at < this.refreshMs) return Promise.resolve(known.count);
    this.counting.set(key, (this.counting.get(key) ?? 0) + 1);
    const counted = this.queue.then(() => countBacklog(this.store, filter, cursor, this.cap));
    this.queue = counted.catch(() => undefined);
    const settled = (): boolean => {
      const left = (this.counting.get(key) ?? 1) - 1;
      if (left > 0) this.counting.set(key, left);
      else this.counting.delete(key);
      const forgotten = this.forgottenWhileCounting.has(key);
      if (left === 0) this.forgottenWhileCounting.delete(key);
      return forgotten;
    };
    return counted.then(
      (count) => {
        // A count that finished after its webhook was forgotten would otherwise be kept for good.
        if (!settled()) this.last.set(key, { at: this.now(), count });
        return count;
      },
      (error: unknown) => {
        settled();
        throw error;
      },
    );
  }

  /** The webhook is gone (key: its uid, so one made again under the same name starts afresh). */
  forget(key: string): void {
    this.last.delete(key);
    if (this.counting.has(key)) this.forgottenWhileCounting.add(key);
  }
}
