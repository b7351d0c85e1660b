// The test plays kubelet and controller manager for ONE registry Deployment: when the pod template
// changes it "rolls out" a new pod — a new Distribution process configured from the template (the
// REGISTRY_AUTH_TOKEN_* env and the bundle ConfigMap mounted as a volume, read from the cluster) — moves
// a stable loopback endpoint (a TCP proxy, as a Service would) to it once it is ready, stops the old one
// after its connections drain, and writes the Deployment status the way the Deployment controller does.
// A template that did not change (e.g. only replicas changed) only gets its status updated: no restart.
// REGISTRY_STORAGE* variables in the template (the operator's storage wiring, a maintenance window's
// read-only switch) and REGISTRY_NOTIFICATIONS* (the activity endpoint) are passed to the new process as
// the container's environment, secretKeyRefs resolved from their Secrets as the kubelet would; a
// filesystem root in them is the storage directory (the claim's mount).
import { createServer, connect, type Server, type Socket } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ControlPlane } from '../../local/controlPlane.js';
import { freePort } from '../../local/process.js';
import { startRegistry, type RegistryFlavor, type RunningRegistry } from '../../local/registry.js';
import { KubeClient, MERGE_PATCH, objectPath, Resources, isNotFound } from '../../kube/request.js';
import { stableJson } from '../../operator/writes/status.js';
import { deployments, type Deployment } from '../../operator/controllers/deployment.js';
import { resolvePodEnv, type EnvEntry } from './pod-env.js';

export interface FakeKubeletOptions {
  cp: Pick<ControlPlane, 'kubeConfig'>;
  namespace: string;
  deployment: string;
  flavor: RegistryFlavor;
  tls: { cert: string; key: string };
  /** Shared by every pod (the registry's persistent volume). Default: a temp dir. */
  storageDir?: string;
  pollMs?: number;
}

export interface Rollout {
  generation: number;
  startedAt: number;
  /** When the new pod took the traffic. */
  readyAt: number;
  bundleHash?: string;
}

export interface FakeKubelet {
  /** The registry's storage, shared by every pod (and by collector Jobs: see collector-jobs.ts). */
  storageDir: string;
  /** https://localhost:PORT: the stable endpoint (Service) in front of the current pod. */
  endpoint: string;
  /** localhost:PORT for image references. */
  host: string;
  /** Registry processes started after the first one. */
  restarts(): number;
  rollouts(): Rollout[];
  /** Resolves when the Deployment's latest generation runs and its status says so. */
  waitForRollout(timeoutMs?: number): Promise<void>;
  logs(): string;
  stop(): Promise<void>;
}

interface Container {
  name: string;
  env?: EnvEntry[];
  volumeMounts?: { name: string; mountPath: string }[];
}

interface Pod {
  registry: RunningRegistry;
  connections: Set<Socket>;
}

const ENV = {
  realm: 'REGISTRY_AUTH_TOKEN_REALM',
  service: 'REGISTRY_AUTH_TOKEN_SERVICE',
  issuer: 'REGISTRY_AUTH_TOKEN_ISSUER',
  bundle: 'REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE',
} as const;

/** Template variables that reach the process (maintenance, storage driver and its settings, notifications). */
const PASSED_ENV = /^REGISTRY_(STORAGE|NOTIFICATIONS)/;
const FILESYSTEM_ROOT_ENV = 'REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY';

