// `npm run bench`: token-issuing throughput and latency of `portcullis token-server` against a bare
// node:http ES256 signer measured in the same run (the machines are shared and noisy: the ratio is
// the figure to compare), a micro-benchmark of policy evaluation at 10,000 grants, and how failed
// logins behave (login-defences.ts), logins from identity sources (identity.ts), and the activity trail's
// intake and queries (activity.ts), and a retention dry run over 1,000 x 100 tags (retention.ts).
// BENCH_ONLY=throughput, defences, identity, activity, retention, peer or memory runs one part (memory: the
// token server's RSS at 10,000 and 100,000 users, memory.ts); peer compares with
// cesanta/docker_auth (docker-auth.ts) when bench/setup-docker-auth.sh has built it.
//
// Workloads, each against its own freshly started server process on loopback:
//   (a) one user logging in repeatedly for repository:team/app:pull,push
//   (b) 1,000 users round-robin, 10,000 grants in the snapshot
//   (c) anonymous pull tokens for public/**
import autocannon from 'autocannon';
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg as osLoadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { authorize, buildPolicyIndex } from '../policy/authorize.js';
import { DecisionCache } from '../policy/decision-cache.js';
import { parseScopes } from '../policy/scope.js';
import { compileSnapshot } from '../policy/snapshot.js';
import { benchPolicy, NAMESPACE, SERVICE, writeBenchDirs } from './fixture.js';
import { runActivityBench } from './activity.js';
import { runDockerAuthBench } from './docker-auth.js';
import { runIdentityBench } from './identity.js';
import { runLoginDefenceBench } from './login-defences.js';
import { runMemoryBench } from './memory.js';
import { runRetentionBench } from './retention.js';
import { basic, checkGrant, cpuList, loadTest, median, pin, processMemory, row, type LoadResult } from './measure.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'bin', 'portcullis.js');
/** Alternating runs per workload: the baseline, then the server, ROUNDS times, ROUND_SECONDS each. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 1);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
/** Token-server processes (--workers) per throughput run; each row's baseline runs as many signers. */
const WORKERS = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
/**
 * With one worker, the server (and the baseline before it) runs alone on SERVER_CPU and this process with
 * its load generator on LOAD_CPU, as in the peer comparison: unpinned, the two shared both cores as the
 * scheduler pleased and the same build's ratio moved by a fifth between runs. More workers need every core.
 */
const SERVER_CPU = '0';
const LOAD_CPU = '1';

interface Started {
  child: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

/**
 * `node args`, ready once its stdout matches `ready` (group 1: the port). `cpu`: on that CPU alone
 * (taskset). `log`: stderr to that file, not through this process: a token server writes an audit line
 * per token, and reading them here took the load generator's CPU from the server's runs only.
 */
function startChild(args: string[], ready: RegExp, options: { cpu?: string; log?: string } = {}): Promise<Started> {
  return new Promise((resolve, reject) => {
    const logFd = options.log === undefined ? undefined : openSync(options.log, 'w');
    const stdio: StdioOptions = ['ignore', 'pipe', logFd ?? 'pipe'];
    const child =
      options.cpu === undefined ? spawn(process.execPath, args, { stdio }) : spawn('taskset', ['-c', options.cpu, process.execPath, ...args], { stdio });
    if (logFd !== undefined) closeSync(logFd);
    let out = '';
    const onOutput = (chunk: Buffer): void => {
      out += chunk.toString();
    };
    const onData = (chunk: Buffer): void => {
      onOutput(chunk);
      const m = ready.exec(out);
      if (m) {
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onOutput);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve({
          child,
          port: Number(m[1]),
          stop: () =>
            new Promise<void>((r) => {
              if (child.exitCode !== null) return r();
              child.once('exit', () => r());
              child.kill('SIGTERM');
            }),
        });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onOutput);
    child.once('exit', (code) => {
      const log = options.log === undefined ? '' : readFileSync(options.log, 'utf8').slice(-4000);
      reject(new Error(`${args.join(' ')} exited with ${code}:\n${out}${log}`));
    });
  });
}

/** Resident memory of a process and its children (the workers of --workers), summed. */
function rssOf(pid: number): { rssMB: number; peakMB: number } {
  const own = processMemory(pid);
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // no children file: count the process alone
  }
  return children.map(rssOf).reduce((a, b) => ({ rssMB: a.rssMB + b.rssMB, peakMB: a.peakMB + b.peakMB }), { rssMB: own.rss, peakMB: own.peak });
}

/** The 1-minute load average: a figure taken while other work ran is worth less. */
const loadavg = (): string => osLoadavg()[0]!.toFixed(1);

/**
 * Sends each request once to every worker, requiring a 200: "warm" means every user of the workload has had
 * its password verified by the process that will answer it before the clock starts. A timed warm-up alone
 * does not do it: autocannon's connections walk the request list in step, so 2 s reached only the first
 * hundred or so of (b)'s 1,000 users, and the measured run paid for the rest's bcrypt. node:cluster hands
 * new connections to the workers in turn, so `workers` keep-alive connections opened one after another
 * reach each worker once; /metrics (summed over the workers) then counts one comparison per user and worker.
 */
