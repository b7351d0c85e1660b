// Offline validation of RegistryWebhook (what `portcullis compile` and the API server both refuse); the
// API server's own refusal of the credential and signature-header rows is checked in
// test/e2e/activity-webhooks.test.ts.
import { describe, expect, it } from 'vitest';
import { validateResource, withCrdDefaults } from './schema.js';
import type { RegistryWebhookResource } from './types.js';

const hook = (): RegistryWebhookResource => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'RegistryWebhook',
  metadata: { name: 'ci', namespace: 'team-a' },
  spec: { registryRef: { name: 'main', namespace: 'registry' }, url: 'https://ci.example.com/hooks/registry', secretRef: { name: 'ci-hook' } },
});

function edited(edit: (o: { spec: Record<string, unknown> }) => void): unknown {
  const copy = structuredClone(hook()) as unknown as { spec: Record<string, unknown> };
  edit(copy);
  return copy;
}

describe('RegistryWebhook offline validation', () => {
  it.each([
    ['the minimal webhook', hook()],
    [
      'patterns, actions and headers',
      edited((h) => Object.assign(h.spec, { repositories: ['team-a/**'], actions: ['push', 'delete'], headers: [{ name: 'X-Team', value: 'a' }] })),
    ],
    ['an http URL with a port and query', edited((h) => (h.spec.url = 'http://10.1.2.3:8080/hook?token-free=1'))],
  ])('accepts %s', (_name, obj) => {
    expect(validateResource(obj)).toEqual([]);
  });

  it.each<[string, unknown, string[]]>([
    ['a file URL', edited((h) => (h.spec.url = 'file:///etc/passwd')), ['spec.url: must be an absolute http:// or https:// URL']],
    [
      'credentials in the URL',
      edited((h) => (h.spec.url = 'https://user:pw@ci.example.com/')),
      ['spec.url: must not contain credentials (user:password@); receivers check the signature instead'],
    ],
    [
      'overriding the signature header',
      edited((h) => (h.spec.headers = [{ name: 'x-portcullis-signature', value: 'sha256=0' }])),
      ['spec.headers[0].name: is set by the activity server or carries credentials (Authorization, Cookie, Proxy-*), which do not belong in plain text'],
    ],
    [
      'a bearer token in plain text',
      edited((h) => (h.spec.headers = [{ name: 'Authorization', value: 'Bearer x' }])),
      ['spec.headers[0].name: is set by the activity server or carries credentials (Authorization, Cookie, Proxy-*), which do not belong in plain text'],
    ],
    [
      'a line break in a header value',
      edited((h) => (h.spec.headers = [{ name: 'X-Team', value: 'a\r\nX-Evil: 1' }])),
      ['spec.headers[0].value: must not contain control characters such as line breaks'],
    ],
    [
      'a ${user} pattern',
      edited((h) => (h.spec.repositories = ['${user}/*'])),
      ['spec.repositories[0]: variables such as ${user} and ${namespace} have no meaning for webhooks; name the repositories'],
    ],
    ['an unknown action', edited((h) => (h.spec.actions = ['tag'])), ['spec.actions[0]: must be one of push, pull, delete']],
    ['no secret', edited((h) => delete h.spec.secretRef), ['spec.secretRef: is required']],
  ])('refuses %s', (_name, obj, expected) => {
    expect(validateResource(obj)).toEqual(expected);
  });

  it('defaults to push events of every repository, signed with the Secret key "secret"', () => {
    const spec = withCrdDefaults(hook()).spec;
    expect([spec.repositories, spec.actions, spec.secretRef.key, spec.disabled]).toEqual([['**'], ['push'], 'secret', false]);
  });
});
