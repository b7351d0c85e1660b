// Garbage-collection maintenance windows, one reconcile per Registry key: observe (the Registry, its
// Deployment, the read-only switch, the rollout, the window's collector Job, the newest retention run
// that deleted something, of a policy the Registry admits), ask policy/maintenance-window.ts for the
// next step, record its phase in status.garbageCollection BEFORE acting (a crash resumes from the
// status), act, and ask again until the step is a wait. Waits come back as a requeue; the Deployment
// watch wakes the key sooner.

import type { Logger } from 'pino';
import type { GarbageCollectionStatus, NamespaceInfo, RegistryResource, RetentionPolicyResource, RetentionPolicyStatus } from '../../../crds/types.js';
import { getIfExists, MERGE_PATCH, objectPath, Resources, type KubeClient } from '../../../kube/request.js';
import { isRefusal } from '../../../policy/compile/status.js';
import {
  newestRetentionRun,
  nextWindowStep,
  windowSettings,
  type WindowInput,
  type WindowSettings,
  type WindowStep,
} from '../../../policy/maintenance-window.js';
import { namespaceOf, objectKey, refersToRegistry, splitKey } from '../../../policy/object-keys.js';
import { retentionScope } from '../../../policy/retention/tenancy.js';
import { Reasons } from '../../../policy/reasons.js';
import { Annotations } from '../../../wire/labels.js';
import type { ReconcileResult } from '../../reconciler.js';
import { rolloutInfo } from '../../signing/material.js';
import type { EventRecorder } from '../../writes/events.js';
import { stableJson } from '../../writes/status.js';
import { ContainerNotFoundError, getDeployment, portcullisComponentOf, registryContainerName, type Deployment } from '../deployment.js';
import { collectorJob, collectorJobName, createCollectorJob, deleteCollectorJob, observeCollectorJob } from './collector-job.js';
import { snapshotShowsWindow, type ConfigMapLookup } from './published-window.js';
import { applyReadOnly, hasReadOnlySwitch } from './read-only.js';

export interface MaintenanceControllerOptions {
  client: KubeClient;
  log: Logger;
  events?: EventRecorder;
  now?: () => Date;
  /** Requeue while waiting for a rollout or the collector. Default 2 s. */
  pollMs?: number;
  /** The RetentionPolicies (the operator's cache): a run that deleted something opens a window (afterRetention). */
  retentionPolicies?: () => RetentionPolicyResource[];
  /** The namespaces' labels, for delegation by selector. Absent: no namespace has labels. */
  namespaces?: () => ReadonlyMap<string, NamespaceInfo>;
  /**
   * The operator's ConfigMap cache: EnteringReadOnly waits (up to SNAPSHOT_WAIT_SECONDS) until the
   * published snapshot carries the window before switching the registry read-only. Absent: no wait.
   */
  configMaps?: ConfigMapLookup;
  /** Guard against a machine that never settles. Default 20. */
  maxStepsPerReconcile?: number;
}

interface Observed {
  registry: RegistryResource;
  deployment?: Deployment;
  containerName?: string;
}

export class MaintenanceController {
  private readonly now: () => Date;
  private readonly warned = new Map<string, string>();

  constructor(private readonly options: MaintenanceControllerOptions) {
    this.now = options.now ?? (() => new Date());
  }

