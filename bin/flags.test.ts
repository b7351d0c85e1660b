import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseListenAddress, parseLogLevel, parseNamespaceList } from './flags.js';

describe('--listen', () => {
  it.each([
    ['host and port', '127.0.0.1:5001', { host: '127.0.0.1', port: 5001 }],
    ['a bare port means every interface', ':5001', { host: '0.0.0.0', port: 5001 }],
    ['a bracketed IPv6 address', '[::1]:8443', { host: '::1', port: 8443 }],
    ['a host name', 'localhost:0', { host: 'localhost', port: 0 }],
  ])('accepts %s', (_name, value, expected) => {
    expect(parseListenAddress(value)).toEqual(expected);
  });

  it.each([
    ['no port', '127.0.0.1'],
    ['a port too large', ':70000'],
    ['an unbracketed IPv6 address', '::1:80'],
    ['nothing', ''],
  ])('refuses %s', (_name, value) => {
    expect(() => parseListenAddress(value)).toThrow(/--listen/);
  });

  it('names the flag it parses', () => {
    expect(() => parseListenAddress('nope', '--metrics-listen')).toThrow(/^--metrics-listen must be HOST:PORT/);
  });

  it('round-trips any IPv4 address and port', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 65535 }), (host, port) => {
        expect(parseListenAddress(`${host}:${port}`)).toEqual({ host, port });
      }),
    );
  });
});

describe('--log-level', () => {
  it.each(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])('accepts %s', (level) => {
    expect(parseLogLevel(level)).toBe(level);
  });
  it('refuses anything else, listing the levels', () => {
    expect(() => parseLogLevel('verbose')).toThrow(/unknown --log-level "verbose": use trace, debug, info, warn, error, fatal/);
  });
});

describe('--registry-namespaces', () => {
  it('reads a comma-separated list, spaces and duplicates dropped', () => {
    expect(parseNamespaceList('registry, team-a,,registry', '--registry-namespaces')).toEqual(['registry', 'team-a']);
  });

  it.each([
    ['nothing', ''],
    ['only commas', ' , '],
    ['a name that is no namespace', 'registry,Team_A'],
    ['a name too long', 'a'.repeat(64)],
  ])('refuses %s', (_name, value) => {
    expect(() => parseNamespaceList(value, '--registry-namespaces')).toThrow(/--registry-namespaces/);
  });
});
