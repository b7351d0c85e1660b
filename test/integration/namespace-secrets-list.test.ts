// operator/controllers/namespace-secrets-list.ts against a real API server: the LIST at an exact
// resourceVersion returns the namespace's Secrets as they were then, in pages, and not one created after
// (what lets password-hashes.ts read a whole namespace without reading a Secret no user names).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../kube/request.js';
import { startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { forEachLimited } from '../../operator/controllers/for-each-limited.js';
import { listSecretsAt } from '../../operator/controllers/namespace-secrets-list.js';

const COUNT = 520;
let cp: ControlPlane;
let client: KubeClient;

beforeAll(async () => {
  cp = await startControlPlane();
  client = new KubeClient(cp.kubeConfig);
  await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bulk' } } });
  await forEachLimited(
    Array.from({ length: COUNT }, (_, i) => i),
    32,
    (i) =>
      client.request('POST', '/api/v1/namespaces/bulk/secrets', {
        body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: `pw-${i}` }, stringData: { password: `password-${i}` } },
      }),
  );
}, 120_000);

afterAll(async () => {
  await cp?.stop();
});

describe('listSecretsAt', () => {
  it('returns the Secrets as they were at that version, over more than one page, and none created after', async () => {
    const list = await client.get<{ metadata: { resourceVersion: string } }>('/api/v1/namespaces/bulk/secrets', { limit: 1 });
    const version = list.metadata.resourceVersion;
    await client.request('POST', '/api/v1/namespaces/bulk/secrets', {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'created-after' }, stringData: { password: 'not for this pass' } },
    });
    await client.request('DELETE', '/api/v1/namespaces/bulk/secrets/pw-0');

    const secrets = await listSecretsAt(client, 'bulk', version);
    const names = secrets.map((s) => s.metadata.name).sort();
    expect(names).toEqual(Array.from({ length: COUNT }, (_, i) => `pw-${i}`).sort());
    expect(Buffer.from(secrets.find((s) => s.metadata.name === 'pw-7')!.data!.password!, 'base64').toString()).toBe('password-7');
  });
});
