// Rotations with the real kubelet (what test/e2e/rotation.test.ts proves with a simulated one): the chart
// installed on a real node (hack/e2e-scenario), clients on the host pushing and pulling all along.
//   - signing-key rotations: the token servers pick the new key up from the API; no registry or token
//     server pod is restarted or replaced, no client operation fails;
//   - a CA rotation: the operator rolls the registry Deployment for real (the kubelet mounts the new
//     trust bundle in new pods) to trust both CAs, issues from the new one, drains, and rolls again to
//     drop the old one — while in every phase seen the operator leader's container is SIGKILLed (no Lease
//     release: the other replica takes over when the Lease lapses) and then the leader pod is deleted
//     (`kubectl delete pod`); still no client operation fails, not even once.
// The Registry's tokenTTL is 60 s (the CRD's minimum), so the drain takes a minute.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestRotation } from '../../bin/commands/keys-rotate.js';
import { startCluster, type RunningCluster } from '../../local/cluster.js';
import { buildImage } from '../../local/image.js';
import { waitFor } from '../../local/process.js';
import { cranePush } from '../harness/clients.js';
import { startClientLoop, type ClientLoop } from '../harness/cluster-client-loop.js';
import { killContainer, leaderPod, leaseHolder, podsOf } from '../harness/cluster-pods.js';
import { installPortcullis, NS, type InstalledPortcullis } from '../harness/cluster-portcullis.js';

const CA_PHASES = ['CAStaged', 'CAIssuing', 'CADraining', 'CARetiring'];

let cluster: RunningCluster | undefined;
let p: InstalledPortcullis;
let dir: string;

interface Signing {
  activeKeyId?: string;
  caIds?: string[];
  phase?: string;
}

async function signing(): Promise<Signing> {
  const r = await p.kubectl(['-n', NS, 'get', 'registry', 'main', '-o', 'jsonpath={.status.signing}']);
  return r.code === 0 && r.stdout.trim() !== '' ? (JSON.parse(r.stdout) as Signing) : {};
}

async function startLoop(name: string): Promise<ClientLoop> {
  const image = await buildImage(join(dir, `${name}-image`));
  const loop = startClientLoop({
    pull: 'team/rotation:base',
    pushRepository: `team/${name}`,
    layoutDir: image.layoutDir,
    ctx: await p.ctx('alice'),
    registryHost: p.registryHost,
  });
  await waitFor(
    'the client loop running',
    async () => loop.operations() >= 3,
    60_000,
    () => loop.failures().join('\n'),
  );
  return loop;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-cluster-rotation-'));
  cluster = await startCluster();
  p = await installPortcullis(cluster);
  const image = await buildImage(join(dir, 'base'));
  const pushed = await cranePush(image.layoutDir, `${p.registryHost}/team/rotation:base`, await p.ctx('alice'));
  expect(pushed.code, pushed.stderr).toBe(0);
}, 1_800_000);

