import { describe, expect, it } from 'vitest';
import { kubeConfigAvailable, parseApiListener, parseLeaseName, parseRetainRows, parseRetention } from './activity.js';

describe('activity flags', () => {
  it.each([
    ['90d', 90 * 86_400_000],
    ['1d', 86_400_000],
    ['720h', 720 * 3_600_000],
    ['1h30m', 5_400_000],
    ['0', undefined],
  ])('--retain %s', (value, ms) => {
    expect(parseRetention(value)).toBe(ms);
  });

  it.each(['90 days', '-1d', 'd', '1w', ''])('--retain %j is refused with a sentence', (value) => {
    expect(() => parseRetention(value)).toThrow(/invalid duration/);
  });

  it('--retain-rows takes a positive whole number only', () => {
    expect(parseRetainRows('1000000')).toBe(1_000_000);
    for (const bad of ['0', '-5', '1.5', '1e6', 'many']) expect(() => parseRetainRows(bad)).toThrow('--retain-rows must be a positive whole number');
  });

  it('--listen serves the aggregated API only with --tls-cert and --tls-key; without --listen there is none', () => {
    expect(parseApiListener({})).toBeUndefined();
    expect(parseApiListener({ listen: ':8443', tlsCert: 'c.pem', tlsKey: 'k.pem' })).toEqual({
      host: '0.0.0.0',
      port: 8443,
      tls: { certFile: 'c.pem', keyFile: 'k.pem' },
    });
    expect(() => parseApiListener({ listen: ':8443' })).toThrow('--listen serves the aggregated API over TLS only');
    expect(() => parseApiListener({ tlsCert: 'c.pem', tlsKey: 'k.pem' })).toThrow('give --listen too');
    expect(() => parseApiListener({ listen: '8443', tlsCert: 'c.pem', tlsKey: 'k.pem' })).toThrow('--listen must be HOST:PORT');
  });
});

describe('webhook delivery needs a kubeconfig', () => {
  const none = (): boolean => false;
  it.each<[string, NodeJS.ProcessEnv, (path: string) => boolean, boolean]>([
    ['KUBECONFIG set', { KUBECONFIG: '/tmp/admin.kubeconfig' }, none, true],
    ['~/.kube/config present', {}, (p) => p.endsWith('/.kube/config'), true],
    ['in a pod with its ServiceAccount token', { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, (p) => p.endsWith('serviceaccount/token'), true],
    ['a token file but not in a cluster', {}, (p) => p.endsWith('serviceaccount/token'), false],
    ['nothing at all (webhooks stay off)', { KUBECONFIG: '' }, none, false],
  ])('%s', (_sentence, env, exists, available) => {
    expect(kubeConfigAvailable(env, exists)).toBe(available);
  });
});

describe('--webhook-lease', () => {
  it('takes namespace/name', () => {
    expect(parseLeaseName('portcullis-system/portcullis-activity-webhooks')).toEqual({ namespace: 'portcullis-system', name: 'portcullis-activity-webhooks' });
  });
  it.each(['portcullis-activity-webhooks', 'a/b/c', '/name', 'ns/', 'NS/name', 'ns/na me'])('refuses %j with the flag named', (value) => {
    expect(() => parseLeaseName(value)).toThrow(/--webhook-lease must be namespace\/name/);
  });
});
