// `npm run bench:operator`: the operator and the live token server at scale, on a real kube-apiserver
// + etcd started on loopback. Prints:
//   - time from operator start to a served snapshot with N RegistryUsers and N RepositoryGrants
//     (passwords pre-hashed in `htpasswd` Secrets, so no hashing is in that figure), and, as the
//     baseline measured in the same run, how long one plain LIST of those objects takes;
//   - first-time hashing cost, measured separately (bcrypt cost 10 per plain password);
//   - p50/p99 latency from a single grant change to the token server's new decision;
//   - RSS of the operator and the token server.
// Each figure is printed beside a baseline measured in the same run on the same objects: cold start
// beside one LIST of the inputs; grant change -> decision beside a PATCH -> watch event round trip of a
// grant, and beside two of them in a row (grant seen, then a ConfigMap written and seen: the floor of
// any operator -> token server propagation).
// BENCH_OBJECTS (default 10000) sets N (100000 works: objects are created BENCH_CONCURRENCY, default 64,
// at a time); BENCH_CHANGES (default 20) the number of grant changes;
// BENCH_COLD_START_ONLY=1 stops once the first snapshot is served and prints the operator's lines up to it;
// BENCH_PROFILE_DIR, where to write CPU profiles of the operator and the token server; BENCH_NODE_ARGS,
// Node flags for both, BENCH_OPERATOR_NODE_ARGS for the operator alone. BENCH_IN_PROCESS=1: no API
// server, the grant change -> new index path in this process only (snapshot-delta.ts;
// BENCH_BASELINE_CHANGES, default 3, sets the full-compile baseline's).
import bcrypt from 'bcrypt';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCrd, CRD_KINDS } from '../crds/schema.js';
import { startControlPlane } from '../local/controlPlane.js';
import { freePort, waitFor } from '../local/process.js';
import { KubeClient } from '../kube/request.js';
import { forEachLimited } from '../operator/controllers/for-each-limited.js';
import { OperatorLogMessages } from '../operator/log-messages.js';
import { percentile, processMemory } from './measure.js';
import {
  detailOf,
  gcPausesWithin,
  parseLogLine,
  reconcilesWithin,
  type GcPauseLine,
  type GcSecondLine,
  type OperatorLine,
  type ReconcileLine,
} from './operator-log.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'bin', 'portcullis.js');
const N = Number(process.env.BENCH_OBJECTS ?? 10_000);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
/** The operator's lines kept after its cold start (operator-log.ts reads them). */
const KEPT_LINES = new Set<string>(Object.values(OperatorLogMessages));

/** How often the token server is asked whether a grant change took effect (at 100 ms, the figure was rounded up to a poll). */
const CHANGE_POLL_MS = 10;
/** How long the operator is left idle before its RSS is read again. */
const IDLE_MS = 60_000;
const NS = 'bench';
const SERVICE = 'bench.registry';
const GROUP = '/apis/portcullis.dev/v1alpha1';

function rssOf(pid: number): string {
  const { rss, peak } = processMemory(pid);
  return `${rss.toFixed(0)} MB (peak ${peak.toFixed(0)} MB)`;
}

