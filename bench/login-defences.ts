// `npm run bench` (part): how failed logins behave, measured.
//
// 1. Timing: does a failed login reveal whether the user exists? Unknown users and known users with a
//    wrong password at bcrypt costs 5, 10 and 12 (an htpasswd import, the operator's default, a cautious
//    admin) in one registry, through the app in this process, one request at a time, interleaved so they
//    share the machine's noise. The figure is each median divided by the unknown user's median: the
//    target is within 10% of 1. bcrypt's own time per cost is printed beside it, which is what an
//    attacker would see without the padding.
// 2. Brute force: 500 concurrent wrong logins from one address against a token-server process (for one
//    account, then spraying 500 names), while an honest user logs in from another address. Figures: how
//    many comparisons ran (from the server's metrics; at most the budget), how fast the 429s came
//    (target p99 < 50 ms), and the honest login's latency (target < 200 ms).
import bcrypt from 'bcrypt';
import { readFile, rm, mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import type { RegistryResource, RegistryUserResource } from '../crds/types.js';
import { initKeysDir } from '../pki/init.js';
import { compileSnapshot } from '../policy/snapshot.js';
import { serializeCredentials, serializeSnapshot } from '../policy/snapshot-format.js';
import { build } from '../token-server/app.js';
import { buildPolicyState } from '../token-server/sources/policy-state.js';
import { PushedSource } from '../token-server/sources/pushed.js';
import type { KeyState, PolicyState } from '../token-server/sources/types.js';
import { CREDENTIALS_FILE, KEY_FILES, SNAPSHOT_FILE } from '../wire/files.js';
import type { SigningKeySet } from '../wire/signing-key-set.js';
import { basic, median, percentile, type Start } from './measure.js';

const SERVICE = 'defences.bench';
const NS = 'bench';

function policyOf(users: { name: string; hash: string }[]) {
  const registry: RegistryResource = {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'Registry',
    metadata: { name: 'main', namespace: NS },
    spec: { service: SERVICE },
  };
  const resources: RegistryUserResource[] = users.map((u) => ({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RegistryUser',
    metadata: { name: u.name, namespace: NS, uid: `uid-${u.name}`, generation: 1 },
    spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: `${u.name}-pw` } },
  }));
  const credentials = new Map(users.map((u) => [`${NS}/${u.name}`, { hash: u.hash }]));
  const compiled = compileSnapshot({ registries: [registry], users: resources, grants: [], namespaces: [{ name: NS, labels: {} }], credentials }).registries[0];
  if (compiled === undefined) throw new Error('bench policy did not compile');
  return compiled;
}

async function timingByCost(print: (s: string) => void, set: SigningKeySet): Promise<void> {
  const costs = [5, 10, 12];
  const users = await Promise.all(costs.map(async (cost) => ({ name: `known-${cost}`, hash: await bcrypt.hash(`right-${cost}`, cost) })));
  const compiled = policyOf(users);
  const policy = new PushedSource<PolicyState>();
  policy.set(buildPolicyState(compiled.snapshot, compiled.credentials, new Date()));
  const keys = new PushedSource<KeyState>();
  keys.set({ set, loadedAt: new Date() });
  const app = await build({ policy, keys, logger: pino({ level: 'silent' }) });
  // Raw bcrypt per cost: what a failure would take without the padding.
  const raw = new Map<number, number>();
  for (const cost of costs) {
    const hash = users.find((u) => u.name === `known-${cost}`)!.hash;
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await bcrypt.compare('wrong', hash);
      times.push(performance.now() - t);
    }
    raw.set(cost, median(times));
  }
  const kinds = [{ label: 'unknown user', user: 'nobody-here' }, ...costs.map((c) => ({ label: `known, wrong password, cost ${c}`, user: `known-${c}` }))];
  const samples = new Map(kinds.map((k) => [k.label, [] as number[]]));
  const rounds = Number(process.env.BENCH_TIMING_ROUNDS ?? 25);
  let address = 0;
  // Two warm-up rounds teach the server each cost's time, as a running server knows it.
  for (let round = -2; round < rounds; round++) {
    for (const k of kinds) {
      address++;
      const t = performance.now();
      const r = await app.inject({
        method: 'GET',
        url: `/token?service=${SERVICE}`,
        remoteAddress: `10.${(address >> 16) & 255}.${(address >> 8) & 255}.${address & 255}`,
        headers: { authorization: basic(k.user, 'wrong') },
      });
      const ms = performance.now() - t;
      if (r.statusCode !== 401) throw new Error(`expected 401 for ${k.label}, got ${r.statusCode}`);
      if (round >= 0) samples.get(k.label)!.push(ms);
    }
  }
  await app.close();
  const unknown = median(samples.get('unknown user')!);
  print('');
  print(`failed-login timing (${rounds} rounds, one request at a time; registry holds bcrypt costs ${costs.join(', ')})`);
  print(`  ${'login'.padEnd(36)}${'median ms'.padEnd(12)}${'x unknown'.padEnd(12)}bcrypt alone, ms`);
  for (const k of kinds) {
    const m = median(samples.get(k.label)!);
    const cost = Number(/cost (\d+)/.exec(k.label)?.[1] ?? 12);
    print(
      `  ${k.label.padEnd(36)}${m.toFixed(1).padEnd(12)}${(m / unknown).toFixed(3).padEnd(12)}${raw.get(cost)!.toFixed(1)}` +
        (k.user.startsWith('nobody') ? ' (dummy hash at the highest cost)' : ''),
    );
  }
}