  readonly reconcile = async (key: string): Promise<ReconcileResult> => {
    const { namespace, name } = splitKey(key);
    const { log } = this.options;
    let observed = await this.observe(namespace, name);
    if (observed === undefined) return {};
    const parsed = windowSettings(observed.registry.spec.garbageCollection);
    let status = statusOf(observed.registry);
    if ('error' in parsed) {
      // Reported once per distinct problem: a resync must not repeat the Event.
      if (this.warned.get(key) !== parsed.error) await this.event(observed.registry, 'Warning', Reasons.InvalidGarbageCollectionSettings, parsed.error);
      this.warned.set(key, parsed.error);
      // An open window still closes (with the defaults): a bad edit must not leave the registry read-only.
      if (status.phase === 'Idle') return {};
    } else this.warned.delete(key);
    const settings = 'error' in parsed ? { afterRetention: false, timeoutSeconds: 1800 } : parsed.settings;
    const maxSteps = this.options.maxStepsPerReconcile ?? 20;
    for (let i = 0; i < maxSteps; i++) {
      const input = await this.input(observed, status, settings);
      const step = nextWindowStep(input);
      log.debug({ registry: key, phase: step.status.phase, action: step.action.type }, step.message);
      if (stableJson(step.status) !== stableJson(status)) {
        await this.writeStatus(observed.registry, step.status);
        status = step.status;
      }
      if (step.event) await this.event(observed.registry, step.event.type, step.event.reason, step.event.note);
      const wait = await this.act(observed, step, settings);
      if (wait !== undefined) return wait;
      // Acting changed the Deployment or the Job: look at them again.
      observed = await this.observe(namespace, name);
      if (observed === undefined) return {};
    }
    throw new Error(`maintenance window of ${key} did not settle after ${maxSteps} steps`);
  };

  private async observe(namespace: string, name: string): Promise<Observed | undefined> {
    const registry = await getIfExists<RegistryResource>(this.options.client, objectPath(Resources.registries, namespace, name));
    if (registry === undefined) return undefined;
    const deploymentName = registry.spec.distribution?.deployment;
    const deployment = deploymentName === undefined ? undefined : await getDeployment(this.options.client, namespace, deploymentName);
    // Portcullis's own Deployments are never collected (deployment.ts: portcullisComponentOf).
    if (deployment === undefined || portcullisComponentOf(deployment) !== undefined) return { registry };
    try {
      return { registry, deployment, containerName: registryContainerName(deployment, registry.spec) };
    } catch (error) {
      if (error instanceof ContainerNotFoundError) return { registry };
      throw error;
    }
  }

  private async input(observed: Observed, status: GarbageCollectionStatus, settings: WindowSettings): Promise<WindowInput> {
    const { registry, deployment, containerName } = observed;
    const managed = deployment !== undefined && containerName !== undefined;
    const jobName = status.phase === 'Idle' || status.requestId === undefined ? undefined : collectorJobName(registry.metadata.name, status.requestId);
    const job = jobName === undefined ? undefined : await observeCollectorJob(this.options.client, registry.metadata.namespace ?? 'default', jobName);
    const request = registry.metadata.annotations?.[Annotations.gcRequestedAt];
    const retentionDeletedAt = settings.afterRetention && status.phase === 'Idle' ? this.retentionDeletedAt(registry) : undefined;
    const configMaps = this.options.configMaps;
    const snapshotShows =
      configMaps === undefined || status.phase !== 'EnteringReadOnly'
        ? undefined
        : snapshotShowsWindow(configMaps, registry.metadata.namespace ?? 'default', registry.metadata.name, status.windowStart);
    return {
      now: this.now(),
      settings,
      status,
      managed,
      readOnly: managed ? hasReadOnlySwitch(deployment, containerName) : false,
      rolloutComplete: rolloutInfo(deployment, managed).complete,
      createdAt: registry.metadata.creationTimestamp ?? new Date(0).toISOString(),
      ...(job === undefined ? {} : { job }),
      ...(request === undefined ? {} : { request }),
      ...(retentionDeletedAt === undefined ? {} : { retentionDeletedAt }),
      ...(snapshotShows === undefined ? {} : { snapshotShowsWindow: snapshotShows }),
    };
  }

