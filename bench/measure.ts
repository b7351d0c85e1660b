// Small helpers every bench part shares: order statistics over samples, a Basic header, an autocannon run
// summarised, the sanity check before a run, a table row, and the shape of the function run.ts hands each
// part to start a child process, and pinning processes to CPUs.
import autocannon from 'autocannon';
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { run } from '../local/process.js';

export type Start = (args: string[], ready: RegExp) => Promise<{ port: number; stop(): Promise<void> }>;

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

export const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
};

/** A process's resident memory and its peak (VmRSS, VmHWM), in MB. */
export function processMemory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: mb('VmRSS'), peak: mb('VmHWM') };
}

/** CPU seconds a process has used so far (user + system), from /proc/PID/stat. */
export function processCpuSeconds(pid: number): number {
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 (11 and 12 after the parenthesis), in clock ticks (100/s on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Pids of the processes whose command line mentions `text` (a control plane's temp dir finds its etcd and API server). */
export function pidsMentioning(text: string): { pid: number; name: string }[] {
  const found: { pid: number; name: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.includes(text))) found.push({ pid: Number(entry), name: basename(argv[0] ?? '') });
    } catch {
      // Gone between the listing and the read.
    }
  }
  return found;
}

export const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

/** `connections` keep-alive clients sending `requests` round-robin to 127.0.0.1:port for `seconds`. */
export async function loadTest(connections: number, port: number, requests: autocannon.Request[], seconds: number): Promise<LoadResult> {
  const result = await autocannon({ url: `http://127.0.0.1:${port}`, connections, duration: seconds, requests });
  return {
    rps: result.requests.total / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/** Before measuring: the request must get a token granting `expected` (a fast refusal would flatter the figures). */
export async function checkGrant(port: number, req: autocannon.Request, expected: string[]): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}${req.path}`, { headers: (req.headers ?? {}) as Record<string, string> });
  const body = (await res.json()) as { token?: string };
  const payload = (body.token ? JSON.parse(Buffer.from(body.token.split('.')[1]!, 'base64url').toString()) : {}) as { access?: { actions: string[] }[] };
  const actions: string[] = payload.access?.[0]?.actions ?? [];
  if (res.status !== 200 || expected.some((a) => !actions.includes(a))) {
    throw new Error(`sanity check failed for ${req.path}: status ${res.status}, access ${JSON.stringify(payload.access)}`);
  }
}

/** One row of a printed table: the first column 36 wide, the rest 13. */
export function row(cells: (string | number)[]): string {
  // A cell wider than its column still gets a space, so figures never run together.
  return cells.map((c, i) => String(c).padEnd((i === 0 ? 36 : 13) - 1) + ' ').join('');
}

/** The CPUs `pid` may run on, as taskset prints them (`0,1`, `0-3`). */
export async function cpuList(pid: number): Promise<string> {
  const r = await run('taskset', ['-p', '-c', String(pid)]);
  const list = /list:\s*(\S+)/.exec(r.stdout)?.[1];
  if (r.code !== 0 || list === undefined) throw new Error(`taskset -p ${pid}: ${r.stderr}`);
  return list;
}

/** Moves every thread of `pid` onto `cpus`. */
export async function pin(pid: number, cpus: string): Promise<void> {
  const r = await run('taskset', ['-a', '-p', '-c', cpus, String(pid)]);
  if (r.code !== 0) throw new Error(`taskset -a -p -c ${cpus} ${pid}: ${r.stderr}`);
}
