// publishChunked against the cache it is handed: nothing written while the cached objects hold the plan,
// and a part someone else rewrote (a new cached object with other bytes under the same name) is put back,
// although the hash of that slot's previous object was remembered.
import { describe, expect, it } from 'vitest';
import type { KubeClient } from '../../kube/request.js';
import type { StoredObject } from '../../wire/chunked.js';
import { publishChunked, type PublishTarget } from './publish.js';

const owner = {
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'Registry',
  name: 'main',
  uid: 'reg-uid',
  controller: true as const,
  blockOwnerDeletion: true as const,
};
const target: PublishTarget = { kind: 'Secret', namespace: 'ns', name: 'creds', registryName: 'main', owner, slots: { name: (i) => `creds-${i}`, count: 8 } };
const limits = { inlineLimit: 10, partBytes: 64 };
const files = { 'credentials.json': JSON.stringify(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`user-${i}`, `$2b$04$${i}`.repeat(3)]))) };

/** A client that records what it applies; the cache is whatever the test says it is. */
function recording() {
  const applied: StoredObject[] = [];
  const client = { apply: async (_path: string, object: StoredObject) => (applied.push(object), object) } as unknown as KubeClient;
  return { client, applied };
}

describe('publishChunked', () => {
  it('writes nothing over a cache that holds the plan, and puts back a part someone rewrote', async () => {
    const { client, applied } = recording();
    const first = await publishChunked(client, target, 'g1', files, { main: undefined, parts: [] }, limits);
    expect(first.wrote).toBe(true);
    expect(first.plan.parts.length).toBeGreaterThan(1);
    const cache = applied.map((o) => ({ ...o, metadata: { ...o.metadata, ownerReferences: [owner] } }));
    const main = cache.find((o) => o.metadata.name === 'creds');
    const parts = cache.filter((o) => o.metadata.name !== 'creds');

    applied.length = 0;
    expect((await publishChunked(client, target, 'g1', files, { main, parts }, limits)).wrote).toBe(false);
    expect((await publishChunked(client, target, 'g1', files, { main, parts }, limits)).wrote).toBe(false);
    expect(applied).toEqual([]);

    // The second slot rewritten with other bytes: the informer's new object for it.
    const tampered = { ...parts[1]!, data: { chunk: Buffer.from('not the credentials').toString('base64') } } as StoredObject;
    const result = await publishChunked(client, target, 'g1', files, { main, parts: [parts[0]!, tampered, ...parts.slice(2)] }, limits);
    expect(result.wrote).toBe(true);
    expect(applied.map((o) => o.metadata.name)).toEqual(['creds-1']);
    expect(applied[0]?.data?.chunk).toBe(parts[1]!.data?.chunk);
  });
});
