// A real S3-compatible server for tests: SeaweedFS's `weed server` (master, volume, filer and S3 gateway
// in one process) built from its Go module by test/env/setup.sh, on free loopback ports, its data in a
// temp dir. The S3 gateway knows exactly one identity (a random access key and secret, from the s3
// config file), so every request needs a valid signature; one bucket is created through `weed shell`.

import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, run, startProcess, waitFor, type ManagedProcess } from './process.js';
import { toolPath } from './tools.js';

export interface S3ServerOptions {
  /** Created at start. Default `images`. */
  bucket?: string;
}

export interface RunningS3Server {
  /** http://127.0.0.1:PORT: the S3 API. */
  endpoint: string;
  bucket: string;
  /** SeaweedFS accepts any region name; the tests use this one. */
  region: string;
  accessKey: string;
  secretKey: string;
  /** The bucket's object keys under `prefix`, read through the filer (not the S3 API). */
  objectKeys(prefix?: string): Promise<string[]>;
  /** The same objects with their sizes in bytes (the filer's FileSize): what a bucket holds, since du cannot see it. */
  objects(prefix?: string): Promise<S3Object[]>;
  logs(): string;
  /** SIGTERM (a clean exit takes up to ~15 s); removes the data directory. */
  stop(): Promise<void>;
}

export interface S3Object {
  key: string;
  size: number;
}

/** What `weed server` listens on: every port it would otherwise pick itself (grpc = http + 10000 may be taken). */
interface Ports {
  master: number;
  masterGrpc: number;
  volume: number;
  volumeGrpc: number;
  filer: number;
  filerGrpc: number;
  s3: number;
  s3Grpc: number;
}

async function freePorts(): Promise<Ports> {
  const names = ['master', 'masterGrpc', 'volume', 'volumeGrpc', 'filer', 'filerGrpc', 's3', 's3Grpc'] as const;
  const ports = new Set<number>();
  // freePort releases each port before returning, so the kernel may hand the same one out twice.
  while (ports.size < names.length) ports.add(await freePort());
  const list = [...ports];
  return Object.fromEntries(names.map((n, i) => [n, list[i]!])) as unknown as Ports;
}

