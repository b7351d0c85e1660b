import { describe, expect, it } from 'vitest';
import { parseRequest, registryHostOf, respond } from './exchange.js';

const now = () => new Date('2026-11-27T12:00:00Z');
const nowSeconds = now().getTime() / 1000;
const token = (exp: number) => `e30.${Buffer.from(JSON.stringify({ exp, aud: ['registry.example.com'] })).toString('base64url')}.sig`;
const request = (image: string, serviceAccountToken?: string) => ({
  apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
  kind: 'CredentialProviderRequest' as const,
  image,
  ...(serviceAccountToken === undefined ? {} : { serviceAccountToken }),
});

describe('registryHostOf', () => {
  it.each([
    ['registry.example.com/team/app:v1', 'registry.example.com'],
    ['localhost:5000/app@sha256:abc', 'localhost:5000'],
    ['localhost/app', 'localhost'],
    ['team/app', 'docker.io'],
    ['nginx', 'docker.io'],
  ])('%s is on %s', (image, host) => expect(registryHostOf(image)).toBe(host));
});

describe('respond', () => {
  const options = { registries: ['registry.example.com'], username: 'serviceaccount', maxCacheSeconds: 600, now };

  it('hands the token to the image registry, cached until shortly before it expires', () => {
    const t = token(nowSeconds + 300);
    expect(respond(request('registry.example.com/team/app:v1', t), options)).toEqual({
      apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
      kind: 'CredentialProviderResponse',
      cacheKeyType: 'Registry',
      cacheDuration: '240s',
      auth: { 'registry.example.com': { username: 'serviceaccount', password: t } },
    });
    expect(respond(request('registry.example.com/a', token(nowSeconds + 7200)), options).cacheDuration).toBe('600s');
  });

  it('gives nothing for a registry it was not configured for', () => {
    expect(respond(request('other.example.com/a', token(nowSeconds + 300)), options).auth).toEqual({});
  });

  it('answers for no host at all without a --registry: the token never goes to an image registry not named', () => {
    expect(() => respond(request('evil.example.net/x', token(nowSeconds + 300)), { ...options, registries: [] })).toThrow(/no --registry/);
  });

  it('refuses a request without a token, saying how to configure the kubelet', () => {
    expect(() => respond(request('registry.example.com/a'), options)).toThrow(/serviceAccountTokenAudience/);
  });
});

describe('parseRequest', () => {
  it.each([
    ['not JSON', 'token=abc', 'not a JSON CredentialProviderRequest'],
    ['another kind', JSON.stringify({ kind: 'Pod' }), 'not a CredentialProviderRequest'],
    ['an old apiVersion', JSON.stringify({ ...request('a/b'), apiVersion: 'credentialprovider.kubelet.k8s.io/v1alpha1' }), 'unsupported apiVersion'],
    ['no image', JSON.stringify({ ...request('a/b'), image: '' }), 'names no image'],
  ])('refuses %s', (_name, text, message) => expect(() => parseRequest(text)).toThrow(message));
});
