// The test plays the Job controller and the kubelet for the operator's collector Jobs (a maintenance
// window's `registry garbage-collect`): when a Job appears in the namespace, it runs the Job's own
// container command — the operator's shell wrapper, with real sh, du and sed — against the registry's
// storage directory, the way a pod mounting the same volume would: the wrapper's paths (config file,
// filesystem root, termination log, work dir) are pointed at local ones, and `registry` on PATH is the
// real Distribution binary of the flavour under test. Then it writes what the Job controller and the
// kubelet would: a pod labelled job-name=NAME whose container terminated with the termination message,
// and the Job's status (Complete or Failed). The config file holds the registry's storage section
// (filesystem on the same directory, deletion on): all that garbage-collect reads, unless the container's
// REGISTRY_STORAGE* variables switch it (S3: secretKeyRefs resolved from their Secrets, as the kubelet would).
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ControlPlane } from '../../local/controlPlane.js';
import type { RegistryFlavor } from '../../local/registry.js';
import { registry28Path, toolPath } from '../../local/tools.js';
import { collectionPath, KubeClient, MERGE_PATCH, objectPath } from '../../kube/request.js';
import { CollectorEnv, jobs, pods } from '../../operator/controllers/maintenance/collector-job.js';
import { resolvePodEnv, type EnvEntry } from './pod-env.js';

export interface CollectorRun {
  job: string;
  exitCode: number;
  /** What the wrapper wrote to its termination log. */
  message: string;
  /** The collector's stdout and stderr. */
  output: string;
}

export interface CollectorJobs {
  runs(): CollectorRun[];
  logs(): string;
  stop(): Promise<void>;
}

interface JobObject {
  metadata: { name: string; uid?: string; deletionTimestamp?: string };
  spec: {
    template: {
      metadata?: { labels?: Record<string, string> };
      spec: { containers: { name: string; image?: string; command?: string[]; env?: EnvEntry[] }[] };
    };
  };
  status?: { startTime?: string };
}

function run(command: string[], env: NodeJS.ProcessEnv): Promise<{ exitCode: number; output: string }> {
  return new Promise((resolve) => {
    const [file, ...args] = command;
    execFile(file as string, args, { env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ exitCode: code, output: `${stdout}${stderr}` });
    });
  });
}

export async function startCollectorJobs(options: {
  cp: Pick<ControlPlane, 'kubeConfig'>;
  namespace: string;
  flavor: RegistryFlavor;
  storageDir: string;
  pollMs?: number;
  /** Awaited after the Job is marked active and before its container runs: a slow collector, on cue. */
  hold?: (job: string) => Promise<void>;
}): Promise<CollectorJobs> {
  const client = new KubeClient(options.cp.kubeConfig);
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-jobs-'));
  const bin = join(dir, 'bin');
  await mkdir(bin);
  await symlink(options.flavor === '2.8' ? registry28Path : toolPath('registry-v3'), join(bin, 'registry'));
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    stringify({ version: 0.1, log: { level: 'info' }, storage: { filesystem: { rootdirectory: options.storageDir }, delete: { enabled: true } } }),
  );
  const handled = new Set<string>();
  const runs: CollectorRun[] = [];
  const log: string[] = [];
  let stopped = false;

  const play = async (job: JobObject): Promise<void> => {
    const name = job.metadata.name;
    const container = job.spec.template.spec.containers[0];
    if (!container?.command) throw new Error(`Job ${name} has no command`);
    const started = new Date().toISOString();
    await client.request('PATCH', objectPath(jobs, options.namespace, name, 'status'), {
      body: { status: { startTime: started, active: 1 } },
      contentType: MERGE_PATCH,
    });
    await options.hold?.(name);
    const work = join(dir, name);
    await mkdir(work, { recursive: true });
    const terminationLog = join(work, 'termination-log');
    await writeFile(terminationLog, '');
    // The container's env (S3 credentials from their Secret), with the wrapper's paths pointed at the local storage.
    const env: NodeJS.ProcessEnv = {
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      OTEL_SDK_DISABLED: 'true',
      OTEL_TRACES_EXPORTER: 'none',
      ...(await resolvePodEnv(client, options.namespace, container.env ?? [])),
    };
    // A filesystem root from the operator's storage wiring is the claim's mount: the same directory here.
    if (env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY !== undefined) env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY = options.storageDir;
    env[CollectorEnv.config] = config;
    if (env[CollectorEnv.root]) env[CollectorEnv.root] = options.storageDir;
    env[CollectorEnv.terminationLog] = terminationLog;
    env[CollectorEnv.workDir] = work;
    const { exitCode, output } = await run(container.command, env);
    const message = (await readFile(terminationLog, 'utf8')).trim();
    runs.push({ job: name, exitCode, message, output });
    log.push(`job ${name}: exit ${exitCode}: ${message}`);
    const finished = new Date().toISOString();
    const labels = { ...(job.spec.template.metadata?.labels ?? {}), 'job-name': name, 'batch.kubernetes.io/job-name': name };
    const podName = `${name}-${Math.random().toString(36).slice(2, 7)}`;
    await client.request('POST', collectionPath(pods, options.namespace), {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: podName,
          labels,
          ...(job.metadata.uid ? { ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid: job.metadata.uid, controller: true }] } : {}),
        },
        spec: { ...job.spec.template.spec, restartPolicy: 'Never' },
      },
    });
    await client.request('PATCH', objectPath(pods, options.namespace, podName, 'status'), {
      body: {
        status: {
          phase: exitCode === 0 ? 'Succeeded' : 'Failed',
          containerStatuses: [
            {
              name: container.name,
              image: container.image ?? '',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', message, startedAt: started, finishedAt: finished } },
            },
          ],
        },
      },
      contentType: MERGE_PATCH,
    });
    // What the Job controller writes (1.31+ validates that Complete/Failed follow SuccessCriteriaMet/FailureTarget).
    const done = exitCode === 0 ? ['SuccessCriteriaMet', 'Complete'] : ['FailureTarget', 'Failed'];
    const conditions = done.map((type) => ({
      type,
      status: 'True',
      lastProbeTime: finished,
      lastTransitionTime: finished,
      ...(exitCode === 0 ? {} : { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }),
    }));
    await client.request('PATCH', objectPath(jobs, options.namespace, name, 'status'), {
      body: {
        status: {
          active: 0,
          ready: 0,
          terminating: 0,
          ...(exitCode === 0 ? { succeeded: 1, completionTime: finished } : { failed: 1 }),
          conditions,
          uncountedTerminatedPods: {},
        },
      },
      contentType: MERGE_PATCH,
    });
  };

  const loop = (async () => {
    while (!stopped) {
      try {
        const list = await client.get<{ items: JobObject[] }>(collectionPath(jobs, options.namespace));
        for (const job of list.items) {
          if (handled.has(job.metadata.name) || job.metadata.deletionTimestamp !== undefined) continue;
          handled.add(job.metadata.name);
          await play(job);
        }
      } catch (error) {
        log.push(`jobs: ${(error as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, options.pollMs ?? 200));
    }
  })();

  return {
    runs: () => [...runs],
    logs: () => log.join('\n'),
    async stop() {
      stopped = true;
      await loop;
      client.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