export async function startS3Server(options: S3ServerOptions = {}): Promise<RunningS3Server> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-s3-'));
  const bucket = options.bucket ?? 'images';
  const accessKey = `AK${randomBytes(9).toString('hex').toUpperCase()}`;
  const secretKey = randomBytes(30).toString('base64url');
  const configPath = join(dir, 's3.json');
  await writeFile(
    configPath,
    JSON.stringify({ identities: [{ name: 'registry', credentials: [{ accessKey, secretKey }], actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'] }] }),
    { mode: 0o600 },
  );
  await mkdir(join(dir, 'data'));
  await mkdir(join(dir, 'log'));
  const ports = await freePorts();
  const weed = toolPath('weed');
  let proc: ManagedProcess | undefined;
  try {
    proc = startProcess(
      'seaweedfs',
      weed,
      [
        // glog writes files beside its stderr (which startProcess keeps), by default into /tmp, where they
        // outlived the test; -logtostderr does not stop it.
        `-logdir=${join(dir, 'log')}`,
        'server',
        `-dir=${join(dir, 'data')}`,
        '-ip=127.0.0.1',
        '-ip.bind=127.0.0.1',
        `-master.port=${ports.master}`,
        `-master.port.grpc=${ports.masterGrpc}`,
        // No reports to seaweedfs.com from a test.
        '-master.telemetry=false',
        '-master.volumeSizeLimitMB=64',
        `-volume.port=${ports.volume}`,
        `-volume.port.grpc=${ports.volumeGrpc}`,
        '-volume.max=0',
        // The default waits 10 s between the last heartbeat and exiting.
        '-volume.preStopSeconds=0',
        '-filer',
        `-filer.port=${ports.filer}`,
        `-filer.port.grpc=${ports.filerGrpc}`,
        `-filer.localSocket=${join(dir, 'filer.sock')}`,
        '-s3',
        `-s3.port=${ports.s3}`,
        `-s3.port.grpc=${ports.s3Grpc}`,
        '-s3.port.iceberg=0',
        '-s3.port.lance=0',
        `-s3.localSocket=${join(dir, 's3.sock')}`,
        `-s3.config=${configPath}`,
        '-s3.autoCreateBucket=false',
      ],
      { cwd: dir },
    );
    const endpoint = `http://127.0.0.1:${ports.s3}`;
    const p = proc;
    await waitFor(
      `SeaweedFS S3 on ${endpoint}`,
      async () => {
        if (p.child.exitCode !== null) throw new Error(`weed exited with ${p.child.exitCode}`);
        // Unsigned requests are refused: 403 means the gateway is up and checking.
        return (await fetch(`${endpoint}/`)).status === 403;
      },
      60_000,
      () => p.output(),
      250,
    );
    await createBucket(weed, join(dir, 'log'), ports, bucket, p);
    const filer = `http://127.0.0.1:${ports.filer}`;
    return {
      endpoint,
      bucket,
      region: 'us-east-1',
      accessKey,
      secretKey,
      objectKeys: async (prefix = '') => (await listFiler(filer, bucketPath(bucket, prefix))).map((o) => o.key),
      objects: (prefix = '') => listFiler(filer, bucketPath(bucket, prefix)),
      logs: () => p.output(),
      stop: () => stopServer(p, dir, ports),
    };
  } catch (error) {
    if (proc) await stopServer(proc, dir, ports);
    else await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * SIGTERM, then the data dir. SeaweedFS exits cleanly on SIGTERM, but its filer first spends up to ~15 s
 * failing to flush its metadata log to the volume server that stopped before it. Its gRPC sockets live
 * at fixed /tmp paths named by port, removed on a clean exit; removed here too in case it was killed.
 */
async function stopServer(p: ManagedProcess, dir: string, ports: Ports): Promise<void> {
  await p.stop(30_000);
  const sockets = [
    ['master', ports.masterGrpc],
    ['volume', ports.volumeGrpc],
    ['filer', ports.filerGrpc],
    ['s3', ports.s3Grpc],
  ].map(([name, port]) => `/tmp/seaweedfs-${name}-grpc-${port}.sock`);
  await Promise.all([...sockets, dir].map((path) => rm(path, { recursive: true, force: true })));
}

/** `weed shell` against the running master; retried while the master has no volume server yet. */
async function createBucket(weed: string, logDir: string, ports: Ports, bucket: string, server: ManagedProcess): Promise<void> {
  let last = '';
  await waitFor(
    `bucket ${bucket}`,
    async () => {
      // HOST:PORT.GRPC: without the suffix weed assumes gRPC on PORT + 10000.
      const r = await run(
        weed,
        [`-logdir=${logDir}`, 'shell', `-master=127.0.0.1:${ports.master}.${ports.masterGrpc}`, `-filer=127.0.0.1:${ports.filer}.${ports.filerGrpc}`],
        {
          input: `s3.bucket.create -name ${bucket}\nexit\n`,
          timeoutMs: 30_000,
        },
      );
      last = r.stdout + r.stderr;
      return r.code === 0 && !/error/i.test(last);
    },
    60_000,
    () => `${last}\n--- server ---\n${server.output()}`,
    500,
  );
}

const bucketPath = (bucket: string, prefix: string): string => `/buckets/${bucket}${prefix.startsWith('/') || prefix === '' ? prefix : `/${prefix}`}`;

/** Every file under `path` in the filer, recursively, as keys relative to the bucket, sorted by key. */
async function listFiler(filer: string, path: string): Promise<S3Object[]> {
  const bucketRoot = path.split('/').slice(0, 3).join('/');
  const out: S3Object[] = [];
  const walk = async (dirPath: string): Promise<void> => {
    let lastFileName = '';
    for (;;) {
      const url = `${filer}${dirPath.endsWith('/') ? dirPath : `${dirPath}/`}?limit=1000&lastFileName=${encodeURIComponent(lastFileName)}`;
      const response = await fetch(url, { headers: { Accept: 'application/json' } });
      if (response.status === 404) return;
      if (!response.ok) throw new Error(`filer listing ${dirPath}: ${response.status}`);
      const body = (await response.json()) as {
        Entries?: { FullPath: string; Mode: number; FileSize?: number }[] | null;
        ShouldDisplayLoadMore?: boolean;
        LastFileName?: string;
      };
      for (const entry of body.Entries ?? []) {
        // Go's os.ModeDir bit.
        if ((entry.Mode & 0x80000000) !== 0) await walk(entry.FullPath);
        else out.push({ key: entry.FullPath.slice(bucketRoot.length + 1), size: entry.FileSize ?? 0 });
      }
      if (!body.ShouldDisplayLoadMore || !body.LastFileName) return;
      lastFileName = body.LastFileName;
    }
  };
  await walk(path);
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
