// The peer in `npm run bench` (BENCH_ONLY=peer): cesanta/docker_auth, built unmodified by
// bench/setup-docker-auth.sh, against `portcullis token-server` on the same users, passwords (the very
// bcrypt hashes, at cost 5 and at cost 10) and grants (docker-auth-config.ts), on workloads
// (a) one user logging in repeatedly and (b) 1,000 users over 10,000 grants. Each server runs alone on
// CPU 0 (taskset), this process and its load generator on CPU 1; the bare node:http signer runs on CPU 0
// right before each pair as the reference ceiling. Before a server is measured, a request of the workload
// must get a token granting what it asks (docker_auth's token verified against its certificate) and a
// request outside its grants must not, so neither side is flattered by fast refusals.
//
// Both servers run as shipped: docker_auth compares bcrypt on every request (it has no credential cache)
// and logs its "New token" line; the token server remembers a verified password for 60 s and writes its
// audit line. Both logs go to files, not through this process.
import type autocannon from 'autocannon';
import bcrypt from 'bcrypt';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { importX509, jwtVerify } from 'jose';
import { freePort, startProcess, type ManagedProcess } from '../local/process.js';
import { DOCKER_AUTH_ISSUER, writeDockerAuthConfig, type DockerAuthConfig } from './docker-auth-config.js';
import { benchPolicy, SERVICE, writeBenchDirs, type BenchPolicy } from './fixture.js';
import { basic, checkGrant, cpuList, loadTest, pin, row, type LoadResult } from './measure.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const COSTS = [5, 10];
const SERVER_CPU = '0';
const LOAD_CPU = '1';

type Print = (s: string) => void;
type Requests = (endpoint: string) => autocannon.Request[];

interface Workload {
  name: string;
  requests: Requests;
  /** A request of the same users outside their grants: must not get the actions. */
  refused: Requests;
  /** Before measuring, every distinct user logs in once (1,000 bcrypt comparisons fill the token server's cache). */
  warmEachUser: boolean;
}

interface Server {
  port: number;
  pid: number;
  process: ManagedProcess;
  startedInMs: number;
}

const query = (scope: string): string => `service=${encodeURIComponent(SERVICE)}&scope=${encodeURIComponent(scope)}`;

function workloads(policy: BenchPolicy): Workload[] {
  const auth = (user: string): Record<string, string> => ({ authorization: basic(user, policy.passwords.get(user)!) });
  return [
    {
      name: '(a) one user, team/app pull,push',
      requests: (endpoint) => [{ method: 'GET', path: `${endpoint}?${query('repository:team/app:pull,push')}`, headers: auth('solo') }],
      refused: (endpoint) => [{ method: 'GET', path: `${endpoint}?${query('repository:team-1/app-101/svc:pull,push')}`, headers: auth('solo') }],
      warmEachUser: false,
    },
    {
      name: '(b) 1,000 users, 10,000 grants',
      // the same requests as run.ts' workload (b): user-i asks for a repository of its team's grant
      requests: (endpoint) =>
        Array.from({ length: 1000 }, (_, i) => {
          const team = i % 100;
          const scope = `repository:team-${team}/app-${team + 100 * (i % 100)}/svc:pull,push`;
          return { method: 'GET' as const, path: `${endpoint}?${query(scope)}`, headers: auth(`user-${i}`) };
        }),
      refused: (endpoint) => [{ method: 'GET', path: `${endpoint}?${query('repository:team-2/app-202/svc:pull,push')}`, headers: auth('user-1') }],
      warmEachUser: true,
    },
  ];
}

/** The newest .tools/docker_auth-<commit>/auth_server, or DOCKER_AUTH_BIN. */
export function findDockerAuth(root: string): string | undefined {
  const fromEnv = process.env.DOCKER_AUTH_BIN;
  if (fromEnv !== undefined && fromEnv !== '') return existsSync(fromEnv) ? fromEnv : undefined;
  const tools = join(root, '.tools');
  if (!existsSync(tools)) return undefined;
  const built = readdirSync(tools)
    .filter((d) => d.startsWith('docker_auth-'))
    .map((d) => join(tools, d, 'auth_server'))
    .filter((f) => existsSync(f))
    .sort((x, y) => statSync(y).mtimeMs - statSync(x).mtimeMs);
  return built[0];
}

function projectRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
  return dir;
}

/** Starts `command` on the server CPU (from its first instruction, so Go sizes GOMAXPROCS to it), output to `log`. */
async function startPinned(name: string, command: string, args: string[], port: number, readyPath: string, log: string): Promise<Server> {
  const fd = openSync(log, 'a');
  const started = performance.now();
  const proc = startProcess(name, 'taskset', ['-c', SERVER_CPU, command, ...args], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null || Date.now() > deadline) {
      await proc.stop();
      throw new Error(`${name} did not start:\n${readFileSync(log, 'utf8').slice(-4000)}`);
    }
    const ok = await fetch(`http://127.0.0.1:${port}${readyPath}`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, pid: proc.child.pid!, process: proc, startedInMs: performance.now() - started };
}

