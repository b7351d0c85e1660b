import { describe, expect, it } from 'vitest';
import { headerProblem, webhookUrlProblem } from './webhook-spec.js';

describe('webhookUrlProblem', () => {
  it.each<[string, unknown, string | undefined]>([
    ['an https URL', 'https://ci.example.com/hooks/registry?x=1', undefined],
    ['an http URL on a port', 'http://10.0.0.7:8080/hook', undefined],
    ['an IPv6 literal', 'http://[::1]:9000/', undefined],
    ['attack: credentials in the URL', 'https://user:pass@ci.example.com/hook', 'url must not contain credentials (user:password@)'],
    ['attack: a user name alone', 'https://token@ci.example.com/hook', 'url must not contain credentials (user:password@)'],
    ['attack: another scheme', 'file:///etc/passwd', 'url must be an absolute http:// or https:// URL'],
    ['attack: gopher', 'gopher://ci.example.com/', 'url must be an absolute http:// or https:// URL'],
    ['a relative URL', '/hook', 'url must be an absolute http:// or https:// URL'],
    ['no host at all', 'http://', 'url must be an absolute http:// or https:// URL'],
    ['not a string', 42, 'url must be an absolute http:// or https:// URL'],
  ])('%s', (_sentence, url, expected) => {
    expect(webhookUrlProblem(url)).toBe(expected);
  });
});

describe('headerProblem', () => {
  it.each<[string, { name: unknown; value: unknown }, string | undefined]>([
    ['a routing header', { name: 'X-Team', value: 'a' }, undefined],
    ['a value with a tab', { name: 'X-Note', value: 'a\tb' }, undefined],
    [
      'attack: overriding the signature',
      { name: 'X-Portcullis-Signature', value: 'sha256=00' },
      'header X-Portcullis-Signature is set by the activity server or carries credentials',
    ],
    [
      'attack: the same in lower case',
      { name: 'x-portcullis-delivery', value: '1' },
      'header x-portcullis-delivery is set by the activity server or carries credentials',
    ],
    [
      'attack: a bearer token in plain text',
      { name: 'Authorization', value: 'Bearer abc' },
      'header Authorization is set by the activity server or carries credentials',
    ],
    [
      'attack: proxy credentials',
      { name: 'Proxy-Authorization', value: 'Basic abc' },
      'header Proxy-Authorization is set by the activity server or carries credentials',
    ],
    ['attack: changing the framing', { name: 'Content-Length', value: '0' }, 'header Content-Length is set by the activity server or carries credentials'],
    ['attack: rerouting', { name: 'Host', value: 'metadata.google.internal' }, 'header Host is set by the activity server or carries credentials'],
    [
      'attack: a line break splits the request',
      { name: 'X-Team', value: 'a\r\nX-Portcullis-Signature: x' },
      'header X-Team must have a value without control characters, at most 4096 long',
    ],
    ['attack: a colon in the name', { name: 'X-Team: a', value: 'b' }, 'header name "X-Team: a" must be letters, digits and dashes'],
    ['a name with an underscore', { name: 'X_Team', value: 'b' }, 'header name "X_Team" must be letters, digits and dashes'],
  ])('%s', (_sentence, header, expected) => {
    expect(headerProblem(header)).toBe(expected);
  });
});
