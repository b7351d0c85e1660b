// The operator leader disrupted in every phase of a CA rotation, on the real node: on each phase's watch
// event the leader's container is SIGKILLed at once (known from the Lease and pod watches, so no lookup
// stands between the event and the kill; no Lease release, so the other replica or the restarted
// container takes over when the Lease lapses), and in the background the leader that follows is deleted
// (`kubectl delete pod`: graceful, it releases the Lease). The next phase's kill never waits for an
// earlier phase's delete.
import { waitFor } from '../../local/process.js';
import { killContainer, leaderPod } from './cluster-pods.js';
import { NS, type InstalledPortcullis } from './cluster-portcullis.js';
import type { LeaderWatch, PhaseWatch } from './cluster-watch.js';

export interface Disruption {
  /** The phase whose event set it off. */
  trigger: string;
  /** The phase the watch had last brought when it happened. */
  phase: string;
  action: 'SIGKILL' | 'delete';
  pod: string;
}

export class Disruptions {
  readonly actions: Disruption[] = [];
  /** What went wrong in a background delete (kept, so the test reports it instead of an unhandled rejection). */
  readonly errors: string[] = [];
  private readonly killed = new Set<string>();
  private readonly deletes: Promise<void>[] = [];

  constructor(
    private readonly p: InstalledPortcullis,
    private readonly phases: PhaseWatch,
    private readonly leaders: LeaderWatch,
  ) {}

  /** SIGKILLs the leader now; deletes the next leader in the background. */
  async onPhase(trigger: string): Promise<void> {
    const victim = await this.leaderToKill();
    const holder = this.leaders.holder();
    let n = await killContainer(victim.containerID);
    let pod = victim.pod;
    if (n === 0) {
      // The container had just been replaced: the leader as the API says it now.
      const found = await this.lookUp();
      n = await killContainer(found.containerID);
      pod = found.pod;
    }
    const phase = this.phases.current();
    if (n === 0) throw new Error(`no process of ${pod}'s container to SIGKILL in ${trigger}`);
    this.killed.add(victim.containerID);
    this.actions.push({ trigger, phase, action: 'SIGKILL', pod });
    this.deletes.push(this.deleteNextLeader(trigger, holder).catch((err: unknown) => void this.errors.push(`${trigger}: ${String(err)}`)));
  }

  /** Resolves once every background delete is done. */
  async settled(): Promise<void> {
    await Promise.all(this.deletes);
  }

  /** The leader per the watches, unless that container was killed already (the watches not caught up yet). */
  private async leaderToKill(): Promise<{ pod: string; containerID: string }> {
    let leader = this.leaders.leader();
    const fresh = (): boolean => leader !== undefined && !this.killed.has(leader.containerID);
    if (fresh()) return leader!;
    const caughtUp = async (): Promise<boolean> => {
      leader = this.leaders.leader();
      return fresh();
    };
    await waitFor('the new leader in the watches', caughtUp, 5_000, undefined, 10).catch(() => undefined);
    return fresh() ? leader! : this.lookUp();
  }

  private async lookUp(): Promise<{ pod: string; containerID: string }> {
    let found: Awaited<ReturnType<typeof leaderPod>>;
    await waitFor(
      'an operator leader with a running container',
      async () => (found = await leaderPod(this.p.kubectl)) !== undefined && found.containerID !== '' && !this.killed.has(found.containerID),
      120_000,
    );
    return { pod: found!.name, containerID: found!.containerID };
  }

  private async deleteNextLeader(trigger: string, killedHolder: string): Promise<void> {
    await waitFor('a new leader after the SIGKILL', async () => ![killedHolder, ''].includes(this.leaders.holder()), 180_000, undefined, 20);
    const pod = this.leaders.holder().replace(/-[0-9a-f]{8}$/, '');
    const deleted = await this.p.kubectl(['-n', NS, 'delete', 'pod', pod, '--wait=false', '--ignore-not-found']);
    if (deleted.code !== 0) throw new Error(`kubectl delete pod ${pod}: ${deleted.stderr}`);
    this.actions.push({ trigger, phase: this.phases.current(), action: 'delete', pod });
  }
}