/** A request whose token must not carry any asked action (or that is refused outright). */
async function checkRefused(port: number, req: autocannon.Request): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}${req.path}`, { headers: (req.headers ?? {}) as Record<string, string> });
  if (res.status === 401 || res.status === 403) return;
  const body = (await res.json()) as { token?: string };
  const payload = body.token ? (JSON.parse(Buffer.from(body.token.split('.')[1]!, 'base64url').toString()) as { access?: { actions: string[] }[] }) : {};
  const actions = payload.access?.flatMap((a) => a.actions) ?? [];
  if (res.status !== 200 || actions.length > 0) throw new Error(`${req.path} must be refused: status ${res.status}, access ${JSON.stringify(payload.access)}`);
}

/** docker_auth's token for `req` is signed by its key, for this service, and grants pull and push. */
async function checkDockerAuthToken(port: number, req: autocannon.Request, config: DockerAuthConfig): Promise<void> {
  await checkGrant(port, req, ['pull', 'push']);
  const res = await fetch(`http://127.0.0.1:${port}${req.path}`, { headers: (req.headers ?? {}) as Record<string, string> });
  const { token } = (await res.json()) as { token: string };
  await jwtVerify(token, await importX509(config.certificatePem, 'ES256'), { issuer: DOCKER_AUTH_ISSUER, audience: SERVICE });
}

function getStatus(port: number, req: autocannon.Request, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port, path: req.path, headers: req.headers as Record<string, string>, localAddress, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    r.once('error', reject);
    r.end();
  });
}

/**
 * Every request once, from two loopback addresses (the token server runs one bcrypt comparison at a time
 * per client address) while the server may use both CPUs: at cost 10 one CPU alone would take about as
 * long as the 60 s the cache keeps a password, and the run would measure expiring entries.
 */
async function warmEachUser(server: Server, requests: autocannon.Request[]): Promise<void> {
  await pin(server.pid, `${SERVER_CPU},${LOAD_CPU}`);
  try {
    const lanes = ['127.0.0.1', '127.0.0.2'].map(async (address, lane) => {
      for (let i = lane; i < requests.length; i += 2) {
        const status = await getStatus(server.port, requests[i]!, address);
        if (status !== 200) throw new Error(`warm-up ${requests[i]!.path}: status ${status}`);
      }
    });
    await Promise.all(lanes);
  } finally {
    await pin(server.pid, SERVER_CPU);
  }
}

