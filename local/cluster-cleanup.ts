// Removes everything the test node leaves on the machine, whether it stopped cleanly or a crashed run left
// it: processes (containerd shims, pod processes, the components), mounts (the kubelet's bind mount of its
// root, volume tmpfs, overlay rootfs, network namespaces), the KUBE-* iptables chains of kube-proxy and the
// kubelet, the kubepods cgroups, the CNI bridge and cache, and the files under the node's root.
// nodeLeftovers() lists what is still there; removeNodeLeftovers() removes it and fails if anything stays.
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CNI_BRIDGE, CNI_NETWORK, type NodePaths } from './cluster-config.js';
import { run } from './process.js';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** Where libcni caches results (containerd 1.6 has no setting for it); files are named NETWORK-ID-IFNAME. */
const CNI_CACHE = '/var/lib/cni';
/** Paths the kubelet writes whatever its --root-dir. */
const KUBELET_FIXED_DIRS = ['/var/lib/kubelet/device-plugins', '/var/lib/kubelet/pod-resources', '/var/lib/kubelet'];
const IPTABLES_TABLES = ['filter', 'nat', 'mangle'];

/** Processes whose command line names one of `markers` (the node's root, the control plane's dir). */
async function processesNaming(markers: string[]): Promise<{ pid: number; command: string }[]> {
  const found: { pid: number; command: string }[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (markers.some((m) => command.includes(m))) found.push({ pid, command: command.replaceAll('\0', ' ').trim() });
  }
  return found;
}

/** The kubepods cgroup of every hierarchy (cgroup v1 mounts one per controller). */
async function kubepodsCgroups(): Promise<string[]> {
  const hierarchies = await readdir(CGROUP_ROOT).catch(() => []);
  return hierarchies.map((h) => join(CGROUP_ROOT, h, 'kubepods')).filter((p) => existsSync(p));
}

/** A cgroup and its descendants, deepest first (the order rmdir needs). */
async function cgroupTree(dir: string): Promise<string[]> {
  const children = (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory());
  const below = await Promise.all(children.map((c) => cgroupTree(join(dir, c.name))));
  return [...below.flat(), dir];
}

async function pidsIn(cgroup: string): Promise<number[]> {
  const text = await readFile(join(cgroup, 'cgroup.procs'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

/** Mount points under the node's root (network namespaces included: containerd mounts them under its state). */
async function nodeMounts(paths: NodePaths): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo
    .split('\n')
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((p) => p === paths.root || p.startsWith(`${paths.root}/`));
}

/** iptables-restore input that deletes every KUBE-* chain of a table and every rule jumping to one. */
function kubeChainRemoval(table: string, saved: string): string | undefined {
  const lines = saved.split('\n');
  const chains = lines.filter((l) => l.startsWith(':KUBE-')).map((l) => l.slice(1).split(' ')[0]!);
  if (chains.length === 0) return undefined;
  const jumps = lines.filter((l) => /^-A (?!KUBE-)\S+ .*-[jg] KUBE-/.test(l)).map((l) => `-D ${l.slice(3)}`);
  return [`*${table}`, ...jumps, ...chains.map((c) => `-F ${c}`), ...chains.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
}

async function kubeChains(): Promise<{ command: string; table: string; saved: string }[]> {
  const found: { command: string; table: string; saved: string }[] = [];
  for (const command of ['iptables', 'ip6tables']) {
    for (const table of IPTABLES_TABLES) {
      const saved = await run(`${command}-save`, ['-t', table]);
      if (saved.code === 0 && saved.stdout.includes(':KUBE-')) found.push({ command, table, saved: saved.stdout });
    }
  }
  return found;
}

async function cniCacheFiles(): Promise<string[]> {
  const results = join(CNI_CACHE, 'results');
  const names = await readdir(results).catch(() => []);
  return names.filter((n) => n.startsWith(`${CNI_NETWORK}-`)).map((n) => join(results, n));
}

/** Everything the node left on the machine, one line each; empty when the machine is clean. */
export async function nodeLeftovers(paths: NodePaths, extraMarkers: string[] = []): Promise<string[]> {
  const found: string[] = [];
  for (const p of await processesNaming([paths.root, ...extraMarkers])) found.push(`process ${p.pid}: ${p.command}`);
  for (const cgroup of await kubepodsCgroups()) {
    const tree = await cgroupTree(cgroup);
    const pids = (await Promise.all(tree.map(pidsIn))).flat();
    found.push(`cgroup ${cgroup} (${tree.length} cgroups, ${pids.length} processes)`);
  }
  for (const m of await nodeMounts(paths)) found.push(`mount ${m}`);
  for (const { command, table, saved } of await kubeChains()) {
    const chains = saved.split('\n').filter((l) => l.startsWith(':KUBE-')).length;
    found.push(`${command} table ${table}: ${chains} KUBE-* chains`);
  }
  if (existsSync(`/sys/class/net/${CNI_BRIDGE}`)) found.push(`network device ${CNI_BRIDGE}`);
  for (const f of await cniCacheFiles()) found.push(`file ${f}`);
  for (const d of [paths.root, ...KUBELET_FIXED_DIRS, ...extraMarkers]) if (existsSync(d)) found.push(`directory ${d}`);
  return found;
}

async function must(command: string, args: string[], input?: string): Promise<void> {
  const r = await run(command, args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')}: ${r.stderr.trim()}`);
}

/**
 * Removes what nodeLeftovers() finds, killing processes with SIGKILL (the caller stops them gracefully
 * first when it can), then throws if anything is left. `extraMarkers` are other directories whose
 * processes and files belong to the node (the control plane's).
 */
export async function removeNodeLeftovers(paths: NodePaths, extraMarkers: string[] = []): Promise<void> {
  for (const p of await processesNaming([paths.root, ...extraMarkers])) process.kill(p.pid, 'SIGKILL');
  for (let attempt = 0; attempt < 50; attempt++) {
    const cgroups = (await Promise.all((await kubepodsCgroups()).map(cgroupTree))).flat();
    if (cgroups.length === 0) break;
    for (const cgroup of cgroups) {
      for (const pid of await pidsIn(cgroup)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await rmdir(cgroup).catch(() => undefined); // busy until its processes are reaped: retried
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // Deepest first, so a mount inside another (a volume inside the kubelet's bind-mounted root) goes first.
  const mounts = (await nodeMounts(paths)).sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    if ((await run('umount', [m])).code !== 0) await must('umount', ['-l', m]);
  }
  for (const { command, table, saved } of await kubeChains()) {
    const script = kubeChainRemoval(table, saved);
    if (script) await must(`${command}-restore`, ['--noflush'], script);
  }
  if (existsSync(`/sys/class/net/${CNI_BRIDGE}`)) await must('ip', ['link', 'delete', CNI_BRIDGE]);
  for (const f of await cniCacheFiles()) await rm(f, { force: true });
  for (const d of [join(CNI_CACHE, 'results'), CNI_CACHE]) await rmdir(d).catch(() => undefined); // only if empty: podman may share it
  // --one-file-system: never into a mount that survived (it would delete what the mount shows).
  for (const d of [paths.root, ...extraMarkers]) if (existsSync(d)) await must('rm', ['-rf', '--one-file-system', d]);
  await rm('/var/lib/kubelet/device-plugins/kubelet.sock', { force: true });
  for (const d of KUBELET_FIXED_DIRS) await rmdir(d).catch(() => undefined); // only if empty: another kubelet's stay
  const left = await nodeLeftovers(paths, extraMarkers);
  if (left.length > 0) throw new Error(`the test node left things behind that could not be removed:\n${left.join('\n')}`);
}
