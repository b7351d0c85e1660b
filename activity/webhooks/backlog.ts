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
