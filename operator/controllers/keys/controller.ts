// Keeps each Registry's signing material rotated: reads the Registry, its three objects (CA Secret,
// signing Secret, bundle ConfigMap) and the Distribution Deployment, asks policy/rotation.ts for the
// next step, records the step's phase in status.signing.rotation BEFORE acting (write-ahead, so a
// crash mid-action resumes from the recorded phase), hands the action to its handler (handlers.ts),
// and asks again until a handler says to come back later. The one exception is the step that ends a
// rotation (DropCA -> Stable): its phase is written after the CA is gone, because "Stable with an
// unpublished second CA" reads as a staging that crashed. With an activity server configured, the
// Registry's notifications Secret is written first, so every wiring of the Deployment can name it.

import type { Logger } from 'pino';
import { Gauge, type Registry as MetricsRegistry } from 'prom-client';
import type { RegistryResource } from '../../../crds/types.js';
import type { KubeClient } from '../../../kube/request.js';
import { splitKey } from '../../../policy/object-keys.js';
import { Reasons } from '../../../policy/reasons.js';
import {
  activeKeyInfo,
  nextRotationStep,
  type RotationInput,
  type RotationSettings,
  type RotationStatus,
  type RotationStep,
} from '../../../policy/rotation.js';
import { Annotations } from '../../../wire/labels.js';
import {
  bundleHash,
  bundleIds,
  caInfos,
  ensureRefreshKey,
  keyInfos,
  rolloutInfo,
  rotationRequestOf,
  rotationSettings,
  rotationStatusOf,
} from '../../signing/material.js';
import type { EventRecorder, EventType } from '../../writes/events.js';
import { stableJson } from '../../writes/status.js';
import type { ReconcileResult } from '../../reconciler.js';
import { wireDeployment, wiringRefusal } from '../deployment.js';
import { deleteNotificationsSecret, writeNotificationsSecret, type ActivityWiring, type NotificationsRef } from '../notifications.js';
import { handle, type StepContext } from './handlers.js';
import { observe, writeMaterial, type Observed } from './material-store.js';
import { writeSigningStatus } from './signing-status.js';

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
  /** Wire each managed registry's notifications to the activity server; undefined = no notifications wiring at all. */
  activity?: ActivityWiring;
}

/** How soon a Deployment that could not be wired (missing container, storage Secret or claim) is tried again. */
const WIRING_RETRY_MS = 60_000;

