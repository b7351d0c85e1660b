// Faults users meet, on a real node with the chart installed (hack/e2e-scenario), clients on the host
// pushing and pulling throughout:
//   - a token-server pod deleted mid-load: the other replica and the Service carry the traffic; at most
//     one client operation needs a retry, none fails twice;
//   - the node's kubelet restarted: the pods keep running in containerd (same pods, no restart), no client
//     operation fails, and the kubelet afterwards still replaces a deleted pod;
//   - the API server restarted while the pods run: no client operation fails (the token servers serve from
//     what they hold), and afterwards a new grant reaches the token servers (their watches resumed).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type RunningCluster } from '../../local/cluster.js';
import { buildImage, type BuiltImage } from '../../local/image.js';
import { waitFor } from '../../local/process.js';
import { cranePush, registryRefusal } from '../harness/clients.js';
import { startClientLoop, type ClientLoop } from '../harness/cluster-client-loop.js';
import { podsOf } from '../harness/cluster-pods.js';
import { installPortcullis, NS, RELEASE, type InstalledPortcullis } from '../harness/cluster-portcullis.js';

let cluster: RunningCluster | undefined;
let p: InstalledPortcullis;
let dir: string;
let image: BuiltImage;

async function startLoop(name: string, retries: 0 | 1): Promise<ClientLoop> {
  const loop = startClientLoop({
    pull: 'team/faults:base',
    pushRepository: `team/${name}`,
    layoutDir: image.layoutDir,
    ctx: await p.ctx('alice'),
    registryHost: p.registryHost,
    retries,
  });
  await waitFor(
    'the client loop running',
    async () => loop.operations() >= 3,
    60_000,
    () => loop.failures().join('\n'),
  );
  return loop;
}

async function moreOperations(loop: ClientLoop, n: number): Promise<void> {
  const target = loop.operations() + n;
  await waitFor(
    `${n} more client operations`,
    async () => loop.operations() >= target,
    180_000,
    () => loop.failures().join('\n'),
  );
}

/** Every chart pod as name/uid/restarts: equal before and after means nothing was restarted or replaced. */
async function podIdentities(): Promise<string[]> {
  const all = [...(await podsOf(p.kubectl, 'operator')), ...(await podsOf(p.kubectl, 'token-server')), ...(await podsOf(p.kubectl, 'registry'))];
  return all.map((pod) => `${pod.name}/${pod.uid}/${pod.restarts}`).sort();
}

async function nodeReady(): Promise<boolean> {
  const r = await p.kubectl(['get', 'nodes', '-o', 'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}']);
  return r.code === 0 && r.stdout.trim() === 'True';
}

async function twoTokenServersReady(): Promise<boolean> {
  const pods = (await podsOf(p.kubectl, 'token-server')).filter((pod) => !pod.deleting);
  return pods.length === 2 && pods.every((pod) => pod.ready);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-cluster-faults-'));
  cluster = await startCluster();
  p = await installPortcullis(cluster);
  image = await buildImage(join(dir, 'image'));
  const pushed = await cranePush(image.layoutDir, `${p.registryHost}/team/faults:base`, await p.ctx('alice'));
  expect(pushed.code, pushed.stderr).toBe(0);
}, 1_800_000);

afterAll(async () => {
  await cluster?.stop();
  await p?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('faults on a real node', () => {
  it('a token-server pod deleted mid-load: at most one operation retried, none failed', async () => {
    const loop = await startLoop('pod-deleted', 1);
    const victim = (await podsOf(p.kubectl, 'token-server'))[0]!;
    try {
      const deleted = await p.kubectl(['-n', NS, 'delete', 'pod', victim.name, '--wait=false']);
      expect(deleted.code, deleted.stderr).toBe(0);
      await waitFor(
        'a replacement token server Ready',
        async () => (await twoTokenServersReady()) && !(await podsOf(p.kubectl, 'token-server')).some((x) => x.name === victim.name),
        180_000,
      );
      await moreOperations(loop, 6);
    } finally {
      await loop.stop();
    }
    process.stdout.write(`[measured] token-server pod deleted: ${loop.operations()} client operations, retried: ${JSON.stringify(loop.retried())}\n`);
    expect(loop.failures()).toEqual([]);
    expect(loop.retried().length).toBeLessThanOrEqual(1);
  }, 600_000);

  it('the kubelet restarted: same pods, no restart, no client operation failed; then it still replaces a deleted pod', async () => {
    const before = await podIdentities();
    const loop = await startLoop('kubelet-restart', 0);
    const t0 = Date.now();
    try {
      await cluster!.restartKubelet();
      await waitFor('the node Ready again', nodeReady, 120_000);
      await moreOperations(loop, 6);
    } finally {
      await loop.stop();
    }
    process.stdout.write(
      `[measured] kubelet restart: node Ready again after ${((Date.now() - t0) / 1000).toFixed(1)} s; ${loop.operations()} client operations\n`,
    );
    expect(loop.failures()).toEqual([]);
    expect(await podIdentities()).toEqual(before);

    const victim = (await podsOf(p.kubectl, 'registry'))[0]!;
    const deleted = await p.kubectl(['-n', NS, 'delete', 'pod', victim.name]);
    expect(deleted.code, deleted.stderr).toBe(0);
    const rolled = await p.kubectl(['-n', NS, 'rollout', 'status', `deployment/${RELEASE}-registry`, '--timeout=180s']);
    expect(rolled.code, rolled.stderr).toBe(0);
    const registries = (await podsOf(p.kubectl, 'registry')).filter((pod) => !pod.deleting);
    expect(registries.map((pod) => pod.ready)).toEqual([true, true]);
    expect(registries.map((pod) => pod.uid)).not.toContain(victim.uid);
  }, 600_000);

  it('the API server restarted while the pods run: no client operation failed; a grant made afterwards takes effect', async () => {
    const bob = await p.ctx('bob');
    const refused = await cranePush(image.layoutDir, `${p.registryHost}/team/faults:bob`, bob);
    expect(registryRefusal(refused), refused.stderr).toBe('UNAUTHORIZED');

    const loop = await startLoop('apiserver-restart', 0);
    try {
      await cluster!.restartApiServer();
      await waitFor('the API server ready', async () => (await p.kubectl(['get', '--raw', '/readyz'])).code === 0, 120_000);
      await moreOperations(loop, 6);
    } finally {
      await loop.stop();
    }
    process.stdout.write(`[measured] API server restart: ${loop.operations()} client operations\n`);
    expect(loop.failures()).toEqual([]);

    const grant = `apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: bob-faults-push, namespace: ${NS}}
spec:
  registryRef: {name: main}
  subjects: [{kind: User, name: bob}]
  repositories: ["team/faults"]
  actions: [pull, push]
`;
    const applied = await p.kubectl(['apply', '-f', '-'], grant);
    expect(applied.code, applied.stderr).toBe(0);
    let last = refused;
    await waitFor(
      'bob pushing with the new grant',
      async () => (last = await cranePush(image.layoutDir, `${p.registryHost}/team/faults:bob`, bob)).code === 0,
      120_000,
      () => last.stderr,
    );
  }, 600_000);
});