async function warmEveryWorker(port: number, requests: autocannon.Request[], workers: number): Promise<void> {
  const send = (agent: Agent, req: autocannon.Request): Promise<number> =>
    new Promise((resolve, reject) => {
      const r = httpRequest({ host: '127.0.0.1', port, path: req.path, agent, headers: req.headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      r.on('error', reject);
      r.end();
    });
  const agents = Array.from({ length: workers }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  try {
    for (const agent of agents) await send(agent, requests[0]!); // one connection after another
    await Promise.all(
      agents.map(async (agent) => {
        for (const req of requests) {
          const status = await send(agent, req);
          if (status !== 200) throw new Error(`warm-up: ${req.path} answered ${status}`);
        }
      }),
    );
  } finally {
    for (const agent of agents) agent.destroy();
  }
  const users = new Set(requests.map((r) => (r.headers as Record<string, string> | undefined)?.authorization).filter((a) => a !== undefined)).size;
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const comparisons = metrics
    .split('\n')
    .filter((l) => l.startsWith('portcullis_password_comparisons_total{'))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  if (comparisons !== users * workers) throw new Error(`warm-up: ${comparisons} password comparisons for ${users} users on ${workers} workers`);
}

const tokenPath = (scope: string): string => `/token?service=${encodeURIComponent(SERVICE)}&scope=${encodeURIComponent(scope)}`;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-'));
  const lines: string[] = [];
  const print = (s: string): void => {
    lines.push(s);
    process.stdout.write(`${s}\n`);
  };
  try {
    print(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
    const only = process.env.BENCH_ONLY;
    if (only === undefined || only === 'throughput') await throughput(dir, print);
    if (only === undefined || only === 'defences') await runLoginDefenceBench(print, startChild, join(here, 'baseline.js'), cli);
    if (only === undefined || only === 'identity') await runIdentityBench(print, startChild, join(here, 'baseline.js'), cli);
    if (only === undefined || only === 'activity') await runActivityBench(print, startChild, here);
    if (only === undefined || only === 'retention') await runRetentionBench(print);
    if (only === undefined || only === 'peer') await runDockerAuthBench(print, cli, join(here, 'baseline.js'));
    if (only === undefined || only === 'memory') await runMemoryBench(print);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function throughput(dir: string, print: (s: string) => void): Promise<void> {
  {
    print(
      `load: autocannon, ${CONNECTIONS} connections, loopback; after a 2 s warm-up of each, ${ROUNDS} rounds of ${ROUND_SECONDS} s on the baseline then ${ROUND_SECONDS} s on the server; medians over the rounds (p99: the worst round); loadavg ${loadavg()}`,
    );
    print(`1 worker: the server (and its baseline) pinned to CPU ${SERVER_CPU}, autocannon to CPU ${LOAD_CPU}; more workers: unpinned`);
    print('token server at --log-level info, as deployed: one audit line per token, to a file (stderr)');
    const policy = await benchPolicy(1000, 10_000);
    const { policyDir, keysDir } = await writeBenchDirs(dir, policy);

    const workloads: { name: string; requests: autocannon.Request[]; expect: string[] }[] = [
      {
        name: '(a) one user, team/app pull,push',
        requests: [
          { method: 'GET', path: tokenPath('repository:team/app:pull,push'), headers: { authorization: basic('solo', policy.passwords.get('solo')!) } },
        ],
        expect: ['pull', 'push'],
      },
      {
        name: '(b) 1,000 users, 10,000 grants',
        requests: Array.from({ length: 1000 }, (_, i) => {
          const team = i % 100;
          const grant = team + 100 * (i % 100);
          return {
            method: 'GET' as const,
            path: tokenPath(`repository:team-${team}/app-${grant}/svc:pull,push`),
            headers: { authorization: basic(`user-${i}`, policy.passwords.get(`user-${i}`)!) },
          };
        }),
        expect: ['pull', 'push'],
      },
      { name: '(c) anonymous pull, public/**', requests: [{ method: 'GET', path: tokenPath('repository:public/lib/x:pull') }], expect: ['pull'] },
    ];

    print('');
    print(row(['workload', 'tokens/s', 'p50 ms', 'p99 ms', 'RSS MB', 'non-2xx', 'x baseline']));
    // The baseline and the server take turns on the same workload, one second each, ROUNDS times, and
    // the figures are medians over the rounds (p99: the worst round's). The machine's speed moves within
    // seconds: with one 10 s run of each, one build's ratio ranged 0.45-0.72 between runs, where the
    // medians of alternating runs of two identical servers agreed within 0.01.
    const measureWorkload = async (w: (typeof workloads)[number], workers: number, cpu: string | undefined): Promise<void> => {
      const suffix = workers === 1 ? '' : `, ${workers} workers`;
      const baseline = await startChild([join(here, 'baseline.js'), '0', String(workers)], /baseline listening on 127\.0\.0\.1:(\d+)/, { cpu });
      let server: Started | undefined;
      try {
        server = await startChild(
          [
            cli,
            'token-server',
            '--policy-dir',
            policyDir,
            '--keys-dir',
            keysDir,
            '--listen',
            '127.0.0.1:0',
            '--log-level',
            'info',
            '--workers',
            String(workers),
          ],
          /listening on (?:https?:\/\/)?127\.0\.0\.1:(\d+)/,
          { cpu, log: join(dir, 'token-server.log') },
        );
        await checkGrant(server.port, w.requests[0]!, w.expect);
        await checkGrant(server.port, w.requests[w.requests.length - 1]!, w.expect);
        await warmEveryWorker(server.port, w.requests, workers);
        await loadTest(CONNECTIONS, baseline.port, w.requests, 2); // warm-up: JIT
        await loadTest(CONNECTIONS, server.port, w.requests, 2);
        const base: LoadResult[] = [];
        const ours: LoadResult[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          base.push(await loadTest(CONNECTIONS, baseline.port, w.requests, ROUND_SECONDS));
          ours.push(await loadTest(CONNECTIONS, server.port, w.requests, ROUND_SECONDS));
        }
        const ratio = median(ours.map((r, i) => r.rps / base[i]!.rps));
        const summary = (rs: LoadResult[]) => ({
          rps: median(rs.map((r) => r.rps)).toFixed(0),
          p50: median(rs.map((r) => r.p50)),
          p99: Math.max(...rs.map((r) => r.p99)),
          failed: rs.reduce((n, r) => n + r.non2xx + r.errors, 0),
        });
        const b = summary(base);
        const o = summary(ours);
        const baseRss = rssOf(baseline.child.pid!);
        const rss = rssOf(server.child.pid!);
        print(row([`  baseline (node:http + ES256${suffix})`, b.rps, b.p50, b.p99, baseRss.rssMB.toFixed(0), b.failed, '1.00']));
        print(
          row([
            `${w.name}${suffix}`,
            o.rps,
            o.p50,
            o.p99,
            `${rss.rssMB.toFixed(0)} (peak ${rss.peakMB.toFixed(0)})`,
            o.failed,
            `${ratio.toFixed(2)} (load ${loadavg()})`,
          ]),
        );
      } finally {
        await server?.stop();
        await baseline.stop();
      }
    };
    const ownCpus = await cpuList(process.pid);
    for (const workers of WORKERS) {
      const pinned = workers === 1 && cpus().length >= 2;
      if (pinned) await pin(process.pid, LOAD_CPU);
      try {
        for (const w of workloads) await measureWorkload(w, workers, pinned ? SERVER_CPU : undefined);
      } finally {
        if (pinned) await pin(process.pid, ownCpus);
      }
    }

    // Policy evaluation alone, in this process: 10,000 grants, scopes spread over all teams.
    const compiled = compileSnapshot({ ...policy, namespaces: [{ name: NAMESPACE, labels: {} }] }).registries[0]!.snapshot.registries[0]!;
    const index = buildPolicyIndex(compiled);
    const parsed = Array.from({ length: 1000 }, (_, i) => {
      const team = i % 100;
      const r = parseScopes([`repository:team-${team}/app-${team + 100 * (i % 100)}/svc:pull,push`]);
      if (!r.ok) throw new Error(r.message);
      return { requester: { kind: 'user' as const, username: `user-${i}`, groups: [`team-${team}`] }, scopes: r.scopes };
    });
    const iterations = 200_000;
    for (let i = 0; i < 20_000; i++) authorize(index, parsed[i % 1000]!.requester, parsed[i % 1000]!.scopes);
    const t0 = process.hrtime.bigint();
    let granted = 0;
    for (let i = 0; i < iterations; i++) granted += authorize(index, parsed[i % 1000]!.requester, parsed[i % 1000]!.scopes)[0]!.granted.length;
    const perScopeUs = Number(process.hrtime.bigint() - t0) / 1000 / iterations;
    if (granted !== iterations * 2) throw new Error(`evaluation sanity check failed: ${granted} actions granted`);
    // The same requests through the decision cache the token server uses (policy/decision-cache.ts): warm, every one a hit.
    const cache = new DecisionCache(index);
    for (let i = 0; i < 20_000; i++) cache.authorize('bench', parsed[i % 1000]!.requester, parsed[i % 1000]!.scopes);
    const t1 = process.hrtime.bigint();
    let cachedGranted = 0;
    for (let i = 0; i < iterations; i++) cachedGranted += cache.authorize('bench', parsed[i % 1000]!.requester, parsed[i % 1000]!.scopes)[0]!.granted.length;
    const cachedUs = Number(process.hrtime.bigint() - t1) / 1000 / iterations;
    if (cachedGranted !== iterations * 2) throw new Error(`cached evaluation sanity check failed: ${cachedGranted} actions granted`);
    print('');
    print(`policy evaluation, 10,000 grants, 1,000 users: ${perScopeUs.toFixed(2)} µs per scope (${iterations} scopes)`);
    print(`  through the decision cache, warm: ${cachedUs.toFixed(2)} µs per scope (${cache.size} decisions held)`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
