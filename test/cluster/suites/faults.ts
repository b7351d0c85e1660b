// Faults users meet, on the shared install (context.ts), clients on the host pushing and pulling
// throughout:
//   - a token-server pod deleted mid-load: the other replica and the Service carry the traffic; at most
//     one client operation needs a retry, none fails twice;
//   - the node's kubelet restarted: the pods keep running in containerd (same pods, no restart), no client
//     operation fails, and the kubelet afterwards still replaces a deleted pod;
//   - the API server restarted while the pods run: no client operation fails (the token servers serve from
//     what they hold), and afterwards a new grant reaches the token servers (their watches resumed).
import { beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../local/process.js';
import { cranePush, registryRefusal } from '../../harness/clients.js';
import { podsOf } from '../../harness/cluster-pods.js';
import { NS, RELEASE, type InstalledPortcullis } from '../../harness/cluster-portcullis.js';
import type { PortcullisContext } from './context.js';

/** Every chart pod as name/uid/restarts: equal before and after means nothing was restarted or replaced. */
async function podIdentities(p: InstalledPortcullis): Promise<string[]> {
  const all = [...(await podsOf(p.kubectl, 'operator')), ...(await podsOf(p.kubectl, 'token-server')), ...(await podsOf(p.kubectl, 'registry'))];
  return all.map((pod) => `${pod.name}/${pod.uid}/${pod.restarts}`).sort();
}

async function nodeReady(p: InstalledPortcullis): Promise<boolean> {
  const r = await p.kubectl(['get', 'nodes', '-o', 'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}']);
  return r.code === 0 && r.stdout.trim() === 'True';
}

async function twoTokenServersReady(p: InstalledPortcullis): Promise<boolean> {
  const pods = (await podsOf(p.kubectl, 'token-server')).filter((pod) => !pod.deleting);
  return pods.length === 2 && pods.every((pod) => pod.ready);
}

export function faultsSuite(ctx: () => PortcullisContext): void {
  describe('faults on a real node', () => {
    // The suites before may have left a pod terminating (the CA rotation deletes the operator leader).
    beforeAll(() => ctx().settled(), 600_000);

    it('a token-server pod deleted mid-load: at most one operation retried, none failed', async () => {
      const { p, startLoad, moreOperations } = ctx();
      const loop = await startLoad('pod-deleted', 1);
      const victim = (await podsOf(p.kubectl, 'token-server'))[0]!;
      try {
        const deleted = await p.kubectl(['-n', NS, 'delete', 'pod', victim.name, '--wait=false']);
        expect(deleted.code, deleted.stderr).toBe(0);
        await waitFor(
          'a replacement token server Ready',
          async () => (await twoTokenServersReady(p)) && !(await podsOf(p.kubectl, 'token-server')).some((x) => x.name === victim.name),
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
      const { p, cluster, startLoad, moreOperations } = ctx();
      const before = await podIdentities(p);
      const loop = await startLoad('kubelet-restart');
      const t0 = Date.now();
      try {
        await cluster.restartKubelet();
        await waitFor('the node Ready again', () => nodeReady(p), 120_000);
        await moreOperations(loop, 6);
      } finally {
        await loop.stop();
      }
      process.stdout.write(
        `[measured] kubelet restart: node Ready again after ${((Date.now() - t0) / 1000).toFixed(1)} s; ${loop.operations()} client operations\n`,
      );
      expect(loop.failures()).toEqual([]);
      expect(await podIdentities(p)).toEqual(before);

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
      const { p, cluster, loadImage, startLoad, moreOperations } = ctx();
      const bob = await p.ctx('bob');
      const refused = await cranePush(loadImage.layoutDir, `${p.registryHost}/team/faults:bob`, bob);
      expect(registryRefusal(refused), refused.stderr).toBe('UNAUTHORIZED');

      const loop = await startLoad('apiserver-restart');
      try {
        await cluster.restartApiServer();
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
        async () => (last = await cranePush(loadImage.layoutDir, `${p.registryHost}/team/faults:bob`, bob)).code === 0,
        120_000,
        () => last.stderr,
      );
    }, 600_000);
  });
}