function sameStatus(a: RotationStatus, b: RotationStatus): boolean {
  return stableJson(a) === stableJson(b);
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

  /** The reconcile function for the work queue: key = `namespace/name` of a Registry. */
  readonly reconcile = async (key: string): Promise<ReconcileResult> => {
    const { namespace, name } = splitKey(key);
    const { client, log } = this.options;
    const observed = await observe(client, namespace, name);
    if (observed === undefined) return {};
    const registryId = `${namespace}/${name}`;
    const spec = observed.registry.spec;
    const { settings, algorithm, warnings } = rotationSettings(spec, {
      ...(this.options.reloadDelaySeconds === undefined ? {} : { reloadDelaySeconds: this.options.reloadDelaySeconds }),
      ...(this.options.settingsOverrides === undefined ? {} : { overrides: this.options.settingsOverrides }),
    });
    const managed = spec.distribution?.deployment !== undefined;
    const notifications = await this.notifications(observed, managed);

    const refreshed = ensureRefreshKey(observed.material.signing, this.now());
    if (refreshed.changed) {
      observed.material = { ...observed.material, signing: refreshed.set };
      await writeMaterial(client, observed, ['signing']);
    }

    const ctx: StepContext = {
      client,
      event: (type, reason, note) => this.event(ctx.observed.registry, type, reason, note),
      observed,
      namespace,
      name,
      registryId,
      spec,
      settings,
      algorithm,
      now: this.now(),
      recorded: rotationStatusOf((observed.registry.status as { signing?: { rotation?: unknown } } | undefined)?.signing?.rotation),
      request: rotationRequestOf(observed.registry.metadata.annotations),
      wiring: managed ? wiringRefusal(spec.distribution?.deployment ?? '', namespace, observed.deployment) : undefined,
      rolloutPollMs: this.options.rolloutPollMs ?? 2000,
      notifications,
    };
    const writeStatus = (rotation: RotationStatus, step: RotationStep | undefined) =>
      writeSigningStatus(client, observed, { registryId, rotation, step, wiring: ctx.wiring, warnings, now: this.now() });

    let result: ReconcileResult;
    let lastStep: RotationStep | undefined;
    const maxSteps = this.options.maxStepsPerReconcile ?? 40;
    for (let i = 0; ; i++) {
      if (i >= maxSteps) throw new Error(`rotation did not settle after ${maxSteps} steps (last: ${lastStep?.message ?? 'none'})`);
      ctx.now = this.now();
      const step = nextRotationStep(this.input(ctx, managed && ctx.wiring === undefined));
      lastStep = step;
      const endsRotation = step.action.type === 'DropCA' && step.status.phase === 'Stable';
      if (!sameStatus(step.status, ctx.recorded) && !endsRotation) {
        await writeStatus(step.status, step);
        if (ctx.recorded.phase === 'Stable' && step.status.phase !== 'Stable') {
          await ctx.event(
            step.warning ? 'Warning' : 'Normal',
            step.status.phase === 'CAEmergency' ? Reasons.EmergencyCARotation : Reasons.CARotationStarted,
            step.message,
          );
        }
        ctx.recorded = step.status;
      }
      log.debug({ registry: registryId, phase: step.status.phase, action: step.action.type }, step.message);
      const outcome = await handle(ctx, step);
      if (endsRotation) {
        await writeStatus(step.status, step);
        ctx.recorded = step.status;
        await ctx.event(step.warning ? 'Warning' : 'Normal', Reasons.CARotationComplete, step.message);
      }
      if (outcome.next === 'requeue') {
        result = { requeueAfterMs: outcome.afterMs };
        break;
      }
    }

    // Keep the wiring (realm, service, issuer) current even when no roll is due; the apply is a no-op when nothing changed.
    const deployment = observed.deployment;
    const template = deployment?.spec?.template?.metadata?.annotations?.[Annotations.bundleHash];
    if (managed && deployment !== undefined && ctx.wiring === undefined && template !== undefined && !deployment.spec?.paused) {
      const wired = await wireDeployment(client, { namespace, registryName: name, spec, deployment, bundleHash: template, notifications });
      if ('problem' in wired) {
        ctx.wiring = wired.problem;
        // A claim has no watch here (a Secret does): look again soon rather than at the next rotation step.
        result = { requeueAfterMs: Math.min(result.requeueAfterMs ?? WIRING_RETRY_MS, WIRING_RETRY_MS) };
      }
    }
    await writeStatus(ctx.recorded, lastStep);
    this.recordMetrics(observed, registryId);
    return result;
  };

  /** The notifications Secret of a managed registry, written before any wiring names it; removed once the Registry names no Deployment. */
  private async notifications(observed: Observed, managed: boolean): Promise<NotificationsRef | undefined> {
    const activity = this.options.activity;
    if (activity === undefined) return undefined;
    if (managed) return writeNotificationsSecret(this.options.client, observed.registry, activity);
    await deleteNotificationsSecret(this.options.client, observed.registry);
    return undefined;
  }

  private input(ctx: StepContext, managed: boolean): RotationInput {
    const { material } = ctx.observed;
    return {
      now: ctx.now,
      settings: ctx.settings,
      status: ctx.recorded,
      cas: caInfos(material.cas),
      bundle: bundleIds(material.bundlePem),
      bundleHash: bundleHash(material.bundlePem),
      rollout: rolloutInfo(ctx.observed.deployment, managed),
      keys: keyInfos(material.signing, material.cas, ctx.registryId),
      ...(ctx.request === undefined ? {} : { request: ctx.request }),
    };
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
