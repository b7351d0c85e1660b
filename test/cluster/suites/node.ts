// The test node itself (local/cluster.ts), before anything of Portcullis runs on it: a Ready node, a
// Deployment of a locally built image rolled to a second revision by the real controllers and kubelet,
// a ClusterIP Service and the in-cluster `kubernetes` Service reached from a pod through kube-proxy, a
// NodePort from the host, pod logs and exec through the kubelet, pods kept across restarts of the kubelet
// and the API server; and, registered last, a stop() that leaves the machine as it found it (checked here
// from the outside, not with the harness's own list).
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nodePaths, CNI_BRIDGE, NODE_NAME } from '../../../local/cluster-config.js';
import { writeClusterImage } from '../../../local/cluster-images.js';
import { kubectl } from '../../../local/controlPlane.js';
import { run } from '../../../local/process.js';
import { versions } from '../../../local/tools.js';
import type { NodeContext } from './context.js';

const deployment = (image: string, message: string): string => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: echo}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65532}
      containers:
      - name: echo
        image: ${image}
        imagePullPolicy: Never
        args: [serve, ":8080"]
        env: [{name: MESSAGE, value: ${message}}]
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 1}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
`;

const CLIENT_POD = `
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 65532}
  containers:
  - name: client
    image: __IMAGE__
    imagePullPolicy: Never
    args: [serve, ":9090"]
    env: [{name: MESSAGE, value: client}]
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
`;

const SERVICE = `
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  type: NodePort
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080}]
`;

/** The node's own proofs; they leave the echo Deployment, its Service and the client pod running. */
export function nodeSuite(ctx: () => NodeContext): void {
  let probeImage = '';
  const kube = async (args: string[], input?: string): Promise<string> => {
    const { cluster } = ctx();
    const r = await kubectl(cluster, args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}\n${cluster.logs().slice(-6000)}`);
    return r.stdout;
  };

  describe('a real single-node cluster', () => {
    beforeAll(async () => {
      const archive = join(ctx().work, 'probe.tar');
      probeImage = await writeClusterImage('probe', archive);
      await ctx().cluster.importImage(archive);
    });

    it('registers a Ready node running the pinned kubelet on containerd, at the node IP', async () => {
      const node = JSON.parse(await kube(['get', 'node', NODE_NAME, '-o', 'json'])) as {
        status: {
          conditions: { type: string; status: string }[];
          nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string };
          addresses: { type: string; address: string }[];
        };
      };
      expect(node.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(node.status.nodeInfo.kubeletVersion).toBe(versions().KUBERNETES_VERSION);
      expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/1\.6\./);
      expect(node.status.addresses).toContainEqual({ type: 'InternalIP', address: ctx().cluster.nodeIP });
    });

    it('makes a Deployment of 2 replicas of a locally built image available, then rolls it to a 2nd revision', async () => {
      await kube(['apply', '-f', '-'], deployment(probeImage, 'revision-1'));
      await kube(['rollout', 'status', 'deployment/echo', '--timeout=180s']);
      await kube(['apply', '-f', '-'], deployment(probeImage, 'revision-2'));
      await kube(['rollout', 'status', 'deployment/echo', '--timeout=180s']);

      const dep = JSON.parse(await kube(['get', 'deployment', 'echo', '-o', 'json'])) as {
        metadata: { annotations: Record<string, string> };
        status: { availableReplicas?: number; updatedReplicas?: number; replicas?: number };
      };
      expect(dep.metadata.annotations['deployment.kubernetes.io/revision']).toBe('2');
      expect(dep.status).toMatchObject({ availableReplicas: 2, updatedReplicas: 2, replicas: 2 });
      const sets = JSON.parse(await kube(['get', 'replicasets', '-l', 'app=echo', '-o', 'json'])) as {
        items: {
          metadata: { annotations: Record<string, string>; labels: Record<string, string> };
          spec: { replicas: number };
          status: { readyReplicas?: number };
        }[];
      };
      const byRevision = Object.fromEntries(sets.items.map((rs) => [rs.metadata.annotations['deployment.kubernetes.io/revision'], rs]));
      expect(byRevision['1']?.spec.replicas).toBe(0);
      expect(byRevision['2']?.status.readyReplicas).toBe(2);
      // `rollout status` returns once the old ReplicaSet is scaled to 0; its pods may still be terminating
      // (the kubelet stops them, then reports). The roll is over when they are gone from the API server.
      const oldHash = byRevision['1']?.metadata.labels['pod-template-hash'];
      expect(oldHash).toBeTruthy();
      await kube(['wait', '--for=delete', 'pods', '-l', `app=echo,pod-template-hash=${oldHash}`, '--timeout=120s']);
      expect((await kube(['get', 'pods', '-l', 'app=echo', '-o', 'name'])).trim().split('\n')).toHaveLength(2);
    });

    it('answers a ClusterIP Service through kube-proxy from a pod, and its NodePort from the host', async () => {
      await kube(['apply', '-f', '-'], `${SERVICE}---\n${CLIENT_POD.replace('__IMAGE__', probeImage)}`);
      await kube(['wait', '--for=condition=Ready', 'pod/client', '--timeout=120s']);
      const service = JSON.parse(await kube(['get', 'service', 'echo', '-o', 'json'])) as { spec: { clusterIP: string; ports: { nodePort: number }[] } };

      // kube-proxy programs the rules shortly after the Service and its endpoints exist: retried until then.
      let answer = '';
      for (let i = 0; i < 60 && !answer.startsWith('200'); i++) {
        const r = await kubectl(ctx().cluster, ['exec', 'client', '--', '/probe', 'get', `http://${service.spec.clusterIP}/`]);
        answer = r.stdout.trim();
        if (!answer.startsWith('200')) await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      expect(answer).toBe('200 revision-2');

      const fromHost = await fetch(`http://${ctx().cluster.nodeIP}:${service.spec.ports[0]!.nodePort}/`);
      expect(fromHost.status).toBe(200);
      expect(await fromHost.text()).toBe('revision-2');
    });

    it("answers the in-cluster `kubernetes` Service from a pod, under the pod's own ServiceAccount", async () => {
      const version = await kube(['exec', 'client', '--', '/probe', 'get-api', '/version']);
      expect(version).toMatch(/^200 /);
      expect((JSON.parse(version.slice(4)) as { gitVersion: string }).gitVersion).toBe(versions().KUBERNETES_VERSION);

      // The token is the pod's: RBAC refuses the default ServiceAccount a list of pods, by name.
      const refused = await kube(['exec', 'client', '--', '/probe', 'get-api', '/api/v1/namespaces/default/pods']);
      expect(refused).toMatch(/^403 /);
      expect((JSON.parse(refused.slice(4)) as { message: string }).message).toContain(
        'User "system:serviceaccount:default:default" cannot list resource "pods"',
      );
    });

    it("serves pod logs and exec through the kubelet, exec's exit code included", async () => {
      const pods = (await kube(['get', 'pods', '-l', 'app=echo', '-o', 'name'])).trim().split('\n');
      expect(pods).toHaveLength(2);
      const logs = await Promise.all(pods.map((pod) => kube(['logs', pod])));
      for (const log of logs) expect(log).toContain('probe: serving "revision-2" on :8080');
      expect(logs.join('')).toMatch(/probe: GET \/ from /);

      const failed = await kubectl(ctx().cluster, ['exec', 'client', '--', '/probe', 'no-such-command', 'x']);
      expect(failed.code).toBe(1);
      expect(failed.stderr).toContain('probe: unknown command no-such-command');
    });

    it('keeps pods running across a kubelet restart and an API server restart', async () => {
      const containers = async (): Promise<string> =>
        kube([
          'get',
          'pods',
          '-o',
          'jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}{"\\n"}{end}',
        ]);
      const before = await containers();
      expect(before.trim().split('\n')).toHaveLength(3);

      await ctx().cluster.restartKubelet();
      await ctx().cluster.restartApiServer();

      expect(await containers()).toBe(before);
      // Through the restarted API server, the restarted kubelet (exec) and kube-proxy, from the same pod.
      // A kubelet restarted just before the API server knows its pods again only once its pod watch has
      // reconnected and listed (it backs off while the API server is down): until then it answers exec
      // with "pod does not exist". That answer alone is waited out; any other failure fails at once.
      let exec = await kubectl(ctx().cluster, ['exec', 'client', '--', '/probe', 'get-api', '/version']);
      for (let i = 0; i < 60 && exec.code !== 0 && exec.stderr.includes('pod does not exist'); i++) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        exec = await kubectl(ctx().cluster, ['exec', 'client', '--', '/probe', 'get-api', '/version']);
      }
      expect(exec.code, exec.stderr).toBe(0);
      const version = exec.stdout;
      expect(version).toMatch(/^200 /);
      const clusterIP = await kube(['get', 'service', 'echo', '-o', 'jsonpath={.spec.clusterIP}']);
      expect((await kube(['exec', 'client', '--', '/probe', 'get', `http://${clusterIP}/`])).trim()).toBe('200 revision-2');
    });
  });
}

