// What a receiver gets: one small JSON object per event, with the same keys every time (absent values
// are null), so a receiver's schema never depends on the action. Only what the event says about the
// image and who acted is sent; the client's address and the registry's request id stay in the trail.

import { createHash } from 'node:crypto';
import type { EventAction, StoredEvent } from '../event.js';

export interface WebhookPayload {
  /** Distribution's event id. */
  id: string;
  action: EventAction;
  /** The Registry, "namespace/name". */
  registry: string;
  repository: string;
  tag: string | null;
  digest: string | null;
  mediaType: string | null;
  size: number | null;
  /** The token's subject; null for anonymous pulls. */
  actor: string | null;
  /** When the registry saw it, ISO 8601. */
  timestamp: string;
}

export function webhookPayload(event: StoredEvent): WebhookPayload {
  return {
    id: event.id,
    action: event.action,
    registry: event.registry,
    repository: event.repository,
    tag: event.tag ?? null,
    digest: event.digest ?? null,
    mediaType: event.mediaType ?? null,
    size: event.size ?? null,
    actor: event.actor ?? null,
    timestamp: event.timestamp,
  };
}

/**
 * The X-Portcullis-Delivery id: derived from the webhook's uid and the event's seq, so it is unique per
 * webhook and event, and a retry (or a redelivery after a restart) carries the same id.
 */
export function deliveryId(webhookUid: string, seq: number): string {
  const hex = createHash('sha256').update(`${webhookUid}\n${seq}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
