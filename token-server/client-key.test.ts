// One /64 is one client however its addresses are written; another /64 is another client; an IPv4 client
// is itself whether the socket reports it plain or IPv4-mapped.
import { describe, expect, it } from 'vitest';
import { clientKey } from './client-key.js';

describe('clientKey', () => {
  it.each([
    '2001:db8:aaaa:bbbb::1',
    '2001:db8:aaaa:bbbb::',
    '2001:DB8:AAAA:BBBB::1',
    '2001:0db8:aaaa:bbbb:0000:0000:0000:0001',
    '2001:db8:aaaa:bbbb:0:0:0:1',
    '2001:db8:aaaa:bbbb:ffff:ffff:ffff:ffff',
    '2001:db8:aaaa:bbbb:1234:5678:9abc:def0',
    '2001:db8:aaaa:bbbb:1::',
    '2001:db8:aaaa:bbbb::1.2.3.4',
    '2001:db8:aaaa:bbbb::1%eth0',
    '2001:db8:aaaa:bbbb::1%25',
  ])('%s is in 2001:db8:aaaa:bbbb::/64', (address) => {
    expect(clientKey(address)).toBe(clientKey('2001:db8:aaaa:bbbb::1'));
  });

  it.each([
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:db8::', '2001:db8:0:0::/64'],
    ['2001:db8:0:0:1::', '2001:db8:0:0::/64'],
    ['2001:db8::1:0:0:1', '2001:db8:0:0::/64'],
    ['2001:db8:0:1::1', '2001:db8:0:1::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['fe80::2%eth1', 'fe80:0:0:0::/64'],
  ])('%s is keyed %s', (address, key) => {
    expect(clientKey(address)).toBe(key);
  });

  it.each([
    ['2001:db8:aaaa:bbbb::1', '2001:db8:aaaa:bbbc::1'],
    ['2001:db8:aaaa:bbbb::1', '2001:db8:aaaa::bbbb:0:0:1'],
    ['2001:db8::1', '2001:db9::1'],
    ['2001:db8::1', '2001:db8:0:1::'],
    ['::1', '::ffff:0.0.0.1'],
    ['1.2.3.4', '1.2.3.5'],
    ['1.2.3.4', '::1.2.3.4'],
    ['1.2.3.4', '64:ff9b:1::1.2.3.4'],
    ['64:ff9b::1.2.3.4', '64:ff9b::1.2.3.5'],
  ])('%s and %s are different clients', (a, b) => {
    expect(clientKey(a)).not.toBe(clientKey(b));
  });

  it.each(['::ffff:1.2.3.4', '::FFFF:1.2.3.4', '::ffff:102:304', '0:0:0:0:0:ffff:0102:0304', '::ffff:1.2.3.4%eth0'])(
    'the IPv4-mapped %s is 1.2.3.4',
    (mapped) => {
      expect(clientKey(mapped)).toBe('1.2.3.4');
      expect(clientKey(mapped)).toBe(clientKey('1.2.3.4'));
    },
  );

  it.each(['64:ff9b::1.2.3.4', '64:FF9B::102:304', '64:ff9b:0:0:0:0:102:304'])(
    'the NAT64-translated %s is 1.2.3.4, not one /64 for the whole IPv4 internet',
    (translated) => {
      expect(clientKey(translated)).toBe('1.2.3.4');
    },
  );

  it('an IPv4 client is its own address', () => {
    expect(clientKey('203.0.113.9')).toBe('203.0.113.9');
  });

  it.each(['', 'proxy.internal', '2001:db8::1 ', '[2001:db8::1]', '1.2.3.4:5678', '01.2.3.4'])(
    '%j is no address: keyed by its digest, never as an address is',
    (text) => {
      const key = clientKey(text);
      expect(key).toMatch(/^\?[A-Za-z0-9_-]{22}$/);
      expect(clientKey(`${text} `)).not.toBe(key);
    },
  );

  it('a hop of 8 KB that is no address is a key of 23 characters', () => {
    expect(clientKey('x'.repeat(8192))).toHaveLength(23);
  });

  it('text that spells an address key is not that address', () => {
    expect(clientKey('2001:db8:0:0::/64')).not.toBe(clientKey('2001:db8::1'));
  });
});