interface Shot {
  status: number;
  ms: number;
}

function shoot(port: number, path: string, agent: http.Agent, localAddress: string, authorization?: string): Promise<Shot> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, localAddress, agent, headers: authorization === undefined ? {} : { authorization } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function metric(port: number, name: string): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) total += Number(line.split(' ').pop());
  return total;
}

/** `count` keep-alive connections from `localAddress`, opened before the burst so it measures requests, not TCP setup. */
async function warmAgent(port: number, localAddress: string, count: number): Promise<http.Agent> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: count, maxFreeSockets: count });
  await Promise.all(Array.from({ length: count }, () => shoot(port, '/healthz', agent, localAddress)));
  return agent;
}

const summary = (xs: number[]) => (xs.length === 0 ? 'none' : `${percentile(xs, 50).toFixed(1)}/${percentile(xs, 99).toFixed(1)}`);

async function bruteForce(print: (s: string) => void, start: Start, baselineScript: string, cli: string, keysDir: string, dir: string): Promise<void> {
  const users = [
    { name: 'victim', hash: await bcrypt.hash('victim-secret', 10) },
    { name: 'honest', hash: await bcrypt.hash('honest-secret', 10) },
    { name: 'honest-2', hash: await bcrypt.hash('honest-secret-2', 10) },
    // Ten more, each logging in once during the sustained attack: every one a real bcrypt check.
    ...(await Promise.all(Array.from({ length: 10 }, async (_, i) => ({ name: `newcomer-${i}`, hash: await bcrypt.hash(`newcomer-secret-${i}`, 10) })))),
  ];
  const compiled = policyOf(users);
  const policyDir = join(dir, 'defences-policy');
  await mkdir(policyDir, { recursive: true });
  await writeFile(join(policyDir, SNAPSHOT_FILE), serializeSnapshot(compiled.snapshot));
  await writeFile(join(policyDir, CREDENTIALS_FILE), serializeCredentials(compiled.credentials), { mode: 0o600 });
  const path = `/token?service=${SERVICE}`;

  // The same burst against the bare node:http signer: what 500 simultaneous requests cost on this machine.
  const baseline = await start([baselineScript, '0'], /baseline listening on 127\.0\.0\.1:(\d+)/);
  let baseBurst: number[];
  try {
    const agent = await warmAgent(baseline.port, '127.0.0.1', 500);
    baseBurst = (await Promise.all(Array.from({ length: 500 }, () => shoot(baseline.port, '/', agent, '127.0.0.1')))).map((x) => x.ms);
    agent.destroy();
  } finally {
    await baseline.stop();
  }

  const server = await start(
    [cli, 'token-server', '--policy-dir', policyDir, '--keys-dir', keysDir, '--listen', '127.0.0.1:0', '--log-level', 'warn'],
    /listening on (?:https?:\/\/)?127\.0\.0\.1:(\d+)/,
  );
  print('');
  print('brute force: 500 simultaneous wrong logins from one address (bcrypt cost 10, warm keep-alive connections);');
  print('50 ms later an honest first login (a bcrypt check of its own) from another address; then 50 more wrong logins one by one');
  print(`  baseline: the bare node:http signer answers the same burst in p50/p99 ${summary(baseBurst)} ms`);
  print(
    `  ${'attack'.padEnd(32)}${'401'.padEnd(6)}${'429'.padEnd(6)}${'compared'.padEnd(10)}` +
      `${'burst 429 p50/p99'.padEnd(19)}${'x base'.padEnd(8)}${'alone 429 p50/p99'.padEnd(19)}honest ms`,
  );
  try {
    const scenarios = [
      { name: 'one account (budget 10)', from: '127.0.0.1', honest: ['127.0.0.2', 'honest', 'honest-secret'] as const, user: () => 'victim' },
      {
        name: 'spraying 500 names (budget 30)',
        from: '127.0.0.3',
        honest: ['127.0.0.4', 'honest-2', 'honest-secret-2'] as const,
        user: (i: number) => `spray-${i}`,
      },
    ];
    for (const s of scenarios) {
      const attacker = await warmAgent(server.port, s.from, 500);
      const honestAgent = await warmAgent(server.port, s.honest[0], 1);
      const before = await metric(server.port, 'portcullis_password_comparisons_total');
      const flood = Array.from({ length: 500 }, (_, i) => shoot(server.port, path, attacker, s.from, basic(s.user(i), `guess-${i}`)));
      await new Promise((r) => setTimeout(r, 50));
      const honest = await shoot(server.port, path, honestAgent, s.honest[0], basic(s.honest[1], s.honest[2]));
      const shots = await Promise.all(flood);
      const alone: number[] = [];
      for (let i = 0; i < 50; i++) {
        const r = await shoot(server.port, path, attacker, s.from, basic(s.user(1000 + i), `again-${i}`));
        if (r.status === 429) alone.push(r.ms);
      }
      const compared = (await metric(server.port, 'portcullis_password_comparisons_total')) - before - 1;
      const throttled = shots.filter((x) => x.status === 429).map((x) => x.ms);
      const ratio = throttled.length === 0 ? '-' : (percentile(throttled, 50) / percentile(baseBurst, 50)).toFixed(2);
      const refused = String(shots.filter((x) => x.status === 401).length);
      print(
        `  ${s.name.padEnd(32)}${refused.padEnd(6)}${String(throttled.length).padEnd(6)}${String(compared).padEnd(10)}` +
          `${summary(throttled).padEnd(19)}${ratio.padEnd(8)}${summary(alone).padEnd(19)}${honest.ms.toFixed(1)} (${honest.status})`,
      );
      attacker.destroy();
      honestAgent.destroy();
    }
    print('  compared: bcrypt comparisons the attack caused (portcullis_password_comparisons_total, less the honest login)');

    // A sustained attack instead of one burst: 50 wrong logins always in flight from one address for
    // 3 s (as a guessing tool runs), honest first logins from other addresses every 250 ms meanwhile.
    const attacker = await warmAgent(server.port, '127.0.0.5', 50);
    let running = true;
    let sent = 0;
    let refusedMs: number[] = [];
    const worker = async (): Promise<void> => {
      while (running) {
        const r = await shoot(server.port, path, attacker, '127.0.0.5', basic(`sustained-${sent}`, `guess-${sent++}`));
        if (r.status === 429) refusedMs.push(r.ms);
      }
    };
    const workers = Array.from({ length: 50 }, worker);
    await new Promise((r) => setTimeout(r, 500));
    refusedMs = [];
    const honestMs: number[] = [];
    for (let i = 0; i < 10; i++) {
      const from = `127.0.1.${i + 1}`;
      const agent = await warmAgent(server.port, from, 1);
      const r = await shoot(server.port, path, agent, from, basic(`newcomer-${i}`, `newcomer-secret-${i}`));
      if (r.status !== 200) throw new Error(`newcomer-${i} was refused (${r.status}) during the sustained attack`);
      honestMs.push(r.ms);
      agent.destroy();
      await new Promise((res) => setTimeout(res, 250));
    }
    running = false;
    await Promise.all(workers);
    attacker.destroy();
    print(
      `  sustained: 50 in flight from one address, ${sent} requests in ${((500 + 10 * 250) / 1000).toFixed(1)}+ s; 429 p50/p99 ${summary(refusedMs)} ms; ` +
        `honest first logins (10, other addresses) p50/p99 ${summary(honestMs)} ms`,
    );
  } finally {
    await server.stop();
  }
}

export async function runLoginDefenceBench(print: (s: string) => void, start: Start, baselineScript: string, cli: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-defences-'));
  try {
    const keysDir = join(dir, 'keys');
    await initKeysDir(keysDir, { algorithm: 'ES256', now: new Date(Date.now() - 60_000) });
    const set = JSON.parse(await readFile(join(keysDir, KEY_FILES.signing), 'utf8')) as SigningKeySet;
    await timingByCost(print, set);
    await bruteForce(print, start, baselineScript, cli, keysDir, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
