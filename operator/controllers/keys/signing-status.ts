// What the keys controller shows on the Registry: status.signing (active key, CAs, rotation phase) and
// its three conditions (KeysReady, Rotating, DistributionWired), written by server-side apply under its
// own field manager so the Registry controller's Ready stays beside them.

import { API_VERSION, type Condition, type RegistryResource } from '../../../crds/types.js';
import { objectPath, Resources, type KubeClient } from '../../../kube/request.js';
import { ConditionTypes, Reasons } from '../../../policy/reasons.js';
import { activeKeyInfo, type RotationStatus, type RotationStep } from '../../../policy/rotation.js';
import { bundleIds, keyInfos } from '../../signing/material.js';
import { stableJson } from '../../writes/status.js';
import type { Observed } from './material-store.js';

/** Status writes of this controller use their own field manager, so they never remove fields (conditions) other controllers own. */
export const STATUS_FIELD_MANAGER = 'portcullis-operator-keys';

/** Why the registry Deployment does not (yet) trust the bundle. */
export interface WiringProblem {
  reason: string;
  message: string;
}

/** status.signing as written by this controller. */
export interface SigningStatus {
  activeKeyId?: string;
  keyNotAfter?: string;
  caIds: string[];
  caNotAfter?: string;
  phase: RotationStatus['phase'];
  rotation: RotationStatus;
}

export function signingStatus(observed: Observed, registryId: string, rotation: RotationStatus, now: Date): SigningStatus {
  const { material } = observed;
  const active = activeKeyInfo(keyInfos(material.signing, material.cas, registryId), now);
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

export function signingConditions(
  signing: SigningStatus,
  step: RotationStep | undefined,
  wiring: WiringProblem | undefined,
  warnings: readonly string[],
  managed: boolean,
): Condition[] {
  const conditions: Condition[] = [
    signing.activeKeyId
      ? {
          type: ConditionTypes.KeysReady,
          status: 'True',
          reason: Reasons.KeysReady,
          message: [`signing with key ${signing.activeKeyId} until ${signing.keyNotAfter}`, ...warnings].join('; '),
        }
      : {
          type: ConditionTypes.KeysReady,
          status: 'False',
          reason: warnings.length > 0 ? Reasons.InvalidSigningSettings : Reasons.KeyRotationPending,
          message: [step?.message ?? 'no signing key yet', ...warnings].join('; '),
        },
    signing.phase === 'Stable'
      ? { type: ConditionTypes.Rotating, status: 'False', reason: Reasons.Stable, message: step?.message ?? 'signing keys are current' }
      : { type: ConditionTypes.Rotating, status: 'True', reason: signing.phase, message: step?.message ?? `CA rotation in phase ${signing.phase}` },
  ];
  if (!managed)
    conditions.push({
      type: ConditionTypes.DistributionWired,
      status: 'False',
      reason: Reasons.NotManaged,
      message: 'spec.distribution.deployment is not set; configure the registry to trust bundle.pem yourself',
    });
  else if (wiring) conditions.push({ type: ConditionTypes.DistributionWired, status: 'False', reason: wiring.reason, message: wiring.message });
  else
    conditions.push({
      type: ConditionTypes.DistributionWired,
      status: 'True',
      reason: Reasons.DeploymentUpdated,
      message: 'the registry Deployment trusts the published bundle',
    });
  return conditions;
}

/**
 * Server-side apply of everything this controller owns in the status: status.signing and its three
 * conditions. Skipped when the object already shows exactly that (ignoring transition times).
 */
export async function writeSigningStatus(
  client: KubeClient,
  observed: Observed,
  fields: {
    registryId: string;
    rotation: RotationStatus;
    step: RotationStep | undefined;
    wiring: WiringProblem | undefined;
    warnings: readonly string[];
    now: Date;
  },
): Promise<void> {
  const { registry } = observed;
  const signing = signingStatus(observed, fields.registryId, fields.rotation, fields.now);
  const desired = signingConditions(signing, fields.step, fields.wiring, fields.warnings, registry.spec.distribution?.deployment !== undefined);
  const current = (registry.status ?? {}) as { signing?: unknown; conditions?: Condition[] };
  const before = new Map((current.conditions ?? []).map((c) => [c.type, c]));
  const nowText = fields.now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const conditions = desired.map((c) => {
    const prev = before.get(c.type);
    return {
      ...c,
      observedGeneration: registry.metadata.generation ?? 0,
      lastTransitionTime: prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : nowText,
    };
  });
  const strip = (cs: Condition[]): unknown[] => cs.map(({ lastTransitionTime: _t, ...rest }) => rest);
  const mine = new Set(desired.map((c) => c.type));
  const unchanged =
    stableJson(current.signing) === stableJson(signing) &&
    stableJson(strip((current.conditions ?? []).filter((c) => mine.has(c.type)))) === stableJson(strip(conditions));
  if (unchanged) return;
  const updated = await client.apply<RegistryResource>(
    objectPath(Resources.registries, registry.metadata.namespace, registry.metadata.name, 'status'),
    {
      apiVersion: API_VERSION,
      kind: 'Registry',
      metadata: { name: registry.metadata.name, namespace: registry.metadata.namespace },
      status: { signing, conditions },
    },
    STATUS_FIELD_MANAGER,
  );
  observed.registry = { ...registry, status: updated.status ?? { signing, conditions } };
}