/** Registered last: stops the node (every suite is done with it) and looks for anything left behind. */
export function nodeStopSuite(ctx: () => NodeContext): void {
  describe('stopping the node', () => {
    it('stop() leaves no process, mount, iptables chain, cgroup, network device or directory behind', async () => {
      const paths = nodePaths();
      const controlPlaneDir = ctx().cluster.dir;
      await ctx().cluster.stop();

      const commands: string[] = [];
      for (const pid of (await readdir('/proc')).filter((e) => /^\d+$/.test(e))) {
        const command = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
        if (
          command.includes(paths.root) ||
          command.includes(controlPlaneDir) ||
          /\/(kubelet|kube-proxy|kube-scheduler|kube-controller-manager|probe|pause) /.test(command)
        ) {
          commands.push(`${pid}: ${command}`);
        }
      }
      expect(commands).toEqual([]);

      const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4] ?? '');
      expect(mounts.filter((m) => m.startsWith(paths.root) || m.startsWith('/run/netns/cni-'))).toEqual([]);

      for (const command of ['iptables-save', 'ip6tables-save']) {
        const saved = await run(command, []);
        expect(saved.code).toBe(0);
        expect(saved.stdout.split('\n').filter((l) => l.includes('KUBE-'))).toEqual([]);
      }

      const hierarchies = await readdir('/sys/fs/cgroup');
      expect(hierarchies.filter((h) => existsSync(join('/sys/fs/cgroup', h, 'kubepods')))).toEqual([]);
      expect(existsSync(`/sys/class/net/${CNI_BRIDGE}`)).toBe(false);
      expect([paths.root, controlPlaneDir, '/var/lib/kubelet', '/var/log/pods'].filter((d) => existsSync(d))).toEqual([]);
    });
  });
}
