// Rotations with the real kubelet (what test/e2e/rotation.test.ts proves with a simulated one), on the
// shared install (context.ts), clients on the host pushing and pulling all along:
//   - signing-key rotations: the token servers pick the new key up from the API; no registry or token
//     server pod is restarted or replaced, no client operation fails;
//   - a CA rotation: the operator rolls the registry Deployment for real (the kubelet mounts the new
//     trust bundle in new pods) to trust both CAs, issues from the new one, drains, and rolls again to
//     drop the old one. A watch on the Registry brings every phase the moment it is written, and on each
//     the operator leader's container is SIGKILLed at once (no Lease release: the other replica takes over
//     when the Lease lapses), then the leader after it is deleted (`kubectl delete pod`;
//     test/harness/cluster-disruptions.ts); still no client operation fails, not even once.
// The Registry's tokenTTL is 60 s (the CRD's minimum), so the drain takes a minute.
import { describe, expect, it } from 'vitest';
import { requestRotation } from '../../../bin/commands/keys-rotate.js';
import { waitFor } from '../../../local/process.js';
import { Disruptions } from '../../harness/cluster-disruptions.js';
import { podsOf } from '../../harness/cluster-pods.js';
import { NS, type InstalledPortcullis } from '../../harness/cluster-portcullis.js';
import { watchOperatorLeader, watchSigningPhase } from '../../harness/cluster-watch.js';
import type { PortcullisContext } from './context.js';

const CA_PHASES = ['CAStaged', 'CAIssuing', 'CADraining', 'CARetiring'];
/** The phases in which the operator waits (a roll, the drain): long enough that a disruption always lands in them. */
const WAITING_PHASES = ['CAStaged', 'CADraining', 'CARetiring'];
const CA_ROTATION_MS = 900_000;

interface Signing {
  activeKeyId?: string;
  caIds?: string[];
  phase?: string;
}

async function signing(p: InstalledPortcullis): Promise<Signing> {
  const r = await p.kubectl(['-n', NS, 'get', 'registry', 'main', '-o', 'jsonpath={.status.signing}']);
  return r.code === 0 && r.stdout.trim() !== '' ? (JSON.parse(r.stdout) as Signing) : {};
}

const registryPodIdentities = async (p: InstalledPortcullis): Promise<string[]> =>
  [...(await podsOf(p.kubectl, 'registry')), ...(await podsOf(p.kubectl, 'token-server'))].map((pod) => `${pod.name}/${pod.uid}/${pod.restarts}`).sort();

/**
 * The identities once no roll is under way: an earlier test's roll of the registry Deployment may still be
 * finishing, and its old pod, listed now and gone later, is not one the rotations replaced.
 */
async function settledPodIdentities(p: InstalledPortcullis): Promise<string[]> {
  for (const deployment of ['portcullis-registry', 'portcullis-token-server']) {
    const r = await p.kubectl(['-n', NS, 'rollout', 'status', `deployment/${deployment}`, '--timeout=180s']);
    if (r.code !== 0) throw new Error(`${deployment} did not finish rolling out: ${r.stderr}`);
  }
  await waitFor(
    'no registry or token server pod terminating',
    async () => [...(await podsOf(p.kubectl, 'registry')), ...(await podsOf(p.kubectl, 'token-server'))].every((pod) => !pod.deleting),
    120_000,
  );
  return registryPodIdentities(p);
}

const deploymentGeneration = async (p: InstalledPortcullis): Promise<number> =>
  Number((await p.kubectl(['-n', NS, 'get', 'deployment', 'portcullis-registry', '-o', 'jsonpath={.metadata.generation}'])).stdout);

