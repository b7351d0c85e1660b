// Keeps each Registry's signing material rotated: reads the Registry, its three objects (CA Secret,
// signing Secret, bundle ConfigMap) and the Distribution Deployment, asks policy/rotation.ts for the
// next step, records the step's phase in status.signing.rotation BEFORE acting (write-ahead, so a
// crash mid-action resumes from the recorded phase), acts, and asks again until the answer is a wait.
// The one exception is the step that ends a rotation (DropCA -> Stable): its phase is written after
// the CA is gone, because "Stable with an unpublished second CA" reads as a staging that crashed.

import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Gauge, type Registry as MetricsRegistry } from 'prom-client';
import { API_VERSION, type Condition, type RegistryResource } from '../../crds/types.js';
import { activeKeyInfo, nextRotationStep, type RotationInput, type RotationSettings, type RotationStatus, type RotationStep } from '../../policy/rotation.js';
import { Reasons } from '../../policy/reasons.js';
import { KEY_FILES } from '../../wire/files.js';
import { Annotations, Labels, MANAGED_BY } from '../../wire/labels.js';
import { bundleConfigMapName, caSecretName, signingSecretName } from '../../wire/names.js';
import { parseSigningKeySet, type SigningKeySet } from '../../wire/signing-key-set.js';
import { Informer, objectKey, type KubeObject } from '../../kube/informer.js';
import { applyObject, controllerReference, type AppliedObject } from '../writes/apply.js';
import { EventRecorder, type EventType } from '../writes/events.js';
import { isNotFound, KubeClient, MERGE_PATCH, objectPath, Resources } from '../../kube/request.js';
import { stableJson } from '../writes/status.js';
import { runWorkers, type ReconcileResult } from '../reconciler.js';
import { WorkQueue } from '../workqueue.js';
import {
  applyAction,
  bundleHash,
  bundleIds,
  caInfos,
  emptyKeySet,
  ensureRefreshKey,
  keyInfos,
  parseCAs,
  rolloutInfo,
  rotationRequestOf,
  rotationSettings,
  rotationStatusOf,
  serializeCAs,
  type Changed,
  type Material,
} from '../keys/material.js';
import { applyDeploymentWiring, ContainerNotFoundError, deployments, getDeployment, registryContainerName, type Deployment } from './deployment.js';


/** Status writes of this controller use their own field manager, so they never remove fields (conditions) other controllers own. */
export const STATUS_FIELD_MANAGER = 'portcullis-operator-keys';

export const KeysConditions = { KeysReady: 'KeysReady', Rotating: 'Rotating', DistributionWired: 'DistributionWired' } as const;
/** Reasons this controller adds to those in policy/reasons.ts. */
export const KeysReasons = {
  Stable: 'Stable',
  CARotationStarted: 'CARotationStarted',
  CARotationComplete: 'CARotationComplete',
  EmergencyCARotation: 'EmergencyCARotation',
  DeploymentPaused: 'DeploymentPaused',
  ContainerNotFound: 'ContainerNotFound',
  NotManaged: 'NotManaged',
  InvalidSigningSettings: 'InvalidSigningSettings',
} as const;

export interface KeysControllerOptions {
  client: KubeClient;
  log: Logger;
  events?: EventRecorder;
  metrics?: MetricsRegistry;
  now?: () => Date;
  /** How long token servers may take to load a new key set. Default 10 s. */
  reloadDelaySeconds?: number;
  /** Replace derived rotation settings (tests shorten tokenTTL, which the CRD keeps >= 60 s). */
  settingsOverrides?: Partial<RotationSettings>;
  /** Requeue while waiting for a rollout (a Deployment watch also wakes the registry). Default 2 s. */
  rolloutPollMs?: number;
  /** Guard against a machine that never settles. Default 40. */
  maxStepsPerReconcile?: number;
}

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

interface Observed {
  registry: RegistryResource;
  material: Material;
  caSecret?: SecretObject;
  signingSecret?: SecretObject;
  deployment?: Deployment;
}

/** status.signing as written by this controller. */
interface SigningStatus {
  activeKeyId?: string;
  keyNotAfter?: string;
  caIds: string[];
  caNotAfter?: string;
  phase: RotationStatus['phase'];
  rotation: RotationStatus;
}

