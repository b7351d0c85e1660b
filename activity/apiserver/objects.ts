// A stored event as the API returns it: a RegistryEvent object in the namespace it was listed in, with
// a name a client can GET it by again. Distribution's event ids are unique only per registry and may be
// any text, so the name is derived: the event's time in epoch milliseconds (which lets a GET ask the
// store for one millisecond instead of scanning) and a hash of registry and id.

import { createHash } from 'node:crypto';
import type { StoredEvent } from '../event.js';
import { GROUP_VERSION, REGISTRY_EVENTS } from './group.js';

/** The event's own fields as stored (the store's `seq` is an internal order, not part of the API). */
export type RegistryEventObject = {
  apiVersion: typeof GROUP_VERSION;
  kind: 'RegistryEvent';
  metadata: { name: string; namespace: string; creationTimestamp: string };
} & Omit<StoredEvent, 'seq'>;

export interface RegistryEventList {
  apiVersion: typeof GROUP_VERSION;
  kind: 'RegistryEventList';
  metadata: Record<string, never>;
  items: RegistryEventObject[];
}

const NAME = /^(\d{1,15})-([0-9a-f]{12})$/;

export function eventName(event: Pick<StoredEvent, 'registry' | 'id' | 'timestamp'>): string {
  const hash = createHash('sha256').update(`${event.registry}\n${event.id}`).digest('hex').slice(0, 12);
  return `${Date.parse(event.timestamp)}-${hash}`;
}

/** The millisecond a name's event happened at; undefined for a name this server never made. */
export function eventTimeOf(name: string): Date | undefined {
  const m = NAME.exec(name);
  return m === null ? undefined : new Date(Number(m[1]));
}

/** RFC 3339 to the second, as metav1.Time is written. */
function seconds(iso: string): string {
  return new Date(Date.parse(iso)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function toObject(event: StoredEvent, namespace: string): RegistryEventObject {
  const optional = <K extends keyof StoredEvent>(key: K): Partial<Pick<StoredEvent, K>> =>
    event[key] === undefined ? {} : ({ [key]: event[key] } as Pick<StoredEvent, K>);
  return {
    apiVersion: GROUP_VERSION,
    kind: REGISTRY_EVENTS.kind as 'RegistryEvent',
    metadata: { name: eventName(event), namespace, creationTimestamp: seconds(event.timestamp) },
    registry: event.registry,
    id: event.id,
    action: event.action,
    repository: event.repository,
    ...optional('tag'),
    ...optional('digest'),
    ...optional('mediaType'),
    ...optional('size'),
    ...optional('actor'),
    ...optional('sourceAddr'),
    ...optional('requestId'),
    timestamp: event.timestamp,
    receivedAt: event.receivedAt,
  };
}

export function toList(items: RegistryEventObject[]): RegistryEventList {
  return { apiVersion: GROUP_VERSION, kind: 'RegistryEventList', metadata: {}, items };
}
