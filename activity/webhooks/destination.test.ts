import { describe, expect, it } from 'vitest';
import { isForbiddenAddress, literalAddressProblem } from './destination.js';

describe('isForbiddenAddress', () => {
  it.each([
    ['the cloud metadata address', '169.254.169.254', true],
    ['anything link-local', '169.254.1.1', true],
    ['IPv6 link-local', 'fe80::1', true],
    ['AWS IPv6 metadata', 'fd00:ec2::254', true],
    ['the metadata address mapped into IPv6', '::ffff:169.254.169.254', true],
    ['0.0.0.0 (connects to this host)', '0.0.0.0', true],
    ['the unspecified IPv6 address', '::', true],
    ['a pod or Service address', '10.96.0.10', false],
    ['loopback (the tests’ receivers)', '127.0.0.1', false],
    ['a public address', '203.0.113.5', false],
    ['a name (checked after lookup instead)', 'metadata.google.internal', false],
  ])('%s: %s', (_sentence, address, forbidden) => {
    expect(isForbiddenAddress(address)).toBe(forbidden);
  });
});

describe('literalAddressProblem', () => {
  it('refuses a URL whose host is a forbidden literal, brackets and all', () => {
    expect(literalAddressProblem(new URL('http://169.254.169.254/latest/meta-data/'))).toMatch(/link-local or metadata address/);
    expect(literalAddressProblem(new URL('http://[fe80::1]:8080/'))).toMatch(/link-local or metadata address/);
    expect(literalAddressProblem(new URL('https://ci.example.com/'))).toBeUndefined();
  });

  it.each(['http://2852039166/', 'http://0xA9FEA9FE/', 'http://0251.0376.0251.0376/', 'http://[::ffff:169.254.169.254]/'])(
    'attack: the metadata address spelled %s is still refused',
    (url) => {
      expect(literalAddressProblem(new URL(url))).toMatch(/link-local or metadata address/);
    },
  );
});
