import { describe, expect, it } from 'vitest';
import type { RegistryTokenStatus } from '../../activity/apiserver/registry-token-object.js';
import { missingAction, registryTarget, serverSaid, subjectOf } from './registry-session.js';

describe('registryTarget', () => {
  it('asks in the Registry namespace by default: home', () => {
    expect(registryTarget({ registry: 'registry/main' })).toEqual({
      registry: 'registry/main',
      registryNamespace: 'registry',
      namespace: 'registry',
      home: true,
    });
  });

  it('a namespace of its own is a delegated one', () => {
    expect(registryTarget({ registry: 'registry/main', namespace: 'team-a' })).toMatchObject({ namespace: 'team-a', home: false });
  });

  it.each([
    [{ registry: 'main' }, /--registry must be NAMESPACE\/NAME, not "main"/],
    [{ registry: 'registry/main', namespace: 'Team_A' }, /--namespace must be a namespace name/],
    [{ registry: 'registry/main', server: 'registry.example.com' }, /--server must be https:\/\/HOST\[:PORT\]/],
    [{ registry: 'registry/main', server: 'https://registry.example.com/v2/' }, /--server must be/],
    [{ registry: 'registry/main', server: 'http://registry.example.com' }, /http:\/\/ only to a loopback address/],
    [{ registry: 'registry/main', server: 'http://10.0.0.5:5000' }, /the registry token would travel in the clear/],
    [{ registry: 'registry/main', server: 'http://[::1' }, /--server must be https:\/\/HOST\[:PORT\], not "http:\/\/\[::1"/],
  ])('refuses %j', (flags, message) => {
    expect(() => registryTarget(flags)).toThrow(message);
  });

  it.each(['http://localhost:5000', 'http://127.0.0.1:5000/', 'http://[::1]:5000', 'https://registry.example.com'])('accepts --server %s', (server) => {
    expect(() => registryTarget({ registry: 'registry/main', server })).not.toThrow();
  });
});

describe('token helpers', () => {
  const status: RegistryTokenStatus = {
    token: `e30.${Buffer.from(JSON.stringify({ sub: 'kubernetes:alice' })).toString('base64url')}.sig`,
    expirationTimestamp: '2026-11-27T12:05:00.000Z',
    service: 'registry.example.com',
    access: [{ type: 'repository', name: 'team-a/app', actions: ['pull'] }],
    withheld: [{ scope: 'repository:team-a/app:pull,delete', reason: 'pull on repository "team-a/app"; withheld: delete needs delete on registryimages' }],
  };

  it('reads whose token it is', () => expect(subjectOf(status.token)).toBe('kubernetes:alice'));
  it('a token it cannot read is nobody', () => expect(subjectOf('garbage')).toBe(''));
  it('an action the token carries is not missing', () => expect(missingAction(status, 'team-a/app', 'pull')).toBeUndefined());
  it('a missing action comes with the server reason', () => {
    expect(missingAction(status, 'team-a/app', 'delete')).toBe(
      'the token for team-a/app carries no delete: pull on repository "team-a/app"; withheld: delete needs delete on registryimages',
    );
  });
  it('drops the request line KubeClient puts before the server sentence', () => {
    expect(serverSaid(new Error('POST /apis/activity.portcullis.dev/v1alpha1/namespaces/x/registrytokens: Registry x/y not found'))).toBe(
      'Registry x/y not found',
    );
  });
});
