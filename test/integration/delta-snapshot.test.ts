// Delta snapshots on a real API server: a Registry with more grants than one shard holds is published as
// a head and shards (policy/snapshot-shards.ts). A grant change rewrites the main ConfigMap, its shard and
// the head, and nothing else; a token server's Kubernetes source reading with the chart's RBAC sees the
// new decision; and during a burst of changes every state it serves is one complete generation.
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperator, type RunningOperator } from '../../operator/main.js';
import { KubeClient } from '../../kube/request.js';
import { authorize } from '../../policy/authorize.js';
import { snapshotOf } from '../../policy/snapshot-format.js';
import { shardFile, shardOf } from '../../policy/snapshot-shards.js';
import { kubernetesSources, type KubernetesSources } from '../../token-server/sources/kubernetes.js';
import type { PolicyState } from '../../token-server/sources/types.js';
import { MANIFEST_KEY, parseManifest } from '../../wire/chunked.js';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { waitFor } from '../../local/process.js';
import { applyOperatorCrds } from '../support/crds.js';

const API = 'portcullis.dev/v1alpha1';
const NS = 'registry';
const SERVICE = 'registry.example.com';
/** More than two shards' worth (1024 grants each): four grant shards. */
const GRANTS = 2100;
const HTPASSWD = '$2y$04$qpWk4xMnvI3vbd3irWfnZeURM.f9S5N5AZw0FjrkJ3RJTGeW8yipO';

let cp: ControlPlane;
let admin: KubeClient;
let operator: RunningOperator | undefined;
let sources: KubernetesSources | undefined;

const grantsPath = `/apis/${API}/namespaces/${NS}/repositorygrants`;

async function setActions(i: number, actions: string[]): Promise<void> {
  await admin.request('PATCH', `${grantsPath}/grant-${i}`, { body: { spec: { actions } }, contentType: 'application/merge-patch+json' });
}

/** What alice gets on `g-i/app` from the state the token server serves. */
function actionsFor(state: PolicyState | undefined, i: number): string[] {
  const loaded = state?.registries.get(SERVICE);
  if (loaded === undefined) return [];
  const [decision] = authorize(loaded.index, { kind: 'user', username: 'alice', groups: [] }, [
    { type: 'repository', name: `g-${i}/app`, actions: ['pull', 'push'] },
  ]);
  return decision?.granted ?? [];
}

/** The snapshot ConfigMaps: name -> resourceVersion. */
async function snapshotObjects(): Promise<Map<string, string>> {
  const list = await admin.request<{ items: { metadata: { name: string; resourceVersion: string } }[] }>(
    'GET',
    `/api/v1/namespaces/${NS}/configmaps?labelSelector=${encodeURIComponent('portcullis.dev/registry=main')}`,
  );
  // The bundle ConfigMap carries the same label.
  return new Map(list.items.filter((i) => i.metadata.name.startsWith('portcullis-main-snapshot')).map((i) => [i.metadata.name, i.metadata.resourceVersion]));
}

