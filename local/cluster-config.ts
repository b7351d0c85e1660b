// Where the test node keeps its state and how its daemons are configured (local/cluster.ts starts them).
// Everything lives under one fixed directory, because the kubelet and containerd leave state behind
// (mounts, shims, cgroups) that a later run must find and remove after a crash, and only one node can run
// on a machine at a time. The machine is cgroup v1 with no systemd cgroup driver and no swap limit.
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The node's name: the kubelet registers it, the Node authorizer knows it from the certificate. */
export const NODE_NAME = 'portcullis-node';
/** The CNI network's name and its bridge device (10.244.0.0/24 is far from the host's and Docker's). */
export const CNI_NETWORK = 'portcullis-node';
export const CNI_BRIDGE = 'pcl-node0';
export const POD_CIDR = '10.244.0.0/24';
/** The API server's --service-cluster-ip-range (local/controlPlane.ts); `kubernetes` is its first address. */
export const SERVICE_CIDR = '10.0.0.0/24';
export const KUBERNETES_SERVICE_IP = '10.0.0.1';

export interface NodePaths {
  root: string;
  containerdConfig: string;
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  runcRoot: string;
  cniConfDir: string;
  cniDataDir: string;
  kubeletRoot: string;
  kubeletConfig: string;
  podLogs: string;
  kubeProxyConfig: string;
}

export function nodePaths(root = join(tmpdir(), 'portcullis-node')): NodePaths {
  return {
    root,
    containerdConfig: join(root, 'containerd.toml'),
    containerdRoot: join(root, 'containerd', 'root'),
    containerdState: join(root, 'containerd', 'state'),
    containerdSocket: join(root, 'containerd', 'containerd.sock'),
    runcRoot: join(root, 'containerd', 'runc'),
    cniConfDir: join(root, 'cni', 'net.d'),
    cniDataDir: join(root, 'cni', 'ipam'),
    kubeletRoot: join(root, 'kubelet'),
    kubeletConfig: join(root, 'kubelet.yaml'),
    podLogs: join(root, 'pod-logs'),
    kubeProxyConfig: join(root, 'kube-proxy.yaml'),
  };
}

/**
 * containerd 1.6 with its own root, state, socket and runc root. `restrict_oom_score_adj`: the VM's root
 * lacks CAP_SYS_RESOURCE, and without it every sandbox fails with "can't get final child's PID from pipe".
 * The CRI streaming server (exec, logs follow) listens on loopback only; the kubelet proxies to it. Network
 * namespaces are mounted under the state dir, not /run/netns, so everything the node mounts is under its root.
 * Plugins that write outside the root (opt: /opt/containerd) or that this machine cannot use are off.
 */
export function containerdConfig(paths: NodePaths, sandboxImage: string): string {
  return `version = 2
root = "${paths.containerdRoot}"
state = "${paths.containerdState}"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "${paths.containerdSocket}"

[ttrpc]
  address = "${paths.containerdSocket}.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${sandboxImage}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${paths.runcRoot}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${paths.cniConfDir}"
    max_conf_num = 1
`;
}

/**
 * A bridge network with host-local addresses kept under the node's root. No ipMasq: pods only reach the
 * node's own addresses (the API server, Services through kube-proxy), so no CNI iptables chain is needed.
 * No portmap: the tests reach pods through NodePorts (kube-proxy), never hostPort.
 */
export function cniConfig(paths: NodePaths): string {
  return JSON.stringify({
    cniVersion: '0.4.0',
    name: CNI_NETWORK,
    plugins: [
      {
        type: 'bridge',
        bridge: CNI_BRIDGE,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: paths.cniDataDir },
      },
      { type: 'loopback' },
    ],
  });
}

/**
 * The kubelet on cgroup v1 (failCgroupV1: false, or it refuses), cgroupfs driver, swap allowed; x509 and
 * webhook authentication, webhook authorization (the API server calls it with a system:masters
 * certificate); eviction thresholds low enough that a busy shared disk does not evict test pods.
 */
export function kubeletConfig(paths: NodePaths, options: { clientCAFile: string; nodeIP: string; port: number; healthzPort: number }): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://${paths.containerdSocket}
podLogsDir: ${paths.podLogs}
address: ${options.nodeIP}
port: ${options.port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${options.healthzPort}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${options.clientCAFile}}
authorization: {mode: Webhook}
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
rotateCertificates: false
serializeImagePulls: false
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, nodefs.inodesFree: 2%, imagefs.available: 2%}
imageGCHighThresholdPercent: 98
imageGCLowThresholdPercent: 95
`;
}

/**
 * kube-proxy in iptables mode. conntrack.maxPerCore 0 leaves the host's nf_conntrack_max alone;
 * localhostNodePorts off keeps it from setting route_localnet on the host (NodePorts answer on the node IP).
 */
export function kubeProxyConfig(options: { kubeconfig: string; healthzPort: number; metricsPort: number }): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: ${options.kubeconfig}}
hostnameOverride: ${NODE_NAME}
clusterCIDR: ${POD_CIDR}
healthzBindAddress: 127.0.0.1:${options.healthzPort}
metricsBindAddress: 127.0.0.1:${options.metricsPort}
conntrack: {maxPerCore: 0}
iptables: {localhostNodePorts: false}
`;
}