async function cacheLookups(port: number): Promise<{ hit: number; miss: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const count = (result: string): number => Number(new RegExp(`portcullis_credential_cache_lookups_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  return { hit: count('hit'), miss: count('miss') };
}

/** Tokens actually issued per second: refusals and errors do not count. */
const tokensPerSecond = (r: LoadResult): number => r.rps - r.non2xx / DURATION;

function resultRow(label: string, r: LoadResult, base: LoadResult | undefined, note = ''): string {
  const ratio = base === undefined ? '1.00' : (tokensPerSecond(r) / tokensPerSecond(base)).toFixed(3);
  return row([label, tokensPerSecond(r).toFixed(1), r.p50, r.p99, r.non2xx + r.errors, ratio, loadavg()[0]!.toFixed(2), note]);
}

/** A 2 s warm-up (JIT, the token server's credential cache), then the measured run. */
async function measure(server: Server, requests: autocannon.Request[]): Promise<LoadResult> {
  await loadTest(CONNECTIONS, server.port, requests, 2);
  return loadTest(CONNECTIONS, server.port, requests, DURATION);
}

async function hashesAt(policy: BenchPolicy, cost: number): Promise<Map<string, string>> {
  const entries = await Promise.all([...policy.passwords].map(async ([user, password]) => [user, await bcrypt.hash(password, cost)] as const));
  return new Map(entries);
}

/** Runs the peer comparison, or says how to build docker_auth and returns. */
export async function runDockerAuthBench(print: Print, cli: string, baselineScript: string): Promise<void> {
  const root = projectRoot(dirname(cli));
  const binary = findDockerAuth(root);
  print('');
  if (binary === undefined) {
    print('peer: cesanta/docker_auth is not built; build it with `bash bench/setup-docker-auth.sh`');
    print('      (DOCKER_AUTH_SRC=<checkout or bare git dir> to build from a local copy; see docs/benchmarks.md)');
    return;
  }
  if (cpus().length < 2) {
    print('peer: skipped, it needs two CPUs (one for the server, one for the load generator)');
    return;
  }
  const commit = relative(join(root, '.tools'), dirname(binary));
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-peer-'));
  const ownCpus = await cpuList(process.pid);
  try {
    const policy = await benchPolicy(1000, 10_000);
    const started = performance.now();
    const hashes = new Map<number, Map<string, string>>();
    for (const cost of COSTS) hashes.set(cost, await hashesAt(policy, cost));
    print(`peer: ${commit}, against portcullis token-server; ${policy.users.length} users, ${policy.grants.length} grants, the same bcrypt hashes for both`);
    print(`  (hashes at cost ${COSTS.join(' and ')} made in ${((performance.now() - started) / 1000).toFixed(0)} s)`);
    print(
      `  servers pinned to CPU ${SERVER_CPU}, autocannon to CPU ${LOAD_CPU}; ${CONNECTIONS} connections, ${DURATION} s after a 2 s warm-up (docker_auth: none, it has no cache or JIT to warm)`,
    );
    print('  both write their one line per token to a file; tokens/s counts 2xx only; x baseline = tokens/s / bare signer on the same CPU');
    print('  load 1m is /proc/loadavg at the end of the run, including the server and load generator of this bench (about 2)');
    await pin(process.pid, LOAD_CPU);
    for (const cost of COSTS) await compareAtCost(print, join(dir, `cost-${cost}`), cost, policy, hashes.get(cost)!, binary, cli, baselineScript);
  } finally {
    await pin(process.pid, ownCpus);
    await rm(dir, { recursive: true, force: true });
  }
}

async function compareAtCost(
  print: Print,
  dir: string,
  cost: number,
  policy: BenchPolicy,
  hashes: Map<string, string>,
  binary: string,
  cli: string,
  baselineScript: string,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const credentials = new Map([...policy.credentials.keys()].map((key) => [key, { hash: hashes.get(key.split('/')[1]!)! }]));
  const { policyDir, keysDir } = await writeBenchDirs(dir, { ...policy, credentials });
  const peerPort = await freePort();
  const config = await writeDockerAuthConfig(dir, policy, hashes, peerPort);
  print('');
  print(`bcrypt cost ${cost}; docker_auth's static ACL: ${config.aclEntries} entries (one per grant, subject and repository pattern)`);
  print(row(['', 'tokens/s', 'p50 ms', 'p99 ms', 'non-2xx', 'x baseline', 'load 1m', '']));
  for (const w of workloads(policy)) {
    print(w.name);
    const basePort = await freePort();
    const baseline = await startPinned('baseline', process.execPath, [baselineScript, String(basePort)], basePort, '/', join(dir, 'baseline.log'));
    let base: LoadResult;
    try {
      base = await measure(baseline, w.requests('/token'));
      print(resultRow('  baseline (node:http + ES256)', base, undefined));
    } finally {
      await baseline.process.stop();
    }

    const ownPort = await freePort();
    const args = [cli, 'token-server', '--policy-dir', policyDir, '--keys-dir', keysDir, '--listen', `127.0.0.1:${ownPort}`];
    const own = await startPinned('portcullis', process.execPath, args, ownPort, '/healthz', join(dir, 'portcullis.log'));
    let ours: LoadResult;
    try {
      const requests = w.requests('/token');
      await checkGrant(own.port, requests[0]!, ['pull', 'push']);
      await checkGrant(own.port, requests[requests.length - 1]!, ['pull', 'push']);
      await checkRefused(own.port, w.refused('/token')[0]!);
      if (w.warmEachUser) await warmEachUser(own, requests);
      const before = await cacheLookups(own.port);
      ours = await measure(own, requests);
      const after = await cacheLookups(own.port);
      print(resultRow('  portcullis token-server', ours, base, `${after.miss - before.miss} cache misses (warm-up + run)`));
    } finally {
      await own.process.stop();
    }

    const peer = await startPinned(
      'docker_auth',
      binary,
      ['-logtostderr', config.file],
      peerPort,
      '/',
      join(dir, `docker-auth-${w.warmEachUser ? 'b' : 'a'}.log`),
    );
    try {
      const requests = w.requests('/auth');
      await checkDockerAuthToken(peer.port, requests[0]!, config);
      await checkDockerAuthToken(peer.port, requests[requests.length - 1]!, config);
      await checkRefused(peer.port, w.refused('/auth')[0]!);
      // No autocannon warm-up here: docker_auth has no cache to fill nor JIT to warm (the checks above ran
      // its code paths once), and a warm-up run's abandoned requests would keep its CPU busy with bcrypt
      // comparisons nobody waits for at the start of the measured window.
      const theirs = await loadTest(CONNECTIONS, peer.port, requests, DURATION);
      print(resultRow('  cesanta/docker_auth', theirs, base, `started in ${(peer.startedInMs / 1000).toFixed(1)} s`));
      const ratio =
        tokensPerSecond(theirs) > 0 ? (tokensPerSecond(ours) / tokensPerSecond(theirs)).toFixed(1) : `n/a: docker_auth issued no token in ${DURATION} s`;
      print(`  portcullis / docker_auth: ${ratio}`);
    } finally {
      await peer.process.stop();
    }
  }
}
