// The two kernel settings a node needs, as kubeadm's preflight checks them: IPv4 forwarding (pods reach
// Services through the node) and bridged traffic passing iptables (kube-proxy's DNAT of a ClusterIP
// answered by a pod on the same bridge). This machine has them set, but a fresh one may not, and the
// symptom (pod-to-ClusterIP replies lost) says nothing about the cause. startCluster sets what is off
// and stop() puts back what it found.
import { access, readFile, writeFile } from 'node:fs/promises';
import { run } from './process.js';

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';
const BRIDGE_NF_CALL_IPTABLES = '/proc/sys/net/bridge/bridge-nf-call-iptables';

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** Turns on what is off and returns how to restore it. */
export async function ensureNodeSysctls(): Promise<() => Promise<void>> {
  if (!(await exists(BRIDGE_NF_CALL_IPTABLES))) {
    // The setting exists only with the br_netfilter module loaded; modprobe is not installed everywhere.
    const loaded = await run('modprobe', ['br_netfilter']).catch(() => ({ code: 1, stdout: '', stderr: 'modprobe not found' }));
    if (!(await exists(BRIDGE_NF_CALL_IPTABLES))) {
      throw new Error(
        `the test node needs the br_netfilter kernel module (${BRIDGE_NF_CALL_IPTABLES} is missing; modprobe br_netfilter: ${loaded.stderr.trim() || loaded.code})`,
      );
    }
  }
  const restore: { path: string; value: string }[] = [];
  for (const path of [IP_FORWARD, BRIDGE_NF_CALL_IPTABLES]) {
    const value = (await readFile(path, 'utf8')).trim();
    if (value === '1') continue;
    await writeFile(path, '1');
    restore.push({ path, value });
  }
  return async () => {
    for (const { path, value } of restore) await writeFile(path, value).catch(() => undefined);
  };
}
