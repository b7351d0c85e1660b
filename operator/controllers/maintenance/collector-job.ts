// The collector of a maintenance window: a Job in the Registry's namespace that runs Distribution's
// `registry garbage-collect` on the registry's own configuration and storage. It copies from the
// registry container what makes the storage the same (image, env, envFrom, volume mounts, and the pod's
// volumes, ServiceAccount, security context and placement) and leaves out the read-only switch. A small
// POSIX shell wrapper measures the filesystem root with `du -sb` before and after (`du -sk` where du
// has no -b, as BusyBox's in Alpine-based images: then in whole KiB of disk usage), and writes the
// report (policy/gc-result.ts) to the termination message, which the operator reads from the pod.
//
// No --delete-untagged: retention decides which manifests go (and keeps the children of a kept
// multi-arch index, which carry no tag of their own and which that flag would delete).

import { createHash } from 'node:crypto';
import type { GarbageCollection, RegistryResource, RegistryStorage } from '../../../crds/types.js';
import { collectionPath, getIfExists, isNotFound, objectPath, type KubeClient, type ResourceType } from '../../../kube/request.js';
import { Labels, MANAGED_BY } from '../../../wire/labels.js';
import { controllerReference, FIELD_MANAGER } from '../../writes/apply.js';
import type { Deployment } from '../deployment.js';
import type { CollectorJob } from '../../../policy/maintenance-window.js';
import { READ_ONLY_ENV } from './read-only.js';

export const jobs: ResourceType = { base: '/apis/batch/v1', plural: 'jobs', namespaced: true };
export const pods: ResourceType = { base: '/api/v1', plural: 'pods', namespaced: true };

/** The official images' configuration file (distribution/distribution and registry:2). */
export const DEFAULT_CONFIG_PATH = '/etc/docker/registry/config.yml';
/** Distribution's default filesystem root. */
export const DEFAULT_FILESYSTEM_ROOT = '/var/lib/registry';
export const TERMINATION_LOG = '/dev/termination-log';
const WORK_VOLUME = 'portcullis-gc-work';
const WORK_DIR = '/portcullis-gc';
const CONTAINER = 'garbage-collect';

/** The variables the wrapper reads: what a kubelet stand-in may point elsewhere. */
export const CollectorEnv = {
  config: 'PORTCULLIS_GC_CONFIG',
  root: 'PORTCULLIS_GC_ROOT',
  terminationLog: 'PORTCULLIS_GC_TERMINATION_LOG',
  workDir: 'PORTCULLIS_GC_WORK_DIR',
} as const;

/** The wrapper; its sed expression is policy/gc-result.ts's GC_SUMMARY. */
export const COLLECTOR_SCRIPT = `set -u
out="$${CollectorEnv.workDir}/output"
size() {
  [ -n "$${CollectorEnv.root}" ] || return 0
  b=$(du -sb "$${CollectorEnv.root}" 2>/dev/null | cut -f1)
  if [ -n "$b" ]; then echo "$b"; return 0; fi
  k=$(du -sk "$${CollectorEnv.root}" 2>/dev/null | cut -f1)
  if [ -n "$k" ]; then echo $((k * 1024)); fi
}
before=$(size)
registry garbage-collect "$${CollectorEnv.config}" >"$out" 2>&1
rc=$?
cat "$out"
after=$(size)
counts=$(sed -n 's/^[0-9][0-9]* blobs marked, \\([0-9][0-9]*\\) blobs and \\([0-9][0-9]*\\) manifests eligible for deletion$/blobsDeleted=\\1 manifestsDeleted=\\2/p' "$out" | tail -n 1)
if [ "$rc" -ne 0 ] || [ -z "$counts" ]; then
  { echo "registry garbage-collect exited $rc:"; tail -c 3000 "$out"; } >"$${CollectorEnv.terminationLog}"
  exit 1
fi
freed=""
if [ -n "$before" ] && [ -n "$after" ]; then freed="bytesFreed=$((before - after)) "; fi
echo "$freed$counts" >"$${CollectorEnv.terminationLog}"
`;

interface Container {
  name: string;
  image?: string;
  args?: string[];
  /** Entries with valueFrom are copied as they are; only plain values are read. */
  env?: { name: string; value?: string }[];
  envFrom?: unknown[];
  volumeMounts?: unknown[];
  securityContext?: unknown;
}

interface PodSpec {
  containers?: Container[];
  volumes?: unknown[];
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  securityContext?: unknown;
  imagePullSecrets?: unknown[];
  nodeSelector?: unknown;
  tolerations?: unknown[];
  affinity?: unknown;
}

/** One Job per window: its name comes from the request it serves (at most 63 characters, a label value). */
export function collectorJobName(registryName: string, requestId: string): string {
  const hash = createHash('sha256').update(requestId).digest('hex').slice(0, 10);
  return `${registryName.slice(0, 49).replace(/[-.]+$/, '')}-gc-${hash}`;
}

/** The filesystem root to measure; empty (not measured) on S3. */
export function filesystemRoot(storage: RegistryStorage | undefined, container: Container): string {
  if (storage?.s3 !== undefined) return '';
  if (storage?.filesystem !== undefined) return storage.filesystem.rootDirectory ?? DEFAULT_FILESYSTEM_ROOT;
  const env = container.env ?? [];
  if (env.some((e) => e.name === 'REGISTRY_STORAGE' && e.value !== undefined && e.value !== 'filesystem')) return '';
  return env.find((e) => e.name === 'REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY')?.value ?? DEFAULT_FILESYSTEM_ROOT;
}

