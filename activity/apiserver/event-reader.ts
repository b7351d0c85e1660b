// Answers a list or a get from the store, for the Registries a namespace may see: one store query per
// Registry (each with the namespace's prefixes when it is a tenant there), merged newest first and cut
// to the limit. Authorization has happened before any of this runs.

import type { EventQuery, EventStore, StoredEvent } from '../event.js';
import type { EventFilters } from './list-options.js';
import { eventName, eventTimeOf, toObject, type RegistryEventObject } from './objects.js';
import type { VisibleRegistry } from './visibility.js';

/** Where each event is shown: the listing namespace, or (all namespaces) its Registry's own. */
type Placement = { namespace: string } | { home: true };

function newestFirst(a: StoredEvent, b: StoredEvent): number {
  const dt = Date.parse(b.timestamp) - Date.parse(a.timestamp);
  if (dt !== 0) return dt;
  if (a.registry !== b.registry) return a.registry < b.registry ? -1 : 1;
  return b.seq - a.seq;
}

function storeQuery(visible: VisibleRegistry, filters: EventFilters, window?: { since: Date; until: Date }): EventQuery {
  const optional = <K extends 'actor' | 'repository' | 'action' | 'digest' | 'tag'>(key: K) => (filters[key] === undefined ? {} : { [key]: filters[key] });
  const since = window?.since ?? filters.since;
  return {
    registry: visible.registry,
    ...(visible.within === undefined ? {} : { within: visible.within }),
    ...optional('actor'),
    ...optional('repository'),
    ...optional('action'),
    ...optional('digest'),
    ...optional('tag'),
    ...(since === undefined ? {} : { since }),
    ...(window === undefined ? {} : { until: window.until }),
    limit: filters.limit,
  };
}

export class EventReader {
  constructor(private readonly store: EventStore) {}

  /** The events `visible` allows that match `filters`, newest first, at most `filters.limit`. */
  async list(visible: readonly VisibleRegistry[], filters: EventFilters, placement: Placement): Promise<RegistryEventObject[]> {
    if (filters.otherNamespace === true) return [];
    const registries = visible.filter((v) => filters.registry === undefined || v.registry === filters.registry);
    let window: { since: Date; until: Date } | undefined;
    if (filters.name !== undefined) {
      const at = eventTimeOf(filters.name);
      if (at === undefined) return [];
      // A name carries its event's millisecond: the store is asked for that millisecond only.
      if (filters.since !== undefined && filters.since > at) return [];
      window = { since: at, until: new Date(at.getTime() + 1) };
    }
    const found = (await Promise.all(registries.map((v) => this.store.query(storeQuery(v, filters, window))))).flat();
    const matching = filters.name === undefined ? found : found.filter((e) => eventName(e) === filters.name);
    return matching
      .sort(newestFirst)
      .slice(0, filters.limit)
      .map((e) => toObject(e, 'namespace' in placement ? placement.namespace : e.registry.split('/')[0]!));
  }

  /** One event by name, if `visible` allows it. */
  async get(visible: readonly VisibleRegistry[], name: string, namespace: string): Promise<RegistryEventObject | undefined> {
    const [event] = await this.list(visible, { name, limit: 5000 }, { namespace });
    return event;
  }
}
