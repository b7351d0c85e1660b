// What the CA-rotation test must know the moment it changes, as watches deliver it (`kubectl get
// --watch`), not as a poll with a fresh kubectl every few hundred milliseconds finds it: the Registry's
// signing phase (CAIssuing lasts one reconcile: issue a key, then CADraining at once), the operator Lease's
// holder and the operator pods' containers (so the leader's container can be SIGKILLed within
// milliseconds of a phase's event, without a lookup). Each watch restarts if the API server ends it.
import { startProcess, type ManagedProcess } from '../../local/process.js';
import { NS, RELEASE } from './cluster-portcullis.js';

export interface Watch {
  stop(): Promise<void>;
}

/** Runs `kubectl get <args> --watch -o jsonpath=<jsonpath>` and hands every non-empty line to `onLine`. */
function watchLines(kubeconfigPath: string, args: string[], jsonpath: string, onLine: (line: string) => void): Watch {
  let stopped = false;
  let proc: ManagedProcess | undefined;
  const start = (): void => {
    proc = startProcess('kubectl-watch', 'kubectl', ['--kubeconfig', kubeconfigPath, 'get', ...args, '--watch', '-o', `jsonpath=${jsonpath}{"\\n"}`]);
    let partial = '';
    proc.child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines.map((l) => l.trim())) if (line !== '') onLine(line);
    });
    void proc.exited.then(() => {
      if (!stopped) setTimeout(start, 500);
    });
  };
  start();
  return {
    async stop() {
      stopped = true;
      await proc?.stop();
    },
  };
}

export interface PhaseWatch extends Watch {
  /** The phase of the newest event ('' before the first). */
  current(): string;
  /** Every phase in the order the events brought it, consecutive repeats folded. */
  seen(): string[];
}

export function watchSigningPhase(kubeconfigPath: string, registry: string): PhaseWatch {
  const seen: string[] = [];
  const watch = watchLines(kubeconfigPath, ['-n', NS, 'registry', registry], '{.status.signing.phase}', (phase) => {
    if (seen[seen.length - 1] !== phase) seen.push(phase);
  });
  return { current: () => seen[seen.length - 1] ?? '', seen: () => [...seen], stop: () => watch.stop() };
}

export interface LeaderWatch extends Watch {
  /** The Lease's holderIdentity as last written ('' before the first event, or released). */
  holder(): string;
  /** The pod a holder identity belongs to (`<pod name>-<8 hex>`) and its container's ID, if the pod watch has seen it. */
  leader(): { pod: string; containerID: string } | undefined;
}

export function watchOperatorLeader(kubeconfigPath: string): LeaderWatch {
  let holder = '';
  const containers = new Map<string, string>();
  // Prefixed, so a released Lease (no holder) still makes a line.
  const lease = watchLines(kubeconfigPath, ['-n', NS, 'lease', 'portcullis-operator'], 'holder:{.spec.holderIdentity}', (line) => {
    holder = line.slice('holder:'.length);
  });
  const pods = watchLines(
    kubeconfigPath,
    ['-n', NS, 'pods', '-l', `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=operator`],
    '{.metadata.name} {.status.containerStatuses[0].containerID}',
    (line) => {
      const [pod, id] = line.split(' ');
      if (pod) containers.set(pod, (id ?? '').replace(/^[a-z]+:\/\//, ''));
    },
  );
  return {
    holder: () => holder,
    leader() {
      const pod = holder.replace(/-[0-9a-f]{8}$/, '');
      const containerID = containers.get(pod);
      return containerID ? { pod, containerID } : undefined;
    },
    async stop() {
      await Promise.all([lease.stop(), pods.stop()]);
    },
  };
}
