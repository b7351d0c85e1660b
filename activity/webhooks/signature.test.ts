import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signDelivery, verifyDelivery } from './signature.js';

const key = Buffer.from('webhook-key');
const body = '{"id":"e1","action":"push"}';

describe('delivery signatures', () => {
  it('is sha256= and the hex HMAC-SHA256 of timestamp "." body, as docs/webhooks.md tells receivers', () => {
    const expected = createHmac('sha256', 'webhook-key').update(`1700000000.${body}`).digest('hex');
    expect(signDelivery(key, '1700000000', body)).toBe(`sha256=${expected}`);
  });

  it.each<[string, { key?: Buffer; timestamp?: string; signature?: string; body?: string; now?: number }, boolean]>([
    ['a fresh, correctly signed delivery', {}, true],
    ['attack: another body under the same signature', { body: '{"id":"e2","action":"push"}' }, false],
    ['attack: signed with another key', { key: Buffer.from('guess') }, false],
    ['attack: the signature replayed with a newer timestamp', { timestamp: '1700000100' }, false],
    ['attack: a capture replayed ten minutes later', { now: 1700000600 }, false],
    ['attack: no signature', { signature: '' }, false],
    ['attack: a truncated signature', { signature: 'sha256=00' }, false],
    ['attack: a timestamp that is not a number', { timestamp: '17e8' }, false],
  ])('%s: %s', (_sentence, change, valid) => {
    const signature = signDelivery(key, '1700000000', body);
    const result = verifyDelivery(
      change.key ?? key,
      { timestamp: change.timestamp ?? '1700000000', signature: change.signature ?? signature, body: change.body ?? body },
      change.now ?? 1700000010,
    );
    expect(result).toBe(valid);
  });
});
