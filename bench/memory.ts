// Memory of the token server at 10,000 and 100,000 users (as many grants), serving from a policy
// directory, after logins of 1,000 distinct users (their credential checks cached), measured without a
// heap cap (the way most users deploy) and with the heap Node sizes for the chart's memory limit.
// Beside it, in the same run: a bare `node` process (the runtime's own floor) and what importing
// @kubernetes/client-node adds to it (what kube/connection.ts spares the operator and token server).
// BENCH_MEMORY_USERS (default "10000,100000") sets the sizes.
import bcrypt from 'bcrypt';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RegistryResource, RegistryUserResource, RepositoryGrantResource } from '../crds/types.js';
import type { ResolvedCredential } from '../policy/snapshot.js';
import type { BenchPolicy } from './fixture.js';
import { NAMESPACE, SERVICE, writeBenchDirs } from './fixture.js';
import { processMemory } from './measure.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'bin', 'portcullis.js');
/** The chart's token-server limit (charts/portcullis/values.yaml: tokenServer.resources.limits.memory). */
const CHART_LIMIT_MB = 384;
const LOGINS = 1000;
const SETTLE_MS = 5000;

/** bench/fixture.ts's shape (users in 100 teams, grants per team) with one shared hash: 100,000 bcrypt runs would take minutes. */
async function policyOf(users: number, grants: number): Promise<BenchPolicy> {
  const meta = (name: string) => ({ name, namespace: NAMESPACE, generation: 1, creationTimestamp: '2026-01-01T00:00:00Z' });
  const password = 'bench-memory-password';
  const hash = await bcrypt.hash(password, 4);
  const registries: RegistryResource[] = [
    { apiVersion: 'portcullis.dev/v1alpha1', kind: 'Registry', metadata: meta('main'), spec: { service: SERVICE, tokenTTL: '5m' } },
  ];
  const userList: RegistryUserResource[] = [];
  const credentials = new Map<string, ResolvedCredential>();
  const passwords = new Map<string, string>();
  for (let i = 0; i < users; i++) {
    const name = `user-${i}`;
    userList.push({
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'RegistryUser',
      metadata: meta(name),
      spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: `${name}-pw` }, groups: [`team-${i % 100}`] },
    });
    credentials.set(`${NAMESPACE}/${name}`, { hash });
    passwords.set(name, password);
  }
  const grantList: RepositoryGrantResource[] = Array.from({ length: grants }, (_, i) => ({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RepositoryGrant',
    metadata: meta(`grant-${i}`),
    spec: {
      registryRef: { name: 'main' },
      subjects: [{ kind: 'Group', name: `team-${i % 100}` }, ...(i % 10 === 0 ? [{ kind: 'User' as const, name: `user-${i % users}` }] : [])],
      repositories: [`team-${i % 100}/app-${i}/*`, `team-${i % 100}/app-${i}`],
      actions: ['pull', 'push'],
    },
  }));
  return { registries, users: userList, grants: grantList, credentials, passwords };
}

/** RSS of a child started with `args` once `ready` resolves, then stopped. */
async function measureChild(nodeArgs: string[], args: string[], warm: (port: number) => Promise<void>): Promise<{ rss: number; peak: number }> {
  // As the image runs it (Dockerfile: MALLOC_ARENA_MAX=2), unless the caller sets it.
  const child = spawn(process.execPath, [...nodeArgs, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { MALLOC_ARENA_MAX: '2', ...process.env } });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const onData = (c: Buffer): void => {
        out += c.toString();
        const m = /listening on (?:https?:\/\/)?127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`token server exited ${code}: ${out.slice(-2000)}`)));
    });
    await warm(port);
    // Once settled: the server gives back what its first load left behind a few seconds after it
    // (bin/heap-compaction.ts), as it does in a pod before the figure matters.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    return processMemory(child.pid!);
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

function bareRss(code: string): number {
  const r = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `${code}; process.stdout.write((await import('node:fs')).readFileSync('/proc/self/status','utf8'))`],
    {
      cwd: join(here, '..', '..'),
      encoding: 'utf8',
    },
  );
  return Number(/VmRSS:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0) / 1024;
}

export async function runMemoryBench(print: (line: string) => void): Promise<void> {
  const sizes = (process.env.BENCH_MEMORY_USERS ?? '10000,100000').split(',').map(Number);
  print(`\n## Memory: token server RSS after ${LOGINS} distinct logins, policy from a directory`);
  const bare = bareRss('');
  const withClientNode = bareRss("await import('@kubernetes/client-node')");
  print(
    `baseline: bare node ${bare.toFixed(0)} MB; importing @kubernetes/client-node adds ${(withClientNode - bare).toFixed(0)} MB (${withClientNode.toFixed(0)} MB)`,
  );
  for (const n of sizes) {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-memory-'));
    try {
      const { policyDir, keysDir } = await writeBenchDirs(dir, await policyOf(n, n));
      const args = ['token-server', '--policy-dir', policyDir, '--keys-dir', keysDir, '--listen', '127.0.0.1:0', '--log-level', 'warn'];
      const warm = async (port: number): Promise<void> => {
        const auth = (i: number) => `Basic ${Buffer.from(`user-${i}:bench-memory-password`).toString('base64')}`;
        for (let i = 0; i < LOGINS; i++) {
          const user = Math.floor((i * n) / LOGINS);
          const res = await fetch(`http://127.0.0.1:${port}/token?service=${SERVICE}&scope=repository:team-${user % 100}/app-${user % 100}:pull`, {
            headers: { authorization: auth(user) },
          });
          if (res.status !== 200) throw new Error(`login of user-${user}: HTTP ${res.status}`);
          await res.arrayBuffer();
        }
      };
      const free = await measureChild([], args, warm);
      // Node sizes its heap from the container's memory limit; a flag does the same outside one.
      const capped = await measureChild([`--max-old-space-size=${Math.floor(CHART_LIMIT_MB * 0.75)}`], args, warm);
      print(
        `${n} users + ${n} grants: no heap cap ${free.rss.toFixed(0)} MB (peak ${free.peak.toFixed(0)} MB, ${(free.rss / bare).toFixed(1)} x bare node); ` +
          `heap capped for the chart's ${CHART_LIMIT_MB} Mi limit ${capped.rss.toFixed(0)} MB (peak ${capped.peak.toFixed(0)} MB)`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runMemoryBench((s) => void process.stdout.write(`${s}\n`)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
