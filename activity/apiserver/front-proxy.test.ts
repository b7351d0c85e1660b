// Who the front proxy may say a request comes from: only a verified certificate with an allowed name
// makes the headers count; the refusals first.
import { describe, expect, it } from 'vitest';
import { authenticate, parseFrontProxyConfig, type FrontProxyConfig } from './front-proxy.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const published = {
  'client-ca-file': CA,
  'requestheader-client-ca-file': CA,
  'requestheader-allowed-names': '["front-proxy-client"]',
  'requestheader-username-headers': '["X-Remote-User"]',
  'requestheader-group-headers': '["X-Remote-Group"]',
  'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
};
const config: FrontProxyConfig = parseFrontProxyConfig(published);
const proxy = { verified: true, commonName: 'front-proxy-client' };
const headers = { 'x-remote-user': ['alice'], 'x-remote-group': ['team-a', 'system:authenticated'], 'x-remote-extra-scopes%2fa': ['one', 'two'] };

describe('parseFrontProxyConfig', () => {
  it('reads what the kube-apiserver publishes', () => {
    expect(config).toEqual({
      clientCA: CA,
      allowedNames: ['front-proxy-client'],
      usernameHeaders: ['X-Remote-User'],
      groupHeaders: ['X-Remote-Group'],
      extraHeaderPrefixes: ['X-Remote-Extra-'],
      uidHeaders: [],
    });
  });

  it.each([
    ['no ConfigMap data at all', undefined, /no requestheader-client-ca-file/],
    ['only the cluster client CA (no front proxy configured)', { 'client-ca-file': CA }, /no requestheader-client-ca-file/],
    ['allowed names that are not a JSON list', { ...published, 'requestheader-allowed-names': 'front-proxy-client' }, /not a JSON list/],
    ['no username header', { ...published, 'requestheader-username-headers': '[]' }, /username-headers is empty/],
  ])('refuses %s', (_, data, message) => {
    expect(() => parseFrontProxyConfig(data)).toThrow(message);
  });
});

describe('authenticate', () => {
  it.each([
    ['before the configuration was read', undefined, proxy, headers, /not been read/],
    ['a connection without a verified certificate (no certificate, or another CA)', config, { verified: false }, headers, /through the kube-apiserver/],
    ['a certificate of the CA with a name that is not allowed', config, { verified: true, commonName: 'admin' }, headers, /"admin" is not an allowed/],
    ['the proxy naming no user', config, proxy, { 'x-remote-group': ['system:masters'] }, /named no user/],
  ])('names nobody %s', (_, cfg, peer, hdrs, reason) => {
    const result = authenticate(cfg, peer, hdrs);
    expect(result).toEqual({ refused: expect.stringMatching(reason) as string });
  });

  it('believes the headers from the front proxy: user, each group, extra keys decoded', () => {
    expect(authenticate(config, proxy, headers)).toEqual({
      user: { username: 'alice', groups: ['team-a', 'system:authenticated'], extra: { 'scopes/a': ['one', 'two'] } },
    });
  });

  it('accepts any certificate of the CA when no names are listed', () => {
    expect(authenticate({ ...config, allowedNames: [] }, { verified: true, commonName: 'anything' }, headers)).toMatchObject({ user: { username: 'alice' } });
  });

  it('reads the uid header when the kube-apiserver sends one', () => {
    const withUid = { ...config, uidHeaders: ['X-Remote-Uid'] };
    expect(authenticate(withUid, proxy, { ...headers, 'x-remote-uid': ['1234'] })).toMatchObject({ user: { username: 'alice', uid: '1234' } });
  });
});
