// The operator's first start at scale, on a real kube-apiserver + etcd: N RegistryUsers and N
// RepositoryGrants without status, so every one of the 2N objects needs its status written (and an
// Event, as its Ready condition appears). Prints:
//   - the baseline measured in the same run: a bare loop doing the same per-object requests (one status
//     apply + one Event) at the operator's concurrency on a sample, as writes/s, and the time 2N would take;
//   - operator start -> every status written, and its ratio to that baseline;
//   - a grant created while the backlog is being written: how long until its status shows Ready, and how
//     much of the backlog was still unwritten then (starvation would show as waiting for all of it);
//   - the operator's RSS at the end.
// Run alone with `node dist/bench/status-writes.js` (BENCH_OBJECTS, default 10000), or from
// bench/operator.ts with BENCH_STATUS_WRITES=1.
import bcrypt from 'bcrypt';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCrd, CRD_KINDS } from '../crds/schema.js';
import { startControlPlane } from '../local/controlPlane.js';
import { waitFor } from '../local/process.js';
import { KubeClient, type OpenWatch } from '../kube/request.js';
import { forEachLimited } from '../operator/controllers/for-each-limited.js';
import { pidsMentioning, processCpuSeconds, processMemory } from './measure.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'bin', 'portcullis.js');
const GROUP = '/apis/portcullis.dev/v1alpha1';
const API_VERSION = 'portcullis.dev/v1alpha1';
const NS = 'bench';
/** The operator's status writes in flight (RegistryControllerOptions.writeConcurrency default). */
const CONCURRENCY = 16;
const BASELINE_SAMPLE = 1000;

const grant = (name: string, user: string) => ({
  apiVersion: API_VERSION,
  kind: 'RepositoryGrant',
  metadata: { name },
  spec: { registryRef: { name: 'main' }, subjects: [{ kind: 'User', name: user }], repositories: [`${user}/app`], actions: ['pull'] },
});

/** Object names (`plural/name`) whose status has a Ready condition, as the watch reports them. */
async function watchReady(client: KubeClient, plural: string, since: string, seen: Map<string, number>): Promise<OpenWatch> {
  return client.watch(`${GROUP}/namespaces/${NS}/${plural}`, { resourceVersion: since, allowWatchBookmarks: false }, (_type, object) => {
    const o = object as { metadata?: { name?: string }; status?: { conditions?: { type: string; status: string }[] } };
    const name = `${plural}/${o.metadata?.name ?? ''}`;
    if (!seen.has(name) && o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) seen.set(name, Date.now());
  });
}

/**
 * The floor: the operator's per-object requests, `CONCURRENCY` in flight, nothing else: a status apply, and
 * with `withEvent` the Event its first Ready calls for (the operator writes those after the statuses).
 */
async function bareWritesPerSecond(client: KubeClient, withEvent: boolean): Promise<number> {
  const ns = withEvent ? 'bare-events' : 'bare-status';
  await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
  const names = Array.from({ length: BASELINE_SAMPLE }, (_, i) => `bare-${i}`);
  await forEachLimited(names, 32, (n) => client.request('POST', `${GROUP}/namespaces/${ns}/repositorygrants`, { body: grant(n, n) }));
  const start = Date.now();
  await forEachLimited(names, CONCURRENCY, async (name) => {
    const at = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const condition = { type: 'Ready', status: 'True', reason: 'Ready', message: 'bench', observedGeneration: 1, lastTransitionTime: at };
    await client.apply(
      `${GROUP}/namespaces/${ns}/repositorygrants/${name}/status`,
      { apiVersion: API_VERSION, kind: 'RepositoryGrant', metadata: { name, namespace: ns }, status: { observedGeneration: 1, conditions: [condition] } },
      'bench',
    );
    if (!withEvent) return;
    await client.request('POST', `/apis/events.k8s.io/v1/namespaces/${ns}/events`, {
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { generateName: `${name}-` },
        eventTime: new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z'),
        reportingController: 'bench',
        reportingInstance: 'bench',
        action: 'Reconcile',
        type: 'Normal',
        reason: 'Ready',
        note: 'bench',
        regarding: { apiVersion: API_VERSION, kind: 'RepositoryGrant', name, namespace: ns },
      },
    });
  });
  const rate = BASELINE_SAMPLE / ((Date.now() - start) / 1000);
  // Gone before the operator starts: it would otherwise write their statuses too (Ready=False, no
  // Registry in that namespace) and the Warnings' Events, which are not the workload measured.
  await client.request('DELETE', `${GROUP}/namespaces/${ns}/repositorygrants`);
  await client.request('DELETE', `/apis/events.k8s.io/v1/namespaces/${ns}/events`);
  return rate;
}