export async function startFakeKubelet(options: FakeKubeletOptions): Promise<FakeKubelet> {
  const client = new KubeClient(options.cp.kubeConfig);
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-kubelet-'));
  const storageDir = options.storageDir ?? join(dir, 'storage');
  const port = await freePort();
  const path = objectPath(deployments, options.namespace, options.deployment);
  let current: Pod | undefined;
  let started = 0;
  let stopped = false;
  let lastTemplate: string | undefined;
  let observedGeneration = 0;
  let latestGeneration = 0;
  let lastError: Error | undefined;
  const rollouts: Rollout[] = [];
  const log: string[] = [];

  const proxy: Server = createServer((socket) => {
    const pod = current;
    if (!pod) {
      socket.destroy();
      return;
    }
    pod.connections.add(socket);
    const upstream = connect(pod.registry.port, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    const close = (): void => {
      pod.connections.delete(socket);
      socket.destroy();
      upstream.destroy();
    };
    socket.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve, reject) => proxy.once('error', reject).listen(port, '127.0.0.1', resolve));

  const writeStatus = async (generation: number, replicas: number, updated: number, available: number): Promise<void> => {
    await client.request('PATCH', objectPath(deployments, options.namespace, options.deployment, 'status'), {
      body: { status: { observedGeneration: generation, replicas, updatedReplicas: updated, readyReplicas: available, availableReplicas: available } },
      contentType: MERGE_PATCH,
    });
  };

  const podFor = async (deployment: Deployment, generation: number): Promise<Pod> => {
    const template = deployment.spec?.template?.spec as { containers?: Container[]; volumes?: { name: string; configMap?: { name: string } }[] } | undefined;
    const container = template?.containers?.find((c) => c.env?.some((e) => e.name === ENV.bundle)) ?? template?.containers?.[0];
    const env = new Map((container?.env ?? []).map((e) => [e.name, e.value ?? '']));
    let auth: Parameters<typeof startRegistry>[0]['auth'];
    const bundlePath = env.get(ENV.bundle);
    if (bundlePath !== undefined) {
      // Resolve the file the way the kubelet would: the mount whose path holds it, the volume behind the mount, the ConfigMap behind the volume.
      const mount = container?.volumeMounts?.find((m) => bundlePath.startsWith(`${m.mountPath.replace(/\/$/, '')}/`));
      const volume = template?.volumes?.find((v) => v.name === mount?.name);
      if (!mount || !volume?.configMap) throw new Error(`${ENV.bundle}=${bundlePath} is not on a ConfigMap volume`);
      const cm = await client.get<{ data?: Record<string, string> }>(objectPath(Resources.configMaps, options.namespace, volume.configMap.name));
      const key = bundlePath.slice(mount.mountPath.replace(/\/$/, '').length + 1);
      const text = cm.data?.[key];
      if (text === undefined) throw new Error(`ConfigMap ${volume.configMap.name} has no key ${key}`);
      const file = join(dir, `bundle-${generation}.pem`);
      await writeFile(file, text);
      auth = { realm: env.get(ENV.realm) ?? '', service: env.get(ENV.service) ?? '', issuer: env.get(ENV.issuer) ?? '', rootCertBundle: file };
    }
    // Storage, maintenance and notification settings reach the process as they would a container.
    const passed = await resolvePodEnv(client, options.namespace, container?.env ?? [], (name) => PASSED_ENV.test(name));
    if (passed[FILESYSTEM_ROOT_ENV] !== undefined) passed[FILESYSTEM_ROOT_ENV] = storageDir;
    const registry = await startRegistry({
      flavor: options.flavor,
      tls: options.tls,
      storageDir,
      ...(auth ? { auth } : {}),
      ...(Object.keys(passed).length > 0 ? { env: passed } : {}),
    });
    started += 1;
    return { registry, connections: new Set() };
  };

  const drainAndStop = async (pod: Pod): Promise<void> => {
    const deadline = Date.now() + 15_000;
    while (pod.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    for (const s of pod.connections) s.destroy();
    await pod.registry.stop();
  };

  const sync = async (): Promise<void> => {
    let deployment: Deployment;
    try {
      deployment = await client.get<Deployment>(path);
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    const generation = deployment.metadata.generation ?? 1;
    latestGeneration = generation;
    if (generation === observedGeneration) return;
    const replicas = deployment.spec?.replicas ?? 1;
    const template = stableJson(deployment.spec?.template);
    if (template === lastTemplate && current) {
      await writeStatus(generation, replicas, replicas, replicas);
      observedGeneration = generation;
      return;
    }
    if (deployment.spec?.paused) return;
    const startedAt = Date.now();
    // A rollout in progress: old pods still serve, the new one is not available yet.
    if (current) await writeStatus(generation, replicas + 1, 0, replicas);
    const pod = await podFor(deployment, generation);
    const old = current;
    current = pod;
    lastTemplate = template;
    const hash = deployment.spec?.template?.metadata?.annotations?.['portcullis.dev/bundle-hash'];
    rollouts.push({ generation, startedAt, readyAt: Date.now(), ...(hash ? { bundleHash: hash } : {}) });
    log.push(`generation ${generation}: new pod on ${pod.registry.port}${hash ? ` (bundle ${hash})` : ''}`);
    if (old) await drainAndStop(old);
    await writeStatus(generation, replicas, replicas, replicas);
    observedGeneration = generation;
  };

  const loop = (async () => {
    while (!stopped) {
      try {
        await sync();
        lastError = undefined;
      } catch (error) {
        lastError = error as Error;
        log.push(`sync failed: ${lastError.message}`);
      }
      await new Promise((r) => setTimeout(r, options.pollMs ?? 200));
    }
  })();

  return {
    storageDir,
    endpoint: `https://localhost:${port}`,
    host: `localhost:${port}`,
    restarts: () => Math.max(0, started - 1),
    rollouts: () => [...rollouts],
    async waitForRollout(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const d = await client.get<Deployment>(path).catch(() => undefined);
        if (d && current && observedGeneration === (d.metadata.generation ?? 1)) return;
        if (Date.now() > deadline)
          throw new Error(
            `rollout of ${options.deployment} not done (observed ${observedGeneration}, latest ${latestGeneration}` +
              `${lastError ? `, last error: ${lastError.message}` : ''})`,
          );
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    logs: () => [...log, current?.registry.logs() ?? ''].join('\n'),
    async stop() {
      stopped = true;
      await loop;
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      if (current) {
        for (const s of current.connections) s.destroy();
        await current.registry.stop();
      }
      client.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