beforeAll(async () => {
  cp = await startControlPlane();
  admin = new KubeClient(cp.kubeConfig);
  await applyOperatorCrds(cp);
  await admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
  const post = (path: string, body: Record<string, unknown>) => admin.request('POST', path, { body });
  await post(`/apis/${API}/namespaces/${NS}/registries`, { apiVersion: API, kind: 'Registry', metadata: { name: 'main' }, spec: { service: SERVICE } });
  await post(`/api/v1/namespaces/${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'alice-pw' }, stringData: { htpasswd: HTPASSWD } });
  await post(`/apis/${API}/namespaces/${NS}/registryusers`, {
    apiVersion: API,
    kind: 'RegistryUser',
    metadata: { name: 'alice' },
    spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: 'alice-pw', key: 'htpasswd' } },
  });
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < GRANTS) {
        const i = next++;
        await post(grantsPath, {
          apiVersion: API,
          kind: 'RepositoryGrant',
          metadata: { name: `grant-${i}` },
          spec: { registryRef: { name: 'main' }, subjects: [{ kind: 'User', name: 'alice' }], repositories: [`g-${i}/app`], actions: ['pull'] },
        });
      }
    }),
  );
  const logged: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void logged.push(line.slice(0, 500)) });
  // A 64 KiB inline limit: these 2,100 grants (~400 KiB) are published as shards, as 100,000 would be at the default 900 KiB.
  operator = await startOperator({ kubeConfig: cp.kubeConfig, log, leaderElect: false, chunkLimits: { inlineLimit: 64 * 1024, partBytes: 640 * 1024 } });
  // The token server reads with exactly what deploy/rbac/token-server.yaml grants.
  const applied = await kubectl(cp, ['apply', '-f', '-'], await readFile('deploy/rbac/token-server.yaml', 'utf8'));
  if (applied.code !== 0) throw new Error(applied.stderr);
  const tokenKc = (await cp.kubeconfigForServiceAccount(NS, 'portcullis-token-server')).kubeConfig;
  sources = kubernetesSources({ kubeConfig: tokenKc, namespace: NS, registry: 'main' });
  const rejected: string[] = [];
  sources.policy.onRejected((reason) => rejected.push(reason));
  await sources.start();
  await waitFor(
    'every grant served',
    async () => actionsFor(sources?.policy.current(), GRANTS - 1).includes('pull'),
    180_000,
    () => [...rejected, ...logged.slice(-5)].join('\n'),
  );
}, 300_000);

afterAll(async () => {
  await sources?.close();
  await operator?.stop();
  admin?.close();
  await cp?.stop();
});

describe('delta snapshots', () => {
  it('publishes a large snapshot as a head and shards', async () => {
    const main = await admin.get<{ data: Record<string, string> }>(`/api/v1/namespaces/${NS}/configmaps/portcullis-main-snapshot`);
    const files = Object.keys(parseManifest(main.data[MANIFEST_KEY]!).files).sort();
    expect(files).toEqual(['grants-0000.json', 'grants-0001.json', 'grants-0002.json', 'grants-0003.json', 'head.json', 'users-0000.json']);
    // One ConfigMap per file (each far below 1 MiB), plus the main one.
    expect((await snapshotObjects()).size).toBe(files.length + 1);
  });

  it('a grant change rewrites only its shard, the head and the manifest, and the token server decides anew', async () => {
    const before = await snapshotObjects();
    const beforeManifest = parseManifest(
      (await admin.get<{ data: Record<string, string> }>(`/api/v1/namespaces/${NS}/configmaps/portcullis-main-snapshot`)).data[MANIFEST_KEY]!,
    );
    await setActions(42, ['pull', 'push']);
    await waitFor('push on g-42/app', async () => actionsFor(sources?.policy.current(), 42).includes('push'), 60_000);
    // Stale shards are deleted right after the manifest: wait for the object count to settle.
    await waitFor('stale shards deleted', async () => (await snapshotObjects()).size === before.size, 30_000);
    const after = await snapshotObjects();
    const manifest = parseManifest(
      (await admin.get<{ data: Record<string, string> }>(`/api/v1/namespaces/${NS}/configmaps/portcullis-main-snapshot`)).data[MANIFEST_KEY]!,
    );

    const changedFiles = Object.keys(manifest.files).filter((f) => manifest.files[f]!.sha256 !== beforeManifest.files[f]?.sha256);
    expect(changedFiles.sort()).toEqual([shardFile('grants', shardOf(`${NS}/grant-42`, 4)), 'head.json'].sort());
    const added = [...after.keys()].filter((n) => !before.has(n));
    const removed = [...before.keys()].filter((n) => !after.has(n));
    const rewritten = [...after.keys()].filter((n) => before.has(n) && before.get(n) !== after.get(n));
    expect(added.sort()).toEqual(changedFiles.flatMap((f) => manifest.files[f]!.parts.map((p) => p.name)).sort());
    expect(removed.sort()).toEqual(changedFiles.flatMap((f) => beforeManifest.files[f]!.parts.map((p) => p.name)).sort());
    expect(rewritten).toEqual(['portcullis-main-snapshot']);
    // The rest of the policy is as it was.
    expect(actionsFor(sources?.policy.current(), 41)).toEqual(['pull']);
  }, 120_000);

  it('serves only whole generations during a burst of changes', async () => {
    const seen: PolicyState[] = [];
    const off = sources!.policy.onChange((state) => seen.push(state));
    try {
      const changed = [3, 500, 1001, 1500, 2099];
      for (const i of changed) await setActions(i, ['pull', 'push']);
      await waitFor('every change served', async () => changed.every((i) => actionsFor(sources?.policy.current(), i).includes('push')), 60_000);
      expect(seen.length).toBeGreaterThan(0);
      for (const state of seen) {
        const policies = [...state.registries.values()].map((r) => r.policy);
        // A state made of one generation's shards hashes to that generation; a mix of two would not.
        expect(snapshotOf(policies).generation).toBe(state.generation);
        expect(policies[0]!.grants).toHaveLength(GRANTS);
      }
    } finally {
      off();
    }
  }, 120_000);
});
