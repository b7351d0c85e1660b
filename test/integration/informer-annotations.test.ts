// What an informer's cache holds of the annotations the API server sends, on a real API server. The
// premise first: `kubectl apply` keeps the manifest it applied in an annotation, a Secret's stringData
// included, and the API server's metadata-only answers (PartialObjectMetadata, what the operator's watch
// of every Secret asks for) carry it. The operator's cache must not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConnection, type KubeConnection } from '../../kube/connection.js';
import { Informer, LAST_APPLIED_ANNOTATION, type KubeObject } from '../../kube/informer.js';
import { KubeClient, METADATA_OBJECT, Resources, type ResourceType } from '../../kube/request.js';
import { startControlPlane, type ControlPlane } from '../../local/controlPlane.js';

const NS = 'apps';
const PASSWORD = 'hunter2-in-the-annotation';

let cp: ControlPlane;
let kc: KubeConnection;
let client: KubeClient;
const informers: Informer<KubeObject>[] = [];

/** A Secret as `kubectl apply -f` creates it: its manifest, stringData and all, in the last-applied annotation. */
function appliedSecret(name: string, password: string) {
  const manifest = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS }, stringData: { password } };
  return { ...manifest, metadata: { ...manifest.metadata, annotations: { [LAST_APPLIED_ANNOTATION]: JSON.stringify(manifest), 'team.example/owner': 'a' } } };
}

function informer(options: { metadataOnly?: boolean; resource?: ResourceType } = {}): Informer<KubeObject> {
  const made = new Informer<KubeObject>({
    kc,
    client,
    resource: options.resource ?? Resources.secrets,
    namespace: NS,
    metadataOnly: options.metadataOnly ?? false,
  });
  informers.push(made);
  made.start();
  return made;
}

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(done()).toBe(true);
}

beforeAll(async () => {
  cp = await startControlPlane();
  kc = await loadConnection({ KUBECONFIG: cp.kubeconfigPath });
  client = new KubeClient(kc);
  await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
  await client.request('POST', `/api/v1/namespaces/${NS}/secrets`, { body: appliedSecret('db', PASSWORD) });
}, 120_000);

afterAll(async () => {
  await Promise.all(informers.map((i) => i.stop()));
  await cp?.stop();
});

describe('informer annotations on a real API server', () => {
  it("the premise: the API server's metadata-only answer carries the applied Secret's password", async () => {
    const partial = await client.get<KubeObject>(`/api/v1/namespaces/${NS}/secrets/db`, undefined, METADATA_OBJECT);
    expect(partial.kind).toBe('PartialObjectMetadata');
    expect(JSON.stringify(partial)).toContain(PASSWORD);
  });

  it('attack: the metadata-only Secret cache holds no annotation, listed or watched', async () => {
    const secrets = informer({ metadataOnly: true });
    await secrets.waitForSync();
    const listed = secrets.get(`${NS}/db`);
    expect(listed?.metadata.uid).toBeTruthy();
    expect(JSON.stringify(listed)).not.toContain(PASSWORD);
    expect(listed?.metadata).not.toHaveProperty('annotations');

    // A Secret applied after the list arrives through the watch.
    const later = 'a-password-applied-later';
    await client.request('POST', `/api/v1/namespaces/${NS}/secrets`, { body: appliedSecret('cache', later) });
    await until(() => secrets.get(`${NS}/cache`) !== undefined);
    expect(JSON.stringify(secrets.get(`${NS}/cache`))).not.toContain(later);
  });

  it('a full cache drops only the last-applied copy', async () => {
    const configMaps = informer({ resource: Resources.configMaps });
    const manifest = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: NS }, data: { mode: 'fast' } };
    await client.request('POST', `/api/v1/namespaces/${NS}/configmaps`, {
      body: {
        ...manifest,
        metadata: { ...manifest.metadata, annotations: { [LAST_APPLIED_ANNOTATION]: JSON.stringify(manifest), 'team.example/owner': 'a' } },
      },
    });
    await configMaps.waitForSync();
    await until(() => configMaps.get(`${NS}/settings`) !== undefined);
    const cached = configMaps.get(`${NS}/settings`) as KubeObject & { metadata: { annotations?: Record<string, string> }; data?: Record<string, string> };
    expect(cached.metadata.annotations).toEqual({ 'team.example/owner': 'a' });
    expect(cached.data).toEqual({ mode: 'fast' });
  });
});
