import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../event.js';
import { deliveryId, webhookPayload } from './payload.js';

const event: StoredEvent = {
  seq: 7,
  receivedAt: '2026-11-27T10:00:01.000Z',
  id: 'e-1',
  registry: 'registry/main',
  action: 'delete',
  repository: 'team-a/app',
  digest: 'sha256:abc',
  actor: 'alice',
  sourceAddr: '10.0.0.9:1234',
  requestId: 'req-1',
  timestamp: '2026-11-27T10:00:00.000Z',
};

describe('webhookPayload', () => {
  it('has the same keys for every action (absent ones null) and leaves out the client address and request id', () => {
    expect(webhookPayload(event)).toEqual({
      id: 'e-1',
      action: 'delete',
      registry: 'registry/main',
      repository: 'team-a/app',
      tag: null,
      digest: 'sha256:abc',
      mediaType: null,
      size: null,
      actor: 'alice',
      timestamp: '2026-11-27T10:00:00.000Z',
    });
  });
});

describe('deliveryId', () => {
  it('is the same for every retry of one event to one webhook', () => {
    expect(deliveryId('uid-1', 7)).toBe(deliveryId('uid-1', 7));
    expect(deliveryId('uid-1', 7)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('differs between events and between webhooks', () => {
    expect(new Set([deliveryId('uid-1', 7), deliveryId('uid-1', 8), deliveryId('uid-2', 7), deliveryId('uid-17', 0)]).size).toBe(4);
  });
});
