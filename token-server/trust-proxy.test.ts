import { describe, expect, it } from 'vitest';
import { clientAddress, parseTrustProxy, trustHop } from './trust-proxy.js';

describe('client address behind proxies', () => {
  it('without --trust-proxy the socket peer is the client, whatever X-Forwarded-For says', () => {
    expect(clientAddress('10.0.0.5', '1.2.3.4', trustHop(undefined))).toBe('10.0.0.5');
  });

  it.each([
    ['1', '10.0.0.5', 'attacker-chosen, 203.0.113.7', '203.0.113.7'],
    ['2', '10.0.0.5', 'spoofed, 203.0.113.7, 10.1.1.1', '203.0.113.7'],
    ['1', '10.0.0.5', undefined, '10.0.0.5'],
    ['3', '10.0.0.5', '203.0.113.7', '203.0.113.7'],
    ['1', '10.0.0.5', ' , 203.0.113.7 ,, ', '203.0.113.7'],
    ['10.0.0.0/8', '10.0.0.5', 'spoofed, 203.0.113.7, 10.9.9.9', '203.0.113.7'],
    ['10.0.0.0/8', '::ffff:10.0.0.5', '198.51.100.1', '198.51.100.1'],
    ['10.0.0.0/8', '192.0.2.1', '198.51.100.1', '192.0.2.1'],
    ['10.0.0.1,fd00::/8', 'fd00::1', '10.0.0.1, 198.51.100.1', '198.51.100.1'],
    ['10.0.0.0/8', '10.0.0.5', '10.0.0.9, 10.0.0.8', '10.0.0.9'],
  ])('--trust-proxy %s, peer %s, X-Forwarded-For %s: the client is %s', (setting, peer, forwarded, expected) => {
    expect(clientAddress(peer, forwarded, trustHop(parseTrustProxy(setting)))).toBe(expected);
  });
});