const decode = (v: string | undefined): string | undefined => (v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8'));
const encode = (v: string): string => Buffer.from(v, 'utf8').toString('base64');

function sameStatus(a: RotationStatus, b: RotationStatus): boolean {
  return stableJson(a) === stableJson(b);
}

function splitKey(key: string): { namespace: string; name: string } {
  const [namespace, name] = key.split('/');
  if (!namespace || !name) throw new Error(`bad work key ${key}`);
  return { namespace, name };
}

export class KeysController {
  private readonly now: () => Date;
  private readonly keyAge?: Gauge;
  private readonly certExpiry?: Gauge;
  private readonly caExpiry?: Gauge;

  constructor(private readonly options: KeysControllerOptions) {
    this.now = options.now ?? (() => new Date());
    if (options.metrics) {
      const metrics = options.metrics;
      // A controller is created each time this replica wins the Lease; the gauges outlive it.
      const gauge = (name: string, help: string): Gauge =>
        (metrics.getSingleMetric(name) as Gauge | undefined) ?? new Gauge({ name, help, labelNames: ['registry'], registers: [metrics] });
      this.keyAge = gauge('portcullis_signing_key_age_seconds', 'Seconds since the active signing key started signing.');
      this.certExpiry = gauge('portcullis_signing_certificate_expiry_timestamp_seconds', "Expiry (Unix time) of the active signing key's certificate.");
      this.caExpiry = gauge('portcullis_signing_ca_expiry_timestamp_seconds', 'Expiry (Unix time) of the CA that issues signing keys.');
    }
  }

  /** The reconcile function for runWorkers: key = `namespace/name` of a Registry. */
  readonly reconcile = async (key: string): Promise<ReconcileResult> => {
    const { namespace, name } = splitKey(key);
    const { client, log } = this.options;
    const observed = await this.observe(namespace, name);
    if (observed === undefined) return {};
    const { registry } = observed;
    const registryId = `${namespace}/${name}`;
    const spec = registry.spec;
    const { settings, algorithm, warnings } = rotationSettings(spec, {
      ...(this.options.reloadDelaySeconds === undefined ? {} : { reloadDelaySeconds: this.options.reloadDelaySeconds }),
      ...(this.options.settingsOverrides === undefined ? {} : { overrides: this.options.settingsOverrides }),
    });
    const signingStatus = (registry.status as { signing?: { rotation?: unknown } } | undefined)?.signing;
    let recorded = rotationStatusOf(signingStatus?.rotation);
    let request = rotationRequestOf(registry.metadata.annotations);
    const managed = spec.distribution?.deployment !== undefined;

    const refreshed = ensureRefreshKey(observed.material.signing, this.now());
    if (refreshed.changed) {
      observed.material = { ...observed.material, signing: refreshed.set };
      await this.writeMaterial(observed, ['signing']);
    }

    let wiringProblem: { reason: string; message: string } | undefined;
    if (managed && observed.deployment === undefined) {
      wiringProblem = { reason: Reasons.DeploymentNotFound, message: `Deployment ${spec.distribution?.deployment} not found in ${namespace}` };
    }

    let result: ReconcileResult = {};
    let lastStep: RotationStep | undefined;
    const maxSteps = this.options.maxStepsPerReconcile ?? 40;
    for (let i = 0; ; i++) {
      if (i >= maxSteps) throw new Error(`rotation did not settle after ${maxSteps} steps (last: ${lastStep?.message ?? 'none'})`);
      const now = this.now();
      const input = this.input(observed, registryId, settings, recorded, request, wiringProblem === undefined && managed, now);
      const step = nextRotationStep(input);
      lastStep = step;
      const endsRotation = step.action.type === 'DropCA' && step.status.phase === 'Stable';
      if (!sameStatus(step.status, recorded) && !endsRotation) {
        await this.writeStatus(observed, registryId, step.status, step, wiringProblem, warnings);
        if (recorded.phase === 'Stable' && step.status.phase !== 'Stable') {
          await this.event(registry, step.warning ? 'Warning' : 'Normal', step.status.phase === 'CAEmergency' ? KeysReasons.EmergencyCARotation : KeysReasons.CARotationStarted, step.message);
        }
        recorded = step.status;
      }
      const action = step.action;
      log.debug({ registry: registryId, phase: step.status.phase, action: action.type }, step.message);
      if (action.type === 'Wait') {
        result = { requeueAfterMs: Math.max(100, action.until.getTime() - now.getTime()) };
        break;
      }
      if (action.type === 'WaitForRollout') {
        result = { requeueAfterMs: this.options.rolloutPollMs ?? 2000 };
        break;
      }
      if (action.type === 'None') {
        if (step.warning && managed) {
          // Reported once per pause, not on every requeue while it lasts.
          const shown = registry.status?.conditions?.find((c) => c.type === KeysConditions.DistributionWired)?.reason;
          if (shown !== KeysReasons.DeploymentPaused) await this.event(registry, 'Warning', KeysReasons.DeploymentPaused, step.message);
          wiringProblem = { reason: KeysReasons.DeploymentPaused, message: step.message };
        }
        if (action.requeueAfterSeconds === 0) continue;
        result = { requeueAfterMs: action.requeueAfterSeconds * 1000 };
        break;
      }
      if (action.type === 'AcknowledgeRequest') {
        await client.request('PATCH', objectPath(Resources.registries, namespace, name), {
          body: { metadata: { annotations: { [Annotations.rotate]: null } } },
          contentType: MERGE_PATCH,
        });
        request = undefined;
        continue;
      }
      if (action.type === 'RollDeployment') {
        try {
          const deployment = observed.deployment as Deployment;
          observed.deployment = await applyDeploymentWiring(client, {
            namespace,
            deploymentName: deployment.metadata.name,
            containerName: registryContainerName(deployment, spec),
            registryName: name,
            spec,
            bundleHash: bundleHash(observed.material.bundlePem),
          });
          await this.event(registry, 'Normal', Reasons.DeploymentUpdated, `rolled Deployment ${deployment.metadata.name}: ${step.message}`);
        } catch (error) {
          if (!(error instanceof ContainerNotFoundError)) throw error;
          wiringProblem = { reason: KeysReasons.ContainerNotFound, message: error.message };
          result = { requeueAfterMs: 60_000 };
          break;
        }
        continue;
      }
      const applied = await applyAction(observed.material, action, { now, registryId, commonName: `portcullis ${registryId} CA`, algorithm, settings });
      observed.material = applied.material;
      await this.writeMaterial(observed, applied.changed);
      if (action.type === 'IssueKey' && recorded.phase === 'Stable') {
        await this.event(registry, 'Normal', Reasons.KeyRotated, `signing key ${applied.created} issued by CA ${action.caId}, signing from ${action.notBefore.toISOString()}`);
      }
      if (endsRotation) {
        await this.writeStatus(observed, registryId, step.status, step, wiringProblem, warnings);
        recorded = step.status;
        await this.event(registry, step.warning ? 'Warning' : 'Normal', KeysReasons.CARotationComplete, step.message);
      }
    }

    // Keep the wiring (realm, service, issuer) current even when no roll is due; the apply is a no-op when nothing changed.
    if (managed && observed.deployment !== undefined && wiringProblem === undefined) {
      const template = observed.deployment.spec?.template?.metadata?.annotations?.['portcullis.dev/bundle-hash'];
      if (template !== undefined && !observed.deployment.spec?.paused) {
        try {
          await applyDeploymentWiring(client, {
            namespace,
            deploymentName: observed.deployment.metadata.name,
            containerName: registryContainerName(observed.deployment, spec),
            registryName: name,
            spec,
            bundleHash: template,
          });
        } catch (error) {
          if (!(error instanceof ContainerNotFoundError)) throw error;
          wiringProblem = { reason: KeysReasons.ContainerNotFound, message: error.message };
        }
      }
    }
    await this.writeStatus(observed, registryId, recorded, lastStep, wiringProblem, warnings);
    this.recordMetrics(observed, registryId);
    return result;
  };

  private input(observed: Observed, registryId: string, settings: RotationSettings, status: RotationStatus, request: RotationInput['request'], managed: boolean, now: Date): RotationInput {
    const { material } = observed;
    return {
      now,
      settings,
      status,
      cas: caInfos(material.cas),
      bundle: bundleIds(material.bundlePem),
      bundleHash: bundleHash(material.bundlePem),
      rollout: rolloutInfo(observed.deployment, managed),
      keys: keyInfos(material.signing, material.cas, registryId),
      ...(request === undefined ? {} : { request }),
    };
  }

  private async observe(namespace: string, name: string): Promise<Observed | undefined> {
    const { client } = this.options;
    const get = async <T>(path: string): Promise<T | undefined> => {
      try {
        return await client.get<T>(path);
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    };
    const registry = await get<RegistryResource>(objectPath(Resources.registries, namespace, name));
    if (registry === undefined) return undefined;
    const [caSecret, signingSecret, bundle] = await Promise.all([
      get<SecretObject>(objectPath(Resources.secrets, namespace, caSecretName(name))),
      get<SecretObject>(objectPath(Resources.secrets, namespace, signingSecretName(name))),
      get<{ data?: Record<string, string> }>(objectPath(Resources.configMaps, namespace, bundleConfigMapName(name))),
    ]);
    const deploymentName = registry.spec.distribution?.deployment;
    const deployment = deploymentName === undefined ? undefined : await getDeployment(client, namespace, deploymentName);
    const signingText = decode(signingSecret?.data?.[KEY_FILES.signing]);
    // A malformed set is an error (retried with backoff) rather than replaced: replacing it would throw away keys in use.
    const signing: SigningKeySet = signingText === undefined ? emptyKeySet() : parseSigningKeySet(signingText);
    const material: Material = { cas: parseCAs(decode(caSecret?.data?.[KEY_FILES.cas])), signing, bundlePem: bundle?.data?.[KEY_FILES.bundle] ?? '' };
    return {
      registry,
      material,
      ...(caSecret ? { caSecret } : {}),
      ...(signingSecret ? { signingSecret } : {}),
      ...(deployment ? { deployment } : {}),
    };
  }

  private owned(observed: Observed, name: string): AppliedObject['metadata'] {
    const { registry } = observed;
    return {
      name,
      namespace: registry.metadata.namespace as string,
      labels: { [Labels.registry]: registry.metadata.name, [Labels.managedBy]: MANAGED_BY },
      ownerReferences: [controllerReference(registry)],
    };
  }

  /** Writes the changed objects; the CA Secret first, so no published key or bundle names a CA the operator does not hold. */
  private async writeMaterial(observed: Observed, changed: Changed[]): Promise<void> {
    const { client } = this.options;
    const { registry, material } = observed;
    const name = registry.metadata.name;
    if (changed.includes('cas')) {
      await applyObject(client, Resources.secrets, { apiVersion: 'v1', kind: 'Secret', metadata: this.owned(observed, caSecretName(name)), type: 'Opaque', data: { [KEY_FILES.cas]: encode(serializeCAs(material.cas)) } });
    }
    if (changed.includes('signing')) {
      await applyObject(client, Resources.secrets, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: this.owned(observed, signingSecretName(name)),
        type: 'Opaque',
        data: { [KEY_FILES.signing]: encode(`${JSON.stringify(material.signing, null, 2)}\n`) },
      });
    }
    if (changed.includes('bundle')) {
      const metadata = this.owned(observed, bundleConfigMapName(name));
      metadata.annotations = { 'portcullis.dev/bundle-hash': bundleHash(material.bundlePem) };
      await applyObject(client, Resources.configMaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: { [KEY_FILES.bundle]: material.bundlePem } });
    }
  }

  private signingStatus(observed: Observed, registryId: string, rotation: RotationStatus): SigningStatus {
    const { material } = observed;
    const keys = keyInfos(material.signing, material.cas, registryId);
    const active = activeKeyInfo(keys, this.now());
    const published = bundleIds(material.bundlePem);
    const current = material.cas.filter((c) => published.includes(c.id)).sort((a, b) => Date.parse(b.notBefore) - Date.parse(a.notBefore))[0];
    return {
      ...(active ? { activeKeyId: active.kid, keyNotAfter: active.notAfter } : {}),
      caIds: material.cas.map((c) => c.id),
      ...(current ? { caNotAfter: current.notAfter } : {}),
      phase: rotation.phase,
      rotation,
    };
  }

  private conditions(signing: SigningStatus, step: RotationStep | undefined, wiring: { reason: string; message: string } | undefined, warnings: string[], managed: boolean): Condition[] {
    const conditions: Condition[] = [
      signing.activeKeyId
        ? { type: KeysConditions.KeysReady, status: 'True', reason: Reasons.KeysReady, message: [`signing with key ${signing.activeKeyId} until ${signing.keyNotAfter}`, ...warnings].join('; ') }
        : { type: KeysConditions.KeysReady, status: 'False', reason: warnings.length > 0 ? KeysReasons.InvalidSigningSettings : Reasons.KeyRotationPending, message: [step?.message ?? 'no signing key yet', ...warnings].join('; ') },
      signing.phase === 'Stable'
        ? { type: KeysConditions.Rotating, status: 'False', reason: KeysReasons.Stable, message: step?.message ?? 'signing keys are current' }
        : { type: KeysConditions.Rotating, status: 'True', reason: signing.phase, message: step?.message ?? `CA rotation in phase ${signing.phase}` },
    ];
    if (!managed) conditions.push({ type: KeysConditions.DistributionWired, status: 'False', reason: KeysReasons.NotManaged, message: 'spec.distribution.deployment is not set; configure the registry to trust bundle.pem yourself' });
    else if (wiring) conditions.push({ type: KeysConditions.DistributionWired, status: 'False', reason: wiring.reason, message: wiring.message });
    else conditions.push({ type: KeysConditions.DistributionWired, status: 'True', reason: Reasons.DeploymentUpdated, message: 'the registry Deployment trusts the published bundle' });
    return conditions;
  }

  /**
   * Server-side apply of everything this controller owns in the status: status.signing and its three
   * conditions. Skipped when the object already shows exactly that (ignoring transition times).
   */
  private async writeStatus(observed: Observed, registryId: string, rotation: RotationStatus, step: RotationStep | undefined, wiring: { reason: string; message: string } | undefined, warnings: string[]): Promise<void> {
    const { registry } = observed;
    const signing = this.signingStatus(observed, registryId, rotation);
    const desired = this.conditions(signing, step, wiring, warnings, registry.spec.distribution?.deployment !== undefined);
    const current = (registry.status ?? {}) as { signing?: unknown; conditions?: Condition[] };
    const before = new Map((current.conditions ?? []).map((c) => [c.type, c]));
    const nowText = this.now().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const conditions = desired.map((c) => {
      const prev = before.get(c.type);
      return { ...c, observedGeneration: registry.metadata.generation ?? 0, lastTransitionTime: prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : nowText };
    });
    const strip = (cs: Condition[]): unknown[] => cs.map(({ lastTransitionTime: _t, ...rest }) => rest);
    const mine = new Set(desired.map((c) => c.type));
    const unchanged =
      stableJson(current.signing) === stableJson(signing) && stableJson(strip((current.conditions ?? []).filter((c) => mine.has(c.type)))) === stableJson(strip(conditions));
    if (unchanged) return;
    const updated = await this.options.client.apply<RegistryResource>(
      objectPath(Resources.registries, registry.metadata.namespace, registry.metadata.name, 'status'),
      { apiVersion: API_VERSION, kind: 'Registry', metadata: { name: registry.metadata.name, namespace: registry.metadata.namespace }, status: { signing, conditions } },
      STATUS_FIELD_MANAGER,
    );
    observed.registry = { ...registry, status: updated.status ?? { signing, conditions } };
  }

  private recordMetrics(observed: Observed, registryId: string): void {
    const keys = keyInfos(observed.material.signing, observed.material.cas, registryId);
    const now = this.now();
    const active = activeKeyInfo(keys, now);
    if (active) {
      this.keyAge?.set({ registry: registryId }, Math.max(0, (now.getTime() - Date.parse(active.notBefore)) / 1000));
      this.certExpiry?.set({ registry: registryId }, Date.parse(active.notAfter) / 1000);
    }
    const newest = [...observed.material.cas].sort((a, b) => Date.parse(b.notBefore) - Date.parse(a.notBefore))[0];
    if (newest) this.caExpiry?.set({ registry: registryId }, Date.parse(newest.notAfter) / 1000);
  }

  private async event(registry: RegistryResource, type: EventType, reason: string, note: string): Promise<void> {
    await this.options.events?.record(registry, type, reason, note);
  }
}

