import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { thrownBy } from '../test/support/assert.js';
import { IGNORED_MEDIA_TYPES, intakePath, notificationEndpoints, parseActivityUrl } from './notification-endpoint.js';

describe('notification endpoints', () => {
  const registry = { namespace: 'registry', name: 'main' };

  it("is Distribution's endpoint list: one endpoint to the Registry's intake path, the token as a bearer header, blobs ignored", () => {
    const yaml = notificationEndpoints({ activityUrl: 'http://portcullis-activity.portcullis-system.svc:8080', registry, token: 'tok' });
    expect(parse(yaml)).toEqual([
      {
        name: 'portcullis',
        url: 'http://portcullis-activity.portcullis-system.svc:8080/events/registry/main',
        headers: { Authorization: ['Bearer tok'] },
        timeout: '2s',
        threshold: 5,
        backoff: '1s',
        ignore: { mediatypes: ['application/octet-stream'] },
      },
    ]);
  });

  it('a base URL with a path or a trailing slash gets the intake path appended once', () => {
    const yaml = notificationEndpoints({ activityUrl: 'https://activity.example.com/intake/', registry, token: 't' });
    expect((parse(yaml) as { url: string }[])[0]!.url).toBe('https://activity.example.com/intake/events/registry/main');
  });

  it('the intake path names the namespace, then the Registry', () => {
    expect(intakePath({ namespace: 'team-a', name: 'r1' })).toBe('/events/team-a/r1');
  });

  it('only blob events are dropped at the source: manifests keep their own media types', () => {
    expect(IGNORED_MEDIA_TYPES).toEqual(['application/octet-stream']);
  });
});

describe('--activity-url', () => {
  it.each([
    [
      'an in-cluster Service URL is kept as it is',
      'http://portcullis-activity.portcullis-system.svc:8080',
      'http://portcullis-activity.portcullis-system.svc:8080',
    ],
    ['a trailing slash is dropped', 'http://activity:8080/', 'http://activity:8080'],
    ['a path prefix is kept', 'https://activity.example.com/intake', 'https://activity.example.com/intake'],
  ])('%s', (_name, value, expected) => {
    expect(parseActivityUrl(value)).toBe(expected);
  });

  it.each([
    ['not a URL', '/events/hunter2', /absolute http\(s\) URL/],
    ['a host without a scheme', 'hunter2.svc:8080', /http or https URL/],
    ['another scheme', 'ftp://hunter2', /http or https URL/],
    ['credentials in the URL', 'http://user:hunter2@activity:8080', /must not carry credentials/],
    ['a query', 'http://activity:8080/?token=hunter2', /query or fragment/],
  ])('refuses %s, without repeating the value', (_name, value, message) => {
    const error = thrownBy(() => parseActivityUrl(value));
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('hunter2');
  });
});