export function rotationSuite(ctx: () => PortcullisContext): void {
  describe('rotations on a real node', () => {
    it('three signing-key rotations: no registry or token server pod restarted or replaced, no client operation fails', async () => {
      const { p, cluster, startLoad, moreOperations } = ctx();
      const podsBefore = await settledPodIdentities(p);
      const loop = await startLoad('keys');
      const seconds: number[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          const before = (await signing(p)).activeKeyId;
          const t0 = Date.now();
          await requestRotation(cluster.kubeConfig, NS, 'main', 'keys');
          await waitFor(`key rotation ${i + 1}`, async () => ((await signing(p)).activeKeyId ?? before) !== before, 120_000);
          // Tokens signed with the new key must verify at both registry replicas.
          await moreOperations(loop, 4);
          seconds.push((Date.now() - t0) / 1000);
        }
      } finally {
        await loop.stop();
      }
      process.stdout.write(`[measured] key rotations: ${seconds.map((s) => s.toFixed(1)).join(' s, ')} s; ${loop.operations()} client operations\n`);
      expect(loop.failures()).toEqual([]);
      expect(await registryPodIdentities(p)).toEqual(podsBefore);
    }, 900_000);

    it('a CA rotation rolls the registry Deployment twice for real; the leader is SIGKILLed as each phase is written, then deleted; no client operation fails', async () => {
      const { p, cluster, startLoad, moreOperations } = ctx();
      const start = await signing(p);
      expect(start.phase).toBe('Stable');
      const registryPodsBefore = (await podsOf(p.kubectl, 'registry')).map((pod) => pod.uid);
      const generationBefore = await deploymentGeneration(p);
      const loop = await startLoad('ca');
      const phases = watchSigningPhase(cluster.kubeconfigPath, 'main');
      const leaders = watchOperatorLeader(cluster.kubeconfigPath);
      const disruption = new Disruptions(p, phases, leaders);
      const t0 = Date.now();
      try {
        await waitFor('the watches', async () => phases.current() === 'Stable' && leaders.leader() !== undefined, 60_000);
        let handled = phases.seen().length;
        await requestRotation(cluster.kubeConfig, NS, 'main', 'ca');
        for (;;) {
          await waitFor(
            'the next phase',
            async () => phases.seen().length > handled,
            CA_ROTATION_MS - (Date.now() - t0),
            () => `phases seen ${phases.seen().join(' -> ')}`,
            10,
          );
          const phase = phases.seen()[handled]!;
          handled += 1;
          if (phase === 'Stable') break;
          await disruption.onPhase(phase);
        }
        await disruption.settled();
        const end = await signing(p);
        expect(end.caIds).toHaveLength(1);
        expect(end.caIds?.[0]).not.toBe(start.caIds?.[0]);
        await moreOperations(loop, 4);
      } finally {
        await loop.stop();
        await phases.stop();
        await leaders.stop();
      }
      const actions = disruption.actions;
      process.stdout.write(
        `[measured] CA rotation with leader kills: ${((Date.now() - t0) / 1000).toFixed(0)} s, ${loop.operations()} client operations; phases ${phases.seen().join(' -> ')}; ${actions.map((a) => `${a.trigger}: ${a.action} ${a.pod} (in ${a.phase})`).join('; ')}\n`,
      );
      expect(loop.failures()).toEqual([]);
      expect(disruption.errors).toEqual([]);
      // The watch brings every phase written, CAIssuing included, in order, and each one's event sends a
      // SIGKILL to the leader's container at once.
      expect(phases.seen().filter((phase) => CA_PHASES.includes(phase))).toEqual(CA_PHASES);
      expect(actions.filter((a) => a.action === 'SIGKILL').map((a) => a.trigger)).toEqual(CA_PHASES);
      // CAIssuing lasts one reconcile (issue a key, move on): the kill its event sends lands in it unless the
      // leader wrote CADraining within those milliseconds, so only the phases that wait (a roll, the drain)
      // are required to see a disruption land in them; the [measured] line says where each landed.
      for (const phase of WAITING_PHASES) expect(actions.filter((a) => a.phase === phase).length, phase).toBeGreaterThan(0);
      expect(new Set(actions.map((a) => a.action))).toEqual(new Set(['SIGKILL', 'delete']));
      // Rolled for real: one roll to trust both CAs, one to drop the old; no registry pod of before is left.
      expect((await deploymentGeneration(p)) - generationBefore).toBe(2);
      const registryPodsAfter = (await podsOf(p.kubectl, 'registry')).filter((pod) => !pod.deleting);
      expect(registryPodsAfter.filter((pod) => registryPodsBefore.includes(pod.uid))).toEqual([]);
      expect(registryPodsAfter.every((pod) => pod.ready)).toBe(true);
    }, 1_200_000);
  });
}
