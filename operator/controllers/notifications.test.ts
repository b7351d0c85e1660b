import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { RegistryResource } from '../../crds/types.js';
import { notificationToken } from '../../wire/notification-token.js';
import { notificationsSecret } from './notifications.js';
import type { AppliedObject } from '../writes/apply.js';

const registry: RegistryResource = {
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'Registry',
  metadata: { name: 'main', namespace: 'registry', uid: 'uid-1' },
  spec: { service: 'registry.example.com', distribution: { deployment: 'registry' } },
};
const key = Buffer.from('an activity key of at least thirty-two bytes');
const activity = { url: 'http://portcullis-activity.portcullis-system.svc:8080', key };

function endpoints(secret: AppliedObject): { url: string; headers: { Authorization: string[] } }[] {
  const data = secret.data as Record<string, string>;
  return parse(Buffer.from(data.endpoints!, 'base64').toString('utf8')) as { url: string; headers: { Authorization: string[] } }[];
}

describe('notifications Secret', () => {
  const { secret, ref } = notificationsSecret(registry, activity);

  it("is named for the Registry, labelled and owned by it like the operator's other objects", () => {
    expect(secret.metadata).toEqual({
      name: 'portcullis-main-notifications',
      namespace: 'registry',
      labels: { 'portcullis.dev/registry': 'main', 'app.kubernetes.io/managed-by': 'portcullis-operator' },
      ownerReferences: [{ apiVersion: 'portcullis.dev/v1alpha1', kind: 'Registry', name: 'main', uid: 'uid-1', controller: true }],
    });
    expect(Object.keys(secret.data as object)).toEqual(['endpoints']);
    expect(ref.secretName).toBe('portcullis-main-notifications');
  });

  it("carries the Registry's derived token to its own intake path", () => {
    const [endpoint] = endpoints(secret);
    expect(endpoint!.url).toBe('http://portcullis-activity.portcullis-system.svc:8080/events/registry/main');
    expect(endpoint!.headers.Authorization).toEqual([`Bearer ${notificationToken(key, { namespace: 'registry', name: 'main' })}`]);
  });

  it('the hash names neither the token nor the key', () => {
    const token = notificationToken(key, { namespace: 'registry', name: 'main' });
    expect(ref.hash).toMatch(/^[0-9a-f]{32}$/);
    expect(ref.hash).not.toContain(token);
  });

  it.each([
    ['a new URL', { url: 'http://activity.other.svc:8080', key }],
    ['a new key', { url: activity.url, key: Buffer.from('another activity key, also thirty-two bytes') }],
  ])('%s changes the hash (and so rolls the Deployment)', (_name, changed) => {
    expect(notificationsSecret(registry, changed).ref.hash).not.toBe(ref.hash);
  });

  it('the same URL and key give the same content and hash (a resync writes nothing new)', () => {
    expect(notificationsSecret(registry, activity)).toEqual({ secret, ref });
  });

  it('another Registry gets another token', () => {
    const other = notificationsSecret({ ...registry, metadata: { ...registry.metadata, name: 'other' } }, activity).secret;
    expect(endpoints(other)[0]!.headers.Authorization).not.toEqual(endpoints(secret)[0]!.headers.Authorization);
  });
});