afterAll(async () => {
  await cluster?.stop();
  await p?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('rotations on a real node', () => {
  it('three signing-key rotations: no registry or token server pod restarted or replaced, no client operation fails', async () => {
    const podsBefore = [...(await podsOf(p.kubectl, 'registry')), ...(await podsOf(p.kubectl, 'token-server'))]
      .map((pod) => `${pod.name}/${pod.uid}/${pod.restarts}`)
      .sort();
    const loop = await startLoop('keys');
    const seconds: number[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const before = (await signing()).activeKeyId;
        const t0 = Date.now();
        await requestRotation(cluster!.kubeConfig, NS, 'main', 'keys');
        await waitFor(`key rotation ${i + 1}`, async () => ((await signing()).activeKeyId ?? before) !== before, 120_000);
        // Tokens signed with the new key must verify at both registry replicas.
        const settled = loop.operations() + 4;
        await waitFor('clients using the new key', async () => loop.operations() >= settled, 120_000);
        seconds.push((Date.now() - t0) / 1000);
      }
    } finally {
      await loop.stop();
    }
    const podsAfter = [...(await podsOf(p.kubectl, 'registry')), ...(await podsOf(p.kubectl, 'token-server'))]
      .map((pod) => `${pod.name}/${pod.uid}/${pod.restarts}`)
      .sort();
    process.stdout.write(`[measured] key rotations: ${seconds.map((s) => s.toFixed(1)).join(' s, ')} s; ${loop.operations()} client operations\n`);
    expect(loop.failures()).toEqual([]);
    expect(podsAfter).toEqual(podsBefore);
  }, 900_000);

  it('a CA rotation rolls the registry Deployment twice for real; the leader is SIGKILLed and deleted in every phase; no client operation fails', async () => {
    const start = await signing();
    expect(start.phase).toBe('Stable');
    const registryPodsBefore = (await podsOf(p.kubectl, 'registry')).map((pod) => pod.uid);
    const generationBefore = Number((await p.kubectl(['-n', NS, 'get', 'deployment', 'portcullis-registry', '-o', 'jsonpath={.metadata.generation}'])).stdout);
    const loop = await startLoop('ca');
    const actions: { phase: string; action: string; pod: string }[] = [];
    const seenPhases: string[] = [];
    const t0 = Date.now();
    try {
      await requestRotation(cluster!.kubeConfig, NS, 'main', 'ca');
      let done = false;
      while (!done) {
        const s = await signing();
        done = s.phase === 'Stable' && s.caIds?.length === 1 && s.caIds[0] !== start.caIds?.[0];
        const phase = s.phase ?? '';
        if (!done && CA_PHASES.includes(phase) && !seenPhases.includes(phase)) {
          seenPhases.push(phase);
          await disruptLeader(phase, actions);
        }
        if (Date.now() - t0 > 900_000) throw new Error(`the CA rotation did not finish; phases seen ${seenPhases.join(', ')}; last ${JSON.stringify(s)}`);
        if (!done) await new Promise((r) => setTimeout(r, 250));
      }
      const settled = loop.operations() + 4;
      await waitFor('clients after the rotation', async () => loop.operations() >= settled, 120_000);
    } finally {
      await loop.stop();
    }
    process.stdout.write(
      `[measured] CA rotation with leader kills: ${((Date.now() - t0) / 1000).toFixed(0)} s, ${loop.operations()} client operations; ${actions.map((a) => `${a.phase}: ${a.action} ${a.pod}`).join('; ')}\n`,
    );
    expect(loop.failures()).toEqual([]);
    // CAIssuing lasts only until the token servers issue from the new CA: a new leader taking over after a
    // Lease lapse can pass it between two reads, so it is not required; the phases that wait (a roll, the
    // drain) each see the leader disrupted, and both ways of losing it happen during the rotation.
    const waitingPhases = ['CAStaged', 'CADraining', 'CARetiring'];
    expect(seenPhases).toEqual(expect.arrayContaining(waitingPhases));
    for (const phase of waitingPhases) expect(actions.filter((a) => a.phase === phase).length, phase).toBeGreaterThan(0);
    expect(new Set(actions.map((a) => a.action))).toEqual(new Set(['SIGKILL', 'delete']));
    // Rolled for real: one roll to trust both CAs, one to drop the old; no registry pod of before is left.
    const generationAfter = Number((await p.kubectl(['-n', NS, 'get', 'deployment', 'portcullis-registry', '-o', 'jsonpath={.metadata.generation}'])).stdout);
    expect(generationAfter - generationBefore).toBe(2);
    const registryPodsAfter = (await podsOf(p.kubectl, 'registry')).filter((pod) => !pod.deleting);
    expect(registryPodsAfter.filter((pod) => registryPodsBefore.includes(pod.uid))).toEqual([]);
    expect(registryPodsAfter.every((pod) => pod.ready)).toBe(true);
  }, 1_200_000);
});

/**
 * In `phase`: SIGKILL the leader's container, wait for a leader again (the other replica after the Lease
 * lapses, or the restarted container), then delete the leader pod (graceful: it releases the Lease).
 */
async function disruptLeader(phase: string, actions: { phase: string; action: string; pod: string }[]): Promise<void> {
  let leader = await leaderPod(p.kubectl);
  await waitFor('an operator leader', async () => (leader = await leaderPod(p.kubectl)) !== undefined && leader.containerID !== '', 60_000);
  const holder = await leaseHolder(p.kubectl);
  const killed = await killContainer(leader!.containerID);
  expect(killed, `processes of ${leader!.name}'s container`).toBeGreaterThan(0);
  actions.push({ phase: (await signing()).phase ?? phase, action: 'SIGKILL', pod: leader!.name });
  await waitFor('a new leader after the SIGKILL', async () => ![holder, ''].includes(await leaseHolder(p.kubectl)), 120_000);
  await waitFor('the new leader pod', async () => (leader = await leaderPod(p.kubectl)) !== undefined, 60_000);
  const now = (await signing()).phase ?? phase;
  const deleted = await p.kubectl(['-n', NS, 'delete', 'pod', leader!.name, '--wait=false']);
  expect(deleted.code, deleted.stderr).toBe(0);
  // The phase as read just before: the rotation may have moved on while the Lease lapsed.
  actions.push({ phase: now, action: 'delete', pod: leader!.name });
}
