// One handler per rotation action (policy/rotation.ts decides which; these only carry it out), each
// saying whether the reconcile goes on to the next step or comes back later. As cert-manager's issuing
// controllers: the decision is pure and recorded before the act; the act is small and idempotent.

import type { RegistrySpec } from '../../../crds/types.js';
import type { KubeClient } from '../../../kube/request.js';
import { ConditionTypes, Reasons } from '../../../policy/reasons.js';
import type { RotationAction, RotationRequest, RotationSettings, RotationStatus, RotationStep } from '../../../policy/rotation.js';
import type { SigningAlgorithm } from '../../../policy/types.js';
import { Annotations } from '../../../wire/labels.js';
import { MERGE_PATCH, objectPath, Resources } from '../../../kube/request.js';
import { applyAction, bundleHash } from '../../signing/material.js';
import type { EventType } from '../../writes/events.js';
import { wireDeployment } from '../deployment.js';
import type { NotificationsRef } from '../notifications.js';
import { writeMaterial, type Observed } from './material-store.js';
import type { WiringProblem } from './signing-status.js';

/** Go on to the next step now, or come back after a while (a wait, a rollout, a problem to be fixed). */
export type StepOutcome = { next: 'step' } | { next: 'requeue'; afterMs: number };

/** What a handler may read and change for the rest of the reconcile. */
export interface StepContext {
  client: KubeClient;
  event(type: EventType, reason: string, note: string): Promise<void>;
  observed: Observed;
  namespace: string;
  name: string;
  registryId: string;
  spec: RegistrySpec;
  settings: RotationSettings;
  algorithm: SigningAlgorithm;
  now: Date;
  /** The phase recorded on the Registry before this step. */
  recorded: RotationStatus;
  /** Set to undefined once the rotate annotation is cleared. */
  request: RotationRequest | undefined;
  wiring: WiringProblem | undefined;
  rolloutPollMs: number;
  /** The notifications Secret every wiring names (with an activity server). */
  notifications: NotificationsRef | undefined;
}

type Handler<A extends RotationAction> = (ctx: StepContext, action: A, step: RotationStep) => Promise<StepOutcome>;
type Handlers = { [T in RotationAction['type']]: Handler<Extract<RotationAction, { type: T }>> };

const step: StepOutcome = { next: 'step' };

/** CreateCA, PublishBundle, IssueKey, PruneKeys, DropCA: new material, written. */
const changeMaterial: Handler<Extract<RotationAction, { type: 'CreateCA' | 'PublishBundle' | 'IssueKey' | 'PruneKeys' | 'DropCA' }>> = async (ctx, action) => {
  const applied = await applyAction(ctx.observed.material, action, {
    now: ctx.now,
    registryId: ctx.registryId,
    commonName: `portcullis ${ctx.registryId} CA`,
    algorithm: ctx.algorithm,
    settings: ctx.settings,
  });
  ctx.observed.material = applied.material;
  await writeMaterial(ctx.client, ctx.observed, applied.changed);
  if (action.type === 'IssueKey' && ctx.recorded.phase === 'Stable') {
    await ctx.event('Normal', Reasons.KeyRotated, `signing key ${applied.created} issued by CA ${action.caId}, signing from ${action.notBefore.toISOString()}`);
  }
  return step;
};

export const HANDLERS: Handlers = {
  CreateCA: changeMaterial,
  PublishBundle: changeMaterial,
  IssueKey: changeMaterial,
  PruneKeys: changeMaterial,
  DropCA: changeMaterial,

  async Wait(ctx, action) {
    return { next: 'requeue', afterMs: Math.max(100, action.until.getTime() - ctx.now.getTime()) };
  },

  // A Deployment watch also wakes the Registry; the poll covers a rollout that reports no progress event.
  async WaitForRollout(ctx) {
    return { next: 'requeue', afterMs: ctx.rolloutPollMs };
  },

  async None(ctx, action, current) {
    if (current.warning && ctx.spec.distribution?.deployment !== undefined) {
      // Reported once per pause, not on every requeue while it lasts.
      const shown = ctx.observed.registry.status?.conditions?.find((c) => c.type === ConditionTypes.DistributionWired)?.reason;
      if (shown !== Reasons.DeploymentPaused) await ctx.event('Warning', Reasons.DeploymentPaused, current.message);
      ctx.wiring = { reason: Reasons.DeploymentPaused, message: current.message };
    }
    return action.requeueAfterSeconds === 0 ? step : { next: 'requeue', afterMs: action.requeueAfterSeconds * 1000 };
  },

  async AcknowledgeRequest(ctx) {
    await ctx.client.request('PATCH', objectPath(Resources.registries, ctx.namespace, ctx.name), {
      body: { metadata: { annotations: { [Annotations.rotate]: null } } },
      contentType: MERGE_PATCH,
    });
    ctx.request = undefined;
    return step;
  },

  async RollDeployment(ctx, _action, current) {
    const deployment = ctx.observed.deployment;
    if (deployment === undefined) return { next: 'requeue', afterMs: 60_000 };
    const wired = await wireDeployment(ctx.client, {
      namespace: ctx.namespace,
      registryName: ctx.name,
      spec: ctx.spec,
      deployment,
      bundleHash: bundleHash(ctx.observed.material.bundlePem),
      notifications: ctx.notifications,
    });
    if ('problem' in wired) {
      ctx.wiring = wired.problem;
      return { next: 'requeue', afterMs: 60_000 };
    }
    ctx.observed.deployment = wired.deployment;
    await ctx.event('Normal', Reasons.DeploymentUpdated, `rolled Deployment ${deployment.metadata.name}: ${current.message}`);
    return step;
  },
};

/** Runs the handler for `step.action`. */
export function handle(ctx: StepContext, current: RotationStep): Promise<StepOutcome> {
  const handler = HANDLERS[current.action.type] as Handler<RotationAction>;
  return handler(ctx, current.action, current);
}
