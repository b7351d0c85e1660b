// What the activity trail stores: one row per manifest push, pull or delete that Distribution reported
// (blob events are dropped at intake: a pull of a ten-layer image is one event, not eleven). This file
// is the contract between intake (envelope.ts, intake.ts), the stores (store/), the query API
// (apiserver/) and webhook delivery (webhooks/).

export type EventAction = 'push' | 'pull' | 'delete';
export const EVENT_ACTIONS: readonly EventAction[] = ['push', 'pull', 'delete'];

/** One registry event as Distribution reported it, tied to the Registry that sent it. */
export interface RegistryEvent {
  /** Distribution's event id: with `registry`, the de-duplication key (Distribution redelivers). */
  id: string;
  /** The Registry object that sent it, "namespace/name" (from the authenticated intake path). */
  registry: string;
  action: EventAction;
  repository: string;
  tag?: string;
  digest?: string;
  mediaType?: string;
  size?: number;
  /** The access token's `sub` as Distribution reports it (`actor.name`); absent for anonymous pulls. */
  actor?: string;
  /** The client's address as the registry saw it (`request.addr`). */
  sourceAddr?: string;
  /** Distribution's request id (`request.id`). */
  requestId?: string;
  /** When the registry saw it (the envelope's `timestamp`), ISO 8601. */
  timestamp: string;
}

/** A stored event: `seq` increases with every insert and orders webhook delivery. */
export interface StoredEvent extends RegistryEvent {
  seq: number;
  /** When intake stored it, ISO 8601 (intake lag = receivedAt - timestamp). */
  receivedAt: string;
}

/** A query over one Registry's events; every filter given must match. Newest first. */
export interface EventQuery {
  registry: string;
  actor?: string;
  /** Exact repository name. */
  repository?: string;
  /** Repository patterns (policy/match.ts syntax: `team-a/**`); an event matches if any matches. A tenant's prefixes. */
  within?: readonly string[];
  action?: EventAction;
  digest?: string;
  tag?: string;
  since?: Date;
  until?: Date;
  /** Default 500, at most 5000. */
  limit?: number;
}

export interface RetentionLimits {
  /** Events whose timestamp is older than this many milliseconds are removed. */
  maxAgeMs?: number;
  /** At most this many events are kept (the oldest go first). */
  maxRows?: number;
}

export interface EventStore {
  /** Stores the batch in one transaction; returns how many were new (duplicates by registry+id are skipped). */
  append(events: readonly RegistryEvent[]): Promise<number>;
  query(query: EventQuery): Promise<StoredEvent[]>;
  /**
   * Events of `registry` with seq > `afterSeq`, oldest first (webhook delivery reads this); with
   * `within`, only those of repositories its patterns match (`within` of EventQuery), reading at most 20
   * times `limit` rows: fewer than `limit` may come back before the last event.
   */
  after(registry: string, afterSeq: number, limit: number, within?: readonly string[]): Promise<StoredEvent[]>;
  /** A webhook's delivery cursor (the last seq it delivered or skipped), keyed by the webhook's uid. */
  cursor(key: string): Promise<number | undefined>;
  setCursor(key: string, seq: number): Promise<void>;
  /** Forgets a cursor (its webhook was deleted). */
  deleteCursor(key: string): Promise<void>;
  /** Every cursor's key. */
  cursorKeys(): Promise<string[]>;
  /** The highest seq stored, 0 when empty. */
  maxSeq(): Promise<number>;
  /** Applies retention; returns how many events were removed. */
  prune(limits: RetentionLimits, now: Date): Promise<number>;
  close(): Promise<void>;
}
