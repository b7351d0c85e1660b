// In process, without an API server: from one grant change to the token server's new index, at N users +
// N grants (the shapes bench/operator.ts creates). Each change goes the operator's way (admission, compile,
// shards, gzip plan) and the token server's (unzip the changed shards, read them, new policy index, the
// decision), timed end to end and per side, over BENCH_CHANGES changes; beside it, in the same run, the
// path as it was before incremental compiles (compileSnapshot, shardSnapshot, buildPolicyIndex; the gzip
// memo and the shard reader's cache kept), over BENCH_BASELINE_CHANGES changes. Also the cold start:
// the first compile + shards + gzip plan, and a token server's first read of every shard.
import bcrypt from 'bcrypt';
import { loadavg } from 'node:os';
import type { NamespaceInfo, RegistryResource, RegistryUserResource, RepositoryGrantResource } from '../crds/types.js';
import { DEFAULT_CHUNK_LIMITS, openChunks, planChunks, type ChunkPlan } from '../wire/chunked.js';
import { authorize } from '../policy/authorize.js';
import { IncrementalCompiler } from '../policy/incremental-compile.js';
import { ShardPlanner } from '../policy/snapshot-shard-planner.js';
import { compileSnapshot, usersNeedingCredentials, type CompileInput, type CompileResult, type ResolvedCredential } from '../policy/snapshot.js';
import type { Credentials, Snapshot } from '../policy/types.js';
import { GzipMemo, snapshotFiles } from '../operator/controllers/snapshot-layout.js';
import { buildPolicyState, type StoredCredentialMemo } from '../token-server/sources/policy-state.js';
import { SnapshotReader } from '../token-server/sources/snapshot-reader.js';
import type { PolicyState } from '../token-server/sources/types.js';
import { percentile } from './measure.js';

const NS = 'bench';
const SERVICE = 'bench.registry';
const API = 'portcullis.dev/v1alpha1';

interface Objects {
  registries: RegistryResource[];
  users: RegistryUserResource[];
  grants: RepositoryGrantResource[];
  namespaces: NamespaceInfo[];
  credentials: Map<string, ResolvedCredential>;
}

let resourceVersion = 1;
// Every object here is new or has a changed spec, so its generation moves with its resourceVersion, as the
// API server's does on a spec change (the compile memo keys results by generation).
const meta = (name: string) => {
  const version = resourceVersion++;
  return { name, namespace: NS, uid: `uid-${name}`, resourceVersion: String(version), generation: version, creationTimestamp: '2026-01-01T00:00:00Z' };
};

function grant(i: number, actions: ('pull' | 'push')[]): RepositoryGrantResource {
  return {
    apiVersion: API,
    kind: 'RepositoryGrant',
    metadata: meta(`grant-${i}`),
    spec: { registryRef: { name: 'main' }, subjects: [{ kind: 'User', name: `user-${i}` }], repositories: [`u-${i}/app`], actions },
  };
}

async function objectsOf(n: number): Promise<Objects> {
  const hash = await bcrypt.hash('bench-password', 4);
  const users: RegistryUserResource[] = [];
  const credentials = new Map<string, ResolvedCredential>();
  for (let i = 0; i < n; i++) {
    users.push({
      apiVersion: API,
      kind: 'RegistryUser',
      metadata: meta(`user-${i}`),
      spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: `user-${i}-pw`, key: 'htpasswd' }, groups: [`team-${i % 100}`] },
    });
    credentials.set(`${NS}/user-${i}`, { hash });
  }
  const registries: RegistryResource[] = [{ apiVersion: API, kind: 'Registry', metadata: meta('main'), spec: { service: SERVICE, tokenTTL: '5m' } }];
  const grants = Array.from({ length: n }, (_, i) => grant(i, ['pull']));
  return { registries, users, grants, namespaces: [{ name: NS, labels: {} }], credentials };
}

/** One way through: compile (incremental or full), plan the files, and the token server's read of them. */
interface Path {
  compile(input: CompileInput): CompileResult;
  files(snapshot: Snapshot): Record<string, string>;
  readonly gzip: GzipMemo;
  readonly reader: SnapshotReader;
  /** Whether the token server patches its index (true) or builds it again. */
  readonly patch: boolean;
  /** Checked credentials kept across generations, as the Kubernetes source keeps them. */
  readonly credentialMemo: StoredCredentialMemo;
  state?: PolicyState;
}

function incrementalPath(): Path {
  const compiler = new IncrementalCompiler();
  const planner = new ShardPlanner(compiler.entryJson);
  const gzip = new GzipMemo();
  return {
    compile: (input) => {
      compiler.usersNeedingCredentials(input);
      return compiler.compile(input);
    },
    files: (snapshot) => snapshotFiles(snapshot, DEFAULT_CHUNK_LIMITS.inlineLimit, planner, gzip.byteLength),
    gzip,
    reader: new SnapshotReader(),
    patch: true,
    credentialMemo: new Map(),
  };
}

function fullPath(): Path {
  return {
    compile: (input) => {
      usersNeedingCredentials(input);
      return compileSnapshot(input);
    },
    files: (snapshot) => snapshotFiles(snapshot, DEFAULT_CHUNK_LIMITS.inlineLimit),
    gzip: new GzipMemo(),
    reader: new SnapshotReader(),
    patch: false,
    credentialMemo: new Map(),
  };
}