  /** Returns a requeue for a wait, undefined to ask the machine again at once. */
  private async act(observed: Observed, step: WindowStep, settings: Pick<WindowSettings, 'timeoutSeconds'>): Promise<ReconcileResult | undefined> {
    const { client } = this.options;
    const { registry, deployment, containerName } = observed;
    const namespace = registry.metadata.namespace ?? 'default';
    const poll = this.options.pollMs ?? 2000;
    const action = step.action;
    switch (action.type) {
      case 'None':
        return action.requeueAfterSeconds === undefined ? {} : { requeueAfterMs: action.requeueAfterSeconds * 1000 };
      case 'WaitForRollout':
      case 'WaitForSnapshot':
      case 'WaitForJob': {
        const left = action.timeoutAt === undefined ? poll : action.timeoutAt.getTime() - this.now().getTime();
        return { requeueAfterMs: Math.max(100, Math.min(poll, left)) };
      }
      case 'SetReadOnly':
      case 'SetReadWrite':
        if (deployment === undefined || containerName === undefined) return undefined;
        await applyReadOnly(client, { namespace, deploymentName: deployment.metadata.name, containerName, readOnly: action.type === 'SetReadOnly' });
        return undefined;
      case 'CreateJob':
        if (deployment === undefined || containerName === undefined || step.status.requestId === undefined) return undefined;
        await createCollectorJob(
          client,
          collectorJob({
            registry,
            deployment,
            containerName,
            requestId: step.status.requestId,
            settings: registry.spec.garbageCollection,
            timeoutSeconds: settings.timeoutSeconds,
          }),
        );
        return undefined;
      case 'DeleteJob':
        if (step.status.requestId !== undefined) await deleteCollectorJob(client, namespace, collectorJobName(registry.metadata.name, step.status.requestId));
        return undefined;
    }
  }

  /**
   * completionTime of the newest run that deleted something, of a RetentionPolicy this Registry admits.
   * Only those: a policy any namespace can create naming the Registry, with a status its ServiceAccount
   * can write, must not make the Registry read-only for every tenant.
   */
  private retentionDeletedAt(registry: RegistryResource): string | undefined {
    const registries = new Map([[objectKey(registry), registry]]);
    const namespaces = this.options.namespaces?.() ?? new Map<string, NamespaceInfo>();
    const times = (this.options.retentionPolicies?.() ?? [])
      .filter((p) => refersToRegistry(p, { namespace: namespaceOf(registry), name: registry.metadata.name }))
      .filter((p) => !isRefusal(retentionScope(p, registries, namespaces)))
      .map((p) => (p.status as RetentionPolicyStatus | undefined)?.lastRun)
      .filter((run) => run !== undefined && !run.dryRun && run.deleted > 0 && run.completionTime !== undefined)
      .map((run) => run?.completionTime as string);
    // A forged completionTime in the future must not hide the real runs either.
    return newestRetentionRun(times, this.now());
  }

  private async writeStatus(registry: RegistryResource, status: GarbageCollectionStatus): Promise<void> {
    // A merge patch merges objects: the fields this status lacks are set to null, so nothing stale stays.
    const body = {
      status: {
        garbageCollection: {
          phase: status.phase,
          windowStart: status.windowStart ?? null,
          windowEnd: status.windowEnd ?? null,
          requestId: status.requestId ?? null,
          lastResult:
            status.lastResult === undefined
              ? null
              : {
                  succeeded: status.lastResult.succeeded,
                  message: status.lastResult.message,
                  bytesFreed: status.lastResult.bytesFreed ?? null,
                  blobsDeleted: status.lastResult.blobsDeleted ?? null,
                  manifestsDeleted: status.lastResult.manifestsDeleted ?? null,
                },
        },
      },
    };
    const path = objectPath(Resources.registries, registry.metadata.namespace, registry.metadata.name, 'status');
    await this.options.client.request('PATCH', path, { body, contentType: MERGE_PATCH });
  }

  private async event(registry: RegistryResource, type: 'Normal' | 'Warning', reason: string, note: string): Promise<void> {
    await this.options.events?.record(registry, type, reason, note);
  }
}

function statusOf(registry: RegistryResource): GarbageCollectionStatus {
  const recorded = (registry.status as { garbageCollection?: GarbageCollectionStatus } | undefined)?.garbageCollection;
  return recorded?.phase === undefined ? { phase: 'Idle' } : recorded;
}