function spawnCli(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  // BENCH_PROFILE_DIR=DIR writes a V8 CPU profile of each component there when it exits.
  const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
  // BENCH_NODE_ARGS, e.g. "--max-old-space-size=128": Node flags for both components (a container's
  // memory limit sizes the heap the same way).
  // BENCH_OPERATOR_NODE_ARGS, e.g. "--max-semi-space-size=64": Node flags for the operator alone.
  const flags = (name: string): string[] => (process.env[name] ?? '').split(' ').filter(Boolean);
  const nodeArgs = [...flags('BENCH_NODE_ARGS'), ...(args[0] === 'operator' ? flags('BENCH_OPERATOR_NODE_ARGS') : [])];
  const child = spawn(process.execPath, [...nodeArgs, ...profile, cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (c: Buffer): void => {
    out = (out + c.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => out };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function main(): Promise<void> {
  const print = (s: string): boolean => process.stdout.write(`${s}\n`);
  print(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
  if (process.env.BENCH_IN_PROCESS === '1') {
    const { runSnapshotDeltaBench } = await import('./snapshot-delta.js');
    return runSnapshotDeltaBench(N, CHANGES, Number(process.env.BENCH_BASELINE_CHANGES ?? 3), print);
  }
  print(`objects: ${N} RegistryUsers (+${N} htpasswd Secrets), ${N} RepositoryGrants, 1 Registry`);
  const cp = await startControlPlane();
  const children: ChildProcess[] = [];
  try {
    const client = new KubeClient(cp.kubeConfig);
    for (const kind of CRD_KINDS) await client.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: loadCrd(kind) });
    await waitFor(
      'CRDs served',
      async () => {
        await client.request('GET', `${GROUP}/repositorygrants`);
        return true;
      },
      60_000,
    );
    await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
    await client.request('POST', `${GROUP}/namespaces/${NS}/registries`, {
      body: { apiVersion: 'portcullis.dev/v1alpha1', kind: 'Registry', metadata: { name: 'main' }, spec: { service: SERVICE, tokenTTL: '5m' } },
    });

    // One hash reused for every user: the figure below is about publishing, not hashing.
    const password = 'bench-password';
    const hash = await bcrypt.hash(password, 4);
    const created = Date.now();
    await forEachLimited(
      Array.from({ length: N }, (_, i) => i),
      CONCURRENCY,
      async (i) => {
        await client.request('POST', `/api/v1/namespaces/${NS}/secrets`, {
          body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: `user-${i}-pw` }, stringData: { htpasswd: hash } },
        });
        await client.request('POST', `${GROUP}/namespaces/${NS}/registryusers`, {
          body: {
            apiVersion: 'portcullis.dev/v1alpha1',
            kind: 'RegistryUser',
            metadata: { name: `user-${i}` },
            spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: `user-${i}-pw`, key: 'htpasswd' }, groups: [`team-${i % 100}`] },
          },
        });
        await client.request('POST', `${GROUP}/namespaces/${NS}/repositorygrants`, {
          body: {
            apiVersion: 'portcullis.dev/v1alpha1',
            kind: 'RepositoryGrant',
            metadata: { name: `grant-${i}` },
            spec: { registryRef: { name: 'main' }, subjects: [{ kind: 'User', name: `user-${i}` }], repositories: [`u-${i}/app`], actions: ['pull'] },
          },
        });
      },
    );
    print(`created ${3 * N} objects in ${((Date.now() - created) / 1000).toFixed(1)} s`);

    // Baseline: reading the inputs once, as a plain LIST, is the floor for any reconcile.
    const listStart = Date.now();
    await Promise.all(['registryusers', 'repositorygrants'].map((p) => client.request('GET', `${GROUP}/namespaces/${NS}/${p}`, { timeoutMs: 120_000 })));
    await client.request('GET', `/api/v1/namespaces/${NS}/secrets`, { timeoutMs: 120_000 });
    const listSeconds = (Date.now() - listStart) / 1000;

    // As the image runs them (Dockerfile: MALLOC_ARENA_MAX=2), unless the caller sets it.
    const env = { MALLOC_ARENA_MAX: '2', ...process.env, KUBECONFIG: cp.kubeconfigPath };
    const tokenPort = await freePort();
    const tokenServer = spawnCli(['token-server', '--registry', `${NS}/main`, '--listen', `127.0.0.1:${tokenPort}`, '--log-level', 'warn'], env);
    children.push(tokenServer.child);
    const basic = (i: number): string => `Basic ${Buffer.from(`user-${i}:${password}`).toString('base64')}`;
    const actionsFor = async (i: number, repo: string): Promise<string[]> => {
      const res = await fetch(`http://127.0.0.1:${tokenPort}/token?service=${SERVICE}&scope=repository:${repo}:pull,push`, {
        headers: { authorization: basic(i) },
      });
      if (res.status !== 200) return [];
      const body = (await res.json()) as { token: string };
      const claims = JSON.parse(Buffer.from(body.token.split('.')[1]!, 'base64url').toString()) as { access: { actions: string[] }[] };
      return claims.access[0]?.actions ?? [];
    };

    const operatorStart = Date.now();
    // At debug for its "heap compacted" lines (bin/heap-compaction.ts), its "registry reconciled" lines
    // (where each reconcile's time went) and its "gc pause" and "gc time" lines; /metrics for its V8 heap.
    const operatorMetricsPort = await freePort();
    const operator = spawnCli(['operator', '--no-leader-elect', '--log-level', 'debug', '--metrics-listen', `127.0.0.1:${operatorMetricsPort}`], env);
    // Every line until the first snapshot is served (a cold start's account), then the kinds in KEPT_LINES.
    const operatorLines: OperatorLine[] = [];
    let coldStart = true;
    let partial = '';
    operator.child.stdout?.on('data', (c: Buffer) => {
      const lines = (partial + c.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const entry = parseLogLine(line);
        if (entry !== undefined && (coldStart || KEPT_LINES.has(entry.msg))) operatorLines.push(entry);
      }
    });
    children.push(operator.child);
    const last = N - 1;
    await waitFor(
      'the token server to serve the snapshot',
      async () => (await actionsFor(last, `u-${last}/app`)).includes('pull'),
      Math.max(300_000, N * 6),
      () => `${operator.output()}\n${tokenServer.output()}`,
    );
    const servedSeconds = (Date.now() - operatorStart) / 1000;
    coldStart = false;
    if (process.env.BENCH_COLD_START_ONLY === '1') {
      // Where a cold start's time goes: the operator's own lines (lists, publishes), since its start.
      for (const entry of operatorLines) print(`  +${((entry.time - operatorStart) / 1000).toFixed(1)} s ${entry.msg}${detailOf(entry)}`);
      print(
        `operator start -> snapshot served by the token server: ${servedSeconds.toFixed(2)} s (${(servedSeconds / listSeconds).toFixed(1)} x one LIST of ${listSeconds.toFixed(2)} s)`,
      );
      return;
    }
    print(`(served after ${servedSeconds.toFixed(1)} s; waiting for the first start's status writes)`);
    // Statuses of every object are written after the snapshot is published; on a first start that is
    // one write per object. Grant-change latency is measured once they are done (the steady state).
    const withStatus = async (plural: string): Promise<number> => {
      const list = await client.request<{ items: { status?: { conditions?: unknown[] } }[] }>('GET', `${GROUP}/namespaces/${NS}/${plural}`, {
        timeoutMs: 120_000,
      });
      return list.items.filter((o) => (o.status?.conditions?.length ?? 0) > 0).length;
    };
    // Polled every 2 s at 10,000 (20 s at 100,000): listing every object is itself load on the API
    // server. 20,000 statuses take 1-3 min here; the wait grows with N.
    await waitFor(
      'every status written',
      async () => (await withStatus('registryusers')) === N && (await withStatus('repositorygrants')) === N,
      Math.max(900_000, N * 20),
      () => operator.output(),
      Math.max(2000, N / 5),
    );
    const statusesSeconds = (Date.now() - operatorStart) / 1000;

    // First-time hashing, separately: bcrypt cost 10 on this machine's threadpool.
    const sample = 64;
    const hashStart = Date.now();
    await Promise.all(Array.from({ length: sample }, (_, i) => bcrypt.hash(`password-${i}`, 10)));
    const perHashMs = (Date.now() - hashStart) / sample;

    const baseline = await watchRoundTrips(client, CHANGES);

    const latencies: number[] = [];
    const changeWindows: { start: number; end: number }[] = [];
    for (let k = 0; k < CHANGES; k++) {
      const i = Math.floor((k * N) / CHANGES);
      // A login before the change: no password check in the figure, and the decision before it lacks push.
      if ((await actionsFor(i, `u-${i}/app`)).includes('push')) throw new Error(`grant-${i} allows push before its change`);
      const start = Date.now();
      await client.request('PATCH', `${GROUP}/namespaces/${NS}/repositorygrants/grant-${i}`, {
        body: { spec: { actions: ['pull', 'push'] } },
        contentType: 'application/merge-patch+json',
      });
      await waitFor(
        `grant-${i} to take effect`,
        async () => (await actionsFor(i, `u-${i}/app`)).includes('push'),
        60_000,
        () => operator.output(),
        CHANGE_POLL_MS,
      );
      latencies.push(Date.now() - start);
      changeWindows.push({ start, end: Date.now() });
    }

    // A token server started now reads the published snapshot (every shard) from scratch.
    await stopChild(tokenServer.child);
    const restartAt = Date.now();
    const restarted = spawnCli(['token-server', '--registry', `${NS}/main`, '--listen', `127.0.0.1:${tokenPort}`, '--log-level', 'warn'], env);
    children.push(restarted.child);
    await waitFor(
      'the restarted token server to serve',
      async () => (await actionsFor(last, `u-${last}/app`).catch((): string[] => [])).includes('pull'),
      300_000,
      () => restarted.output(),
      50,
    );
    const tokenServerStartSeconds = (Date.now() - restartAt) / 1000;
    const layout = await snapshotLayout(client);

    print('');
    print(`snapshot as published: ${layout}`);
    print(`baseline: one LIST of the ${3 * N} inputs: ${listSeconds.toFixed(2)} s`);
    print(`operator start -> snapshot served by the token server: ${servedSeconds.toFixed(2)} s (${(servedSeconds / listSeconds).toFixed(1)} x baseline)`);
    print(`operator start -> all ${2 * N} object statuses written (first start only): ${statusesSeconds.toFixed(1)} s`);
    print(
      `first-time hashing (bcrypt cost 10, plain passwords): ${perHashMs.toFixed(1)} ms per password, ~${((perHashMs * N) / 1000).toFixed(0)} s for ${N} users`,
    );
    print(
      `baseline: PATCH -> watch event of one grant, ${CHANGES} times: p50 ${percentile(baseline.single, 50)} ms, p99 ${percentile(baseline.single, 99)} ms; ` +
        `two in a row (grant, then a ConfigMap): p50 ${percentile(baseline.double, 50)} ms, p99 ${percentile(baseline.double, 99)} ms`,
    );
    print(`grant change -> new decision, each in order (ms): ${latencies.join(' ')}`);
    print("  the operator's reconciles ending within each change (ms, ending at ms since the PATCH; per phase; queue: status writes waiting):");
    const reconciles = operatorLines.filter((l) => l.msg === OperatorLogMessages.reconciled) as ReconcileLine[];
    const pauses = operatorLines.filter((l) => l.msg === OperatorLogMessages.gcPause) as GcPauseLine[];
    const gcSeconds = operatorLines.filter((l) => l.msg === OperatorLogMessages.gcTime) as GcSecondLine[];
    changeWindows.forEach((w, k) => print(`  ${k + 1}. ${reconcilesWithin(reconciles, w)}; gc: ${gcPausesWithin(pauses, gcSeconds, w)}`));
    const drained = operatorLines.find((l) => l.msg === OperatorLogMessages.statusesDrained);
    if (drained !== undefined && changeWindows[0] !== undefined) {
      const beforeChanges = { start: drained.time, end: changeWindows[0].start };
      print(
        `  after the status writes drained, ${beforeChanges.end - beforeChanges.start} ms before the first change: ${reconcilesWithin(reconciles, beforeChanges)}`,
      );
    }
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    print(
      `grant change -> new decision, ${CHANGES} changes: p50 ${p50} ms, p99 ${p99} ms, max ${Math.max(...latencies)} ms ` +
        `(p50 ${(p50 / Math.max(1, percentile(baseline.double, 50))).toFixed(1)} x, p99 ${(p99 / Math.max(1, percentile(baseline.double, 99))).toFixed(1)} x the two-round-trip baseline)`,
    );
    print(
      `token server start -> snapshot served (reads every shard): ${tokenServerStartSeconds.toFixed(2)} s (${(tokenServerStartSeconds / listSeconds).toFixed(1)} x baseline LIST)`,
    );
    const heapUsedOf = async (port: number): Promise<string> =>
      (Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())?.[1]) / 2 ** 20).toFixed(0);
    print(`load average at the end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
    print(
      `RSS: operator ${rssOf(operator.child.pid!)} (V8 heap in use ${await heapUsedOf(operatorMetricsPort)} MB), ` +
        `token server (restarted) ${rssOf(restarted.child.pid!)} (V8 heap in use ${await heapUsedOf(tokenPort)} MB)`,
    );
    // What a pod limit sees most of the time: the operator once nothing has happened for a while.
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    print(`RSS after ${IDLE_MS / 1000} s idle: operator ${rssOf(operator.child.pid!)} (V8 heap in use ${await heapUsedOf(operatorMetricsPort)} MB)`);
    const compactedIdle = operatorLines.filter((l) => l.msg === OperatorLogMessages.heapCompacted) as (OperatorLine & {
      rssBeforeMB: number;
      rssAfterMB: number;
      pauseMs: number;
    })[];
    print(
      `operator heap compactions: ${compactedIdle.length}` +
        (compactedIdle.length > 0 ? ` (${compactedIdle.map((c) => `${c.rssBeforeMB} -> ${c.rssAfterMB} MB in ${c.pauseMs} ms`).join(', ')})` : ''),
    );
  } finally {
    for (const child of children) await stopChild(child);
    await cp.stop();
  }
  // BENCH_STATUS_WRITES=1: also a first start's status writes at N users + N grants (status-writes.ts).
  if (process.env.BENCH_STATUS_WRITES === '1') await (await import('./status-writes.js')).runStatusWritesBench(N, print);
}

/**
 * The floor under a grant change's latency, on the same API server and objects: a PATCH of a grant until
 * a watch of all grants delivers it (`single`), and that followed by a ConfigMap write until a watch of
 * ConfigMaps delivers it (`double`): what any operator -> token server propagation costs at least.
 */
async function watchRoundTrips(client: KubeClient, times: number): Promise<{ single: number[]; double: number[] }> {
  const waiting = new Map<string, () => void>();
  const seen = (type: string, object: unknown): void => {
    const meta = (object as { metadata?: { name?: string; labels?: Record<string, string> } }).metadata;
    const key = `${meta?.name}@${meta?.labels?.['bench-round'] ?? ''}`;
    if (type === 'MODIFIED' || type === 'ADDED') waiting.get(key)?.();
  };
  const grantsList = await client.request<{ metadata: { resourceVersion: string } }>('GET', `${GROUP}/namespaces/${NS}/repositorygrants`, {
    query: { limit: 1 },
  });
  const cmList = await client.request<{ metadata: { resourceVersion: string } }>('GET', `/api/v1/namespaces/${NS}/configmaps`, { query: { limit: 1 } });
  const watches = [
    await client.watch(`${GROUP}/namespaces/${NS}/repositorygrants`, { resourceVersion: grantsList.metadata.resourceVersion }, seen),
    await client.watch(`/api/v1/namespaces/${NS}/configmaps`, { resourceVersion: cmList.metadata.resourceVersion }, seen),
  ];
  const arrival = (key: string): Promise<void> => new Promise((resolve) => waiting.set(key, resolve));
  const single: number[] = [];
  const double: number[] = [];
  try {
    await client.request('POST', `/api/v1/namespaces/${NS}/configmaps`, {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bench-round-trip' } },
    });
    for (let k = 0; k < times; k++) {
      const grant = `grant-${Math.floor((k * N) / times) + 1 < N ? Math.floor((k * N) / times) + 1 : 0}`;
      const round = String(k);
      const start = Date.now();
      const grantSeen = arrival(`${grant}@${round}`);
      await client.request('PATCH', `${GROUP}/namespaces/${NS}/repositorygrants/${grant}`, {
        body: { metadata: { labels: { 'bench-round': round } } },
        contentType: 'application/merge-patch+json',
      });
      await grantSeen;
      single.push(Date.now() - start);
      const cmSeen = arrival(`bench-round-trip@${round}`);
      await client.request('PATCH', `/api/v1/namespaces/${NS}/configmaps/bench-round-trip`, {
        body: { metadata: { labels: { 'bench-round': round } } },
        contentType: 'application/merge-patch+json',
      });
      await cmSeen;
      double.push(Date.now() - start);
    }
  } finally {
    for (const w of watches) w.abort();
  }
  return { single, double };
}

/** How the snapshot is laid out in ConfigMaps: objects, and the largest one's size. */
async function snapshotLayout(client: KubeClient): Promise<string> {
  const list = await client.request<{ items: { metadata: { name: string }; data?: Record<string, string>; binaryData?: Record<string, string> }[] }>(
    'GET',
    `/api/v1/namespaces/${NS}/configmaps`,
    { query: { labelSelector: 'portcullis.dev/registry=main' }, timeoutMs: 120_000 },
  );
  const sizes = list.items.map((i) => Buffer.byteLength(JSON.stringify({ data: i.data, binaryData: i.binaryData })));
  const total = sizes.reduce((a, b) => a + b, 0);
  return `${list.items.length} ConfigMaps, ${(total / 2 ** 20).toFixed(1)} MiB in all, largest ${(Math.max(...sizes) / 1024).toFixed(0)} KiB`;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