/** The token server's side: unzip what it does not hold, read the shards, build or patch the index. */
function apply(path: Path, plan: ChunkPlan, credentials: Credentials): PolicyState {
  const parts = new Map(plan.parts.map((p) => [p.name, p.bytes]));
  const assembled = openChunks(plan.main, (name) => parts.get(name), path.reader.known);
  if (!assembled.complete) throw new Error('parts missing');
  const hashes = Object.fromEntries(Object.entries(plan.manifest.files).map(([file, f]) => [file, f.sha256]));
  let snapshot = path.reader.read(hashes, assembled.file);
  if (snapshot === 'reread') {
    const whole = openChunks(plan.main, (name) => parts.get(name));
    if (!whole.complete) throw new Error('parts missing');
    snapshot = path.reader.read(hashes, whole.file);
    if (snapshot === 'reread') throw new Error('shards missing after a full read');
  }
  path.state = buildPolicyState(snapshot, credentials, new Date(), path.credentialMemo, path.patch ? path.state : undefined);
  return path.state;
}

/** Operator then token server, timed: [operator ms, token server ms]. */
function change(path: Path, objects: Objects): { operator: number; tokenServer: number } {
  const start = performance.now();
  const compiled = path.compile(objects).registries[0];
  if (compiled === undefined) throw new Error('the bench Registry did not compile');
  const plan = planChunks('portcullis-main-snapshot', compiled.snapshot.generation, path.files(compiled.snapshot), DEFAULT_CHUNK_LIMITS, undefined, {
    ...path.gzip.options(),
  });
  path.gzip.settle();
  const compiledAt = performance.now();
  apply(path, plan, compiled.credentials);
  return { operator: compiledAt - start, tokenServer: performance.now() - compiledAt };
}

function pushAllowed(state: PolicyState | undefined, i: number): boolean {
  const index = state?.registries.get(SERVICE)?.index;
  if (index === undefined) return false;
  const [decision] = authorize(index, { kind: 'user', username: `user-${i}`, groups: [`team-${i % 100}`] }, [
    { type: 'repository', name: `u-${i}/app`, actions: ['push'] },
  ]);
  return decision?.granted.includes('push') ?? false;
}

function load(): string {
  return `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`;
}

export async function runSnapshotDeltaBench(n: number, changes: number, baselineChanges: number, print: (s: string) => void): Promise<void> {
  print(`in process, no API server: ${n} users + ${n} grants, 1 Registry (${load()})`);
  const objects = await objectsOf(n);
  const paths = { incremental: incrementalPath(), full: fullPath() };
  for (const [name, path] of Object.entries(paths)) {
    if (name === 'full' && baselineChanges === 0) continue;
    const cold = change(path, objects);
    const rss = process.memoryUsage().rss / 2 ** 20;
    print(
      `cold start, ${name}: compile + shards + gzip plan ${(cold.operator / 1000).toFixed(2)} s; token server's first read of every shard + index ${(cold.tokenServer / 1000).toFixed(2)} s (bench process RSS ${rss.toFixed(0)} MB)`,
    );
  }
  const run = (path: Path, count: number, offset: number): { total: number[]; operator: number[]; tokenServer: number[] } => {
    const out = { total: [] as number[], operator: [] as number[], tokenServer: [] as number[] };
    for (let k = 0; k < count; k++) {
      const i = (Math.floor((k * n) / count) + offset) % n;
      const before = objects.grants[i] as RepositoryGrantResource;
      objects.grants[i] = grant(i, before.spec.actions.includes('push') ? ['pull'] : ['pull', 'push']);
      const t = change(path, objects);
      if (pushAllowed(path.state, i) !== objects.grants[i].spec.actions.includes('push')) throw new Error(`grant-${i}'s change did not reach the decision`);
      out.operator.push(Math.round(t.operator));
      out.tokenServer.push(Math.round(t.tokenServer));
      out.total.push(Math.round(t.operator + t.tokenServer));
    }
    return out;
  };
  const fmt = (xs: number[]): string => `p50 ${percentile(xs, 50)} ms, p99 ${percentile(xs, 99)} ms`;
  // Both paths see the same sequence of grant objects; each change flips one grant's push.
  const incremental = run(paths.incremental, changes, 0);
  if (baselineChanges === 0) {
    print(
      `grant change -> new index ready, incremental, ${changes} changes: ${fmt(incremental.total)} ` +
        `(operator ${fmt(incremental.operator)}; token server ${fmt(incremental.tokenServer)}; no baseline: BENCH_BASELINE_CHANGES=0)`,
    );
    return;
  }
  // The baseline path last compiled the objects before these changes: it catches up once, untimed.
  change(paths.full, objects);
  const full = run(paths.full, baselineChanges, 7);
  print(
    `grant change -> new index ready, incremental, ${changes} changes: ${fmt(incremental.total)} ` +
      `(operator compile + shards + gzip plan ${fmt(incremental.operator)}; token server unzip + read + index patch ${fmt(incremental.tokenServer)})`,
  );
  print(
    `baseline, full compile + full index build, ${baselineChanges} changes: ${fmt(full.total)} ` +
      `(operator ${fmt(full.operator)}; token server ${fmt(full.tokenServer)})`,
  );
  print(
    `ratio: p50 ${(percentile(full.total, 50) / Math.max(1, percentile(incremental.total, 50))).toFixed(1)} x, ` +
      `p99 ${(percentile(full.total, 99) / Math.max(1, percentile(incremental.total, 99))).toFixed(1)} x faster than the baseline (${load()})`,
  );
}