/** The registry's config file: the one its arguments name (`serve FILE` or `FILE`), else the images' default. */
export function configPath(container: Container): string {
  return (container.args ?? []).find((a) => /\.ya?ml$/.test(a)) ?? DEFAULT_CONFIG_PATH;
}

export function collectorJob(input: {
  registry: RegistryResource;
  deployment: Deployment;
  containerName: string;
  requestId: string;
  settings: GarbageCollection | undefined;
  timeoutSeconds: number;
}): Record<string, unknown> {
  const { registry, deployment } = input;
  const pod = (deployment.spec?.template?.spec ?? {}) as PodSpec;
  const container = (pod.containers ?? []).find((c) => c.name === input.containerName);
  if (container === undefined) throw new Error(`Deployment ${deployment.metadata.name} has no container ${input.containerName}`);
  const name = collectorJobName(registry.metadata.name, input.requestId);
  const labels = { [Labels.managedBy]: MANAGED_BY, [Labels.registry]: registry.metadata.name };
  const env = [
    ...(container.env ?? []).filter((e) => e.name !== READ_ONLY_ENV),
    { name: CollectorEnv.config, value: configPath(container) },
    { name: CollectorEnv.root, value: filesystemRoot(registry.spec.storage, container) },
    { name: CollectorEnv.terminationLog, value: TERMINATION_LOG },
    { name: CollectorEnv.workDir, value: WORK_DIR },
  ];
  const copied = <K extends keyof PodSpec>(key: K): Partial<PodSpec> => (pod[key] === undefined ? {} : { [key]: pod[key] });
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: registry.metadata.namespace,
      labels,
      annotations: { 'portcullis.dev/gc-request': input.requestId },
      ownerReferences: [controllerReference(registry)],
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: input.timeoutSeconds,
      // Kept a day for its logs; the next window has another name.
      ttlSecondsAfterFinished: 86_400,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          ...copied('serviceAccountName'),
          // A registry pod without an API token gives its collector none either.
          ...copied('automountServiceAccountToken'),
          ...copied('securityContext'),
          ...copied('imagePullSecrets'),
          ...copied('nodeSelector'),
          ...copied('tolerations'),
          ...copied('affinity'),
          volumes: [...(pod.volumes ?? []), { name: WORK_VOLUME, emptyDir: {} }],
          containers: [
            {
              name: CONTAINER,
              image: input.settings?.image ?? container.image,
              command: ['/bin/sh', '-c', COLLECTOR_SCRIPT],
              env,
              ...(container.envFrom ? { envFrom: container.envFrom } : {}),
              ...(container.securityContext ? { securityContext: container.securityContext } : {}),
              volumeMounts: [...(container.volumeMounts ?? []), { name: WORK_VOLUME, mountPath: WORK_DIR }],
              terminationMessagePath: TERMINATION_LOG,
              terminationMessagePolicy: 'File',
            },
          ],
        },
      },
    },
  };
}

export async function createCollectorJob(client: KubeClient, job: Record<string, unknown>): Promise<void> {
  const metadata = job.metadata as { name: string; namespace: string };
  await client.apply(objectPath(jobs, metadata.namespace, metadata.name), job, FIELD_MANAGER);
}

interface JobObject {
  metadata: { name: string; deletionTimestamp?: string };
  status?: { succeeded?: number; failed?: number; conditions?: { type: string; status: string; message?: string }[] };
}

interface PodObject {
  status?: { containerStatuses?: { name: string; state?: { terminated?: { exitCode?: number; message?: string } } }[] };
}

/** The Job of a window as observed: undefined when it does not exist. */
export async function observeCollectorJob(client: KubeClient, namespace: string, name: string): Promise<CollectorJob | undefined> {
  const job = await getIfExists<JobObject>(client, objectPath(jobs, namespace, name));
  if (job === undefined) return undefined;
  const condition = (type: string) => job.status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;
  const succeeded = condition('Complete') || (job.status?.succeeded ?? 0) > 0;
  const failed = condition('Failed') || (job.status?.failed ?? 0) > 0;
  const observed: CollectorJob = { finished: succeeded || failed, succeeded, deleting: job.metadata.deletionTimestamp !== undefined };
  if (!observed.finished) return observed;
  const list = await client.get<{ items: PodObject[] }>(collectionPath(pods, namespace), { labelSelector: `job-name=${name}` });
  const messages = list.items.flatMap((p) => (p.status?.containerStatuses ?? []).filter((c) => c.name === CONTAINER).map((c) => c.state?.terminated?.message));
  const message = messages.find((m) => m !== undefined && m.trim() !== '');
  const reason = job.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True')?.message;
  return { ...observed, ...(message !== undefined ? { message } : reason !== undefined ? { message: reason } : {}) };
}

/** Deletes the Job and, before the Job object goes, its pods (foreground), so "gone" means stopped. */
export async function deleteCollectorJob(client: KubeClient, namespace: string, name: string): Promise<void> {
  try {
    await client.request('DELETE', objectPath(jobs, namespace, name), { body: { propagationPolicy: 'Foreground' } });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}