// ------------------------------------------------------------------------------------------ wiring

export interface StartKeysControllerOptions extends Omit<KeysControllerOptions, 'client' | 'events'> {
  kc: KubeConfig;
  client?: KubeClient;
  events?: EventRecorder;
  /** Watch one namespace; default all. */
  namespace?: string;
  workers?: number;
}

export interface RunningKeysController {
  controller: KeysController;
  queue: WorkQueue;
  /** Resolves once the informers have listed. */
  synced: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Informers on Registries, the operator's Secrets/ConfigMaps and Deployments, a work queue and workers
 * running KeysController.reconcile. For operator/main.ts: `startKeysController({ kc, log, metrics })`
 * after winning the Lease, `await running.stop()` when losing it.
 */
export function startKeysController(options: StartKeysControllerOptions): RunningKeysController {
  // A client passed in belongs to the caller (the operator shares one): only one made here is closed here.
  const ownClient = options.client === undefined;
  const client = options.client ?? new KubeClient(options.kc);
  const events = options.events ?? new EventRecorder(client, `${hostname()}-keys`, options.log);
  const controller = new KeysController({ ...options, client, events });
  const queue = new WorkQueue();
  const ns = options.namespace === undefined ? {} : { namespace: options.namespace };
  const registries = new Informer<RegistryResource & KubeObject>({ kc: options.kc, client, resource: Resources.registries, ...ns });
  const secrets = new Informer<KubeObject>({ kc: options.kc, client, resource: Resources.secrets, labelSelector: Labels.registry, ...ns, transform: (o) => ({ ...o, data: undefined }) as KubeObject });
  const configMaps = new Informer<KubeObject>({ kc: options.kc, client, resource: Resources.configMaps, labelSelector: Labels.registry, ...ns });
  const deploymentInformer = new Informer<Deployment & KubeObject>({ kc: options.kc, client, resource: deployments, ...ns });

  registries.on((e) => {
    if (e.type === 'added' || e.type === 'updated') {
      // Our own status writes change only the status: skip them unless the spec or annotations changed.
      if (e.type === 'updated' && e.previous.metadata.generation === e.object.metadata.generation && stableJson(e.previous.metadata.annotations) === stableJson(e.object.metadata.annotations)) return;
      queue.add(e.key);
    }
  });
  const byLabel = (e: { type: string; object?: KubeObject }): void => {
    if (!('object' in e) || e.object === undefined) return;
    const registry = (e.object.metadata as { labels?: Record<string, string> }).labels?.[Labels.registry];
    if (registry && e.object.metadata.namespace) queue.add(`${e.object.metadata.namespace}/${registry}`);
  };
  secrets.on((e) => (e.type === 'deleted' ? byLabel(e) : undefined));
  configMaps.on((e) => (e.type === 'deleted' ? byLabel(e) : undefined));
  deploymentInformer.on((e) => {
    if (e.type !== 'added' && e.type !== 'updated' && e.type !== 'deleted') return;
    for (const registry of registries.list()) {
      if (registry.metadata.namespace === e.object.metadata.namespace && registry.spec.distribution?.deployment === e.object.metadata.name) queue.add(objectKey(registry));
    }
  });
  const informers = [registries, secrets, configMaps, deploymentInformer];
  for (const informer of informers) informer.start();
  const synced = Promise.all(informers.map((i) => i.waitForSync())).then(() => undefined);
  const workers = runWorkers(queue, options.workers ?? 2, controller.reconcile, options.log);
  return {
    controller,
    queue,
    synced,
    async stop() {
      queue.shutDown();
      await Promise.all(informers.map((i) => i.stop()));
      await workers;
      if (ownClient) client.close();
    },
  };
}
