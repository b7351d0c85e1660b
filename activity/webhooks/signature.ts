// How a receiver knows a delivery came from this cluster and was not replayed much later: every POST
// carries X-Portcullis-Timestamp (Unix seconds) and X-Portcullis-Signature = "sha256=" + the hex
// HMAC-SHA256, under the webhook's Secret key, of `timestamp + "." + body` — the body exactly as sent, so
// receivers verify the raw bytes before parsing. Signing the timestamp with the body lets a receiver
// refuse an old delivery replayed by whoever captured it (docs/webhooks.md shows the check).

import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_PREFIX = 'sha256=';

/** The headers the activity server sets on every delivery (a webhook's own headers may not override them). */
export const DeliveryHeaders = {
  /** The event's action: push, pull or delete. */
  event: 'X-Portcullis-Event',
  /** Unique per webhook and event; the same on every retry of that event, so receivers can de-duplicate. */
  delivery: 'X-Portcullis-Delivery',
  timestamp: 'X-Portcullis-Timestamp',
  signature: 'X-Portcullis-Signature',
} as const;

/** The X-Portcullis-Signature value for one delivery. */
export function signDelivery(key: Buffer, timestamp: string, body: string): string {
  return SIGNATURE_PREFIX + createHmac('sha256', key).update(`${timestamp}.${body}`).digest('hex');
}

/**
 * What a receiver does: recompute and compare in constant time, and refuse a timestamp further than
 * `toleranceSeconds` from its own clock. Exported for receivers written in TypeScript and for the tests.
 */
export function verifyDelivery(
  key: Buffer,
  delivery: { timestamp: string | undefined; signature: string | undefined; body: string },
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  const { timestamp, signature, body } = delivery;
  if (timestamp === undefined || signature === undefined || !/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const expected = Buffer.from(signDelivery(key, timestamp, body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
