import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { KubeClient } from '../../../kube/request.js';
import { KeysController } from './controller.js';

describe('KeysController', () => {
  it('can be created again on the same metrics registry (a replica that regains the Lease)', () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const metrics = new Registry();
    const make = () => new KeysController({ client: new KubeClient(kc), log: pino({ level: 'silent' }), metrics });
    make();
    expect(() => make()).not.toThrow();
    expect(metrics.getSingleMetric('portcullis_signing_key_age_seconds')).toBeDefined();
  });
});