export async function runStatusWritesBench(n: number, print: (line: string) => void): Promise<void> {
  print(`\n## First start: ${2 * n} statuses (${n} RegistryUsers + ${n} RepositoryGrants, one shared htpasswd Secret)`);
  const cp = await startControlPlane();
  let operator: ChildProcess | undefined;
  const watches: OpenWatch[] = [];
  try {
    const client = new KubeClient(cp.kubeConfig);
    for (const kind of CRD_KINDS) await client.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: loadCrd(kind) });
    await waitFor('CRDs served', () => client.request('GET', `${GROUP}/repositorygrants`).then(() => true), 60_000);
    await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
    await client.request('POST', `${GROUP}/namespaces/${NS}/registries`, {
      body: { apiVersion: API_VERSION, kind: 'Registry', metadata: { name: 'main' }, spec: { service: 'bench.registry', tokenTTL: '5m' } },
    });
    const hash = await bcrypt.hash('bench-password', 4);
    await client.request('POST', `/api/v1/namespaces/${NS}/secrets`, {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pw' }, stringData: { htpasswd: hash } },
    });
    const created = Date.now();
    await forEachLimited(
      Array.from({ length: n }, (_, i) => i),
      32,
      async (i) => {
        await client.request('POST', `${GROUP}/namespaces/${NS}/registryusers`, {
          body: {
            apiVersion: API_VERSION,
            kind: 'RegistryUser',
            metadata: { name: `user-${i}` },
            spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: 'pw', key: 'htpasswd' }, groups: [`team-${i % 100}`] },
          },
        });
        await client.request('POST', `${GROUP}/namespaces/${NS}/repositorygrants`, { body: grant(`grant-${i}`, `user-${i}`) });
      },
    );
    print(`created ${2 * n} objects in ${((Date.now() - created) / 1000).toFixed(1)} s`);

    const bareRate = await bareWritesPerSecond(client, false);
    const baselineSeconds = (2 * n) / bareRate;
    const bareWithEventsRate = await bareWritesPerSecond(client, true);

    const since = (await client.get<{ metadata: { resourceVersion: string } }>(`${GROUP}/namespaces/${NS}/repositorygrants`, { limit: 1 })).metadata
      .resourceVersion;
    const ready = new Map<string, number>();
    for (const plural of ['registryusers', 'repositorygrants']) watches.push(await watchReady(client, plural, since, ready));

    const load = loadavg()[0]!.toFixed(2);
    // Who spends the machine's CPU while the backlog is written: the API server, etcd, the operator, this
    // process (its watches and the late grant).
    const controlPlane = pidsMentioning(cp.dir).filter((p) => p.name === 'kube-apiserver' || p.name === 'etcd');
    const cpuAtStart = new Map(controlPlane.map((p) => [p.name, processCpuSeconds(p.pid)]));
    const benchCpuAtStart = process.cpuUsage();
    const start = Date.now();
    operator = spawn(process.execPath, [cli, 'operator', '--no-leader-elect', '--log-level', 'warn'], {
      env: { ...process.env, KUBECONFIG: cp.kubeconfigPath },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    // The late change: once a tenth of the backlog is written, a new grant for an existing user.
    await waitFor('a tenth of the statuses', () => Promise.resolve(ready.size >= n / 5), 900_000, undefined, 50);
    const lateAt = Date.now();
    await client.request('POST', `${GROUP}/namespaces/${NS}/repositorygrants`, { body: grant('late-grant', 'user-0') });
    await waitFor('the late grant Ready', () => Promise.resolve(ready.has('repositorygrants/late-grant')), 900_000, undefined, 20);
    const lateMs = ready.get('repositorygrants/late-grant')! - lateAt;
    const unwrittenThen = 2 * n + 1 - ready.size;
    await waitFor('every status written', () => Promise.resolve(ready.size === 2 * n + 1), 900_000, undefined, 50);
    const statusesDone = Math.max(...ready.values());
    const allSeconds = (statusesDone - start) / 1000;
    const memory = processMemory(operator.pid!);
    const benchCpu = process.cpuUsage(benchCpuAtStart);
    const cpuSpent = [
      ...controlPlane.map((p) => [p.name, processCpuSeconds(p.pid) - cpuAtStart.get(p.name)!] as const),
      ['operator', processCpuSeconds(operator.pid!)] as const,
      ['bench watches', (benchCpu.user + benchCpu.system) / 1e6] as const,
    ];

    // The Events trail the statuses (at most 1,000 wait; the rest are dropped and counted): how many are
    // recorded, and when the count stops growing (unchanged for 3 s, 120 s at most).
    const countEvents = async (): Promise<number> => (await client.get<{ items: unknown[] }>(`/apis/events.k8s.io/v1/namespaces/${NS}/events`)).items.length;
    let eventCount = await countEvents();
    let eventsDone = Date.now();
    while (Date.now() - eventsDone < 3000 && Date.now() - statusesDone < 120_000) {
      await new Promise((r) => setTimeout(r, 500));
      const now = await countEvents();
      if (now !== eventCount) [eventCount, eventsDone] = [now, Date.now()];
    }

    print(`baseline: bare status apply, ${CONCURRENCY} in flight: ${bareRate.toFixed(0)} objects/s (${baselineSeconds.toFixed(1)} s for ${2 * n})`);
    print(
      `baseline: bare status apply + Event: ${bareWithEventsRate.toFixed(0)} objects/s (${((2 * n) / bareWithEventsRate).toFixed(1)} s for ${2 * n}; the operator before Events trailed the statuses)`,
    );
    print(
      `operator start -> all ${2 * n} statuses written: ${allSeconds.toFixed(1)} s (${(allSeconds / baselineSeconds).toFixed(2)} x baseline; load average ${load} at start)`,
    );
    const cpuTotal = cpuSpent.reduce((sum, [, seconds]) => sum + seconds, 0);
    print(
      `CPU from operator start to the last status: ${cpuSpent.map(([name, seconds]) => `${name} ${seconds.toFixed(1)} s`).join(', ')}; ` +
        `${cpuTotal.toFixed(1)} s of the ${(allSeconds * cpus().length).toFixed(1)} s ${cpus().length} cores had ` +
        `(the API server ${((1000 * (cpuSpent.find(([name]) => name === 'kube-apiserver')?.[1] ?? 0)) / (2 * n)).toFixed(1)} ms a status)`,
    );
    print(`grant created during the backlog -> its status Ready: ${lateMs} ms (${unwrittenThen} statuses still unwritten then)`);
    print(
      `Events recorded: ${eventCount}, the last ${((eventsDone - statusesDone) / 1000).toFixed(1)} s after the last status (past 1,000 waiting they are dropped)`,
    );
    print(`operator RSS after the first start: ${memory.rss.toFixed(0)} MB (peak ${memory.peak.toFixed(0)} MB)`);
  } finally {
    for (const w of watches) w.abort();
    if (operator && operator.exitCode === null) {
      const exited = new Promise((r) => operator!.once('exit', r));
      operator.kill('SIGTERM');
      await exited;
    }
    await cp.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const print = (s: string): void => void process.stdout.write(`${s}\n`);
  print(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
  runStatusWritesBench(Number(process.env.BENCH_OBJECTS ?? 10_000), print).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
