// Status subresource writes. A status is only written when it differs from what the object already
// shows (ignoring lastTransitionTime), and a condition keeps its lastTransitionTime while its status
// stays the same, so a resync or an operator restart writes nothing. Writes are server-side applies
// under the writer's own field manager: conditions are a list-map keyed by type, so the Registry
// controller's Ready and the keys controller's KeysReady/Rotating live side by side, and neither
// writer can erase (or revert from a stale cache) what the other owns.

import type { Condition } from '../../crds/types.js';
import { objectPath, type KubeClient, type ResourceType } from '../../kube/request.js';

export interface DesiredStatus {
  observedGeneration?: number;
  conditions: Condition[];
  /** Other status fields (counts, published generation), compared and written as they are. */
  extra?: Record<string, unknown>;
  /**
   * Condition types this writer manages. One of them present on the object but absent from `conditions`
   * is a change (the apply removes it, as this field manager owned it): a cleared Conflicted disappears.
   */
  owns?: readonly string[];
}

interface CurrentStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  [field: string]: unknown;
}

/** The full status to write, with transition times carried over, or undefined when nothing changed. */
export function statusUpdate(current: CurrentStatus | undefined, desired: DesiredStatus, now: Date): Record<string, unknown> | undefined {
  const previous = new Map((current?.conditions ?? []).map((c) => [c.type, c]));
  const conditions = desired.conditions.map((c): Condition => {
    const before = previous.get(c.type);
    const lastTransitionTime =
      before && before.status === c.status && before.lastTransitionTime ? before.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    return {
      ...c,
      ...(desired.observedGeneration !== undefined && c.observedGeneration === undefined ? { observedGeneration: desired.observedGeneration } : {}),
      lastTransitionTime,
    };
  });
  const next: Record<string, unknown> = { ...(desired.extra ?? {}), conditions };
  if (desired.observedGeneration !== undefined) next.observedGeneration = desired.observedGeneration;
  const comparable = (s: Record<string, unknown> | CurrentStatus | undefined): string => {
    if (!s) return '';
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- the union needs narrowing for `conditions`; tsc disagrees with the rule
    const { conditions: cs, ...rest } = s as CurrentStatus;
    const strip = (cs ?? []).map(({ lastTransitionTime: _ignored, ...c }) => c);
    return stableJson({ ...rest, conditions: strip });
  };
  // Fields the operator does not manage (written by other controllers) are kept by the merge patch, so
  // only the fields we set take part in the comparison.
  // Conditions of other types belong to other writers (field managers) and are left to them.
  const mine = new Set([...conditions.map((c) => c.type), ...(desired.owns ?? [])]);
  const currentSubset: Record<string, unknown> = {};
  for (const k of Object.keys(next)) if (current && k in current) currentSubset[k] = current[k];
  if (current?.conditions) currentSubset.conditions = current.conditions.filter((c) => mine.has(c.type));
  return comparable(currentSubset) === comparable(next) ? undefined : next;
}

/** Key-order-independent JSON for comparisons. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The field manager of status written through writeStatus (the keys controller has its own). */
export const STATUS_MANAGER = 'portcullis-operator';

export async function writeStatus(
  client: KubeClient,
  target: { resource: ResourceType; apiVersion: string; kind: string },
  namespace: string,
  name: string,
  status: Record<string, unknown>,
): Promise<{ metadata: { name: string; namespace?: string; resourceVersion?: string } }> {
  return client.apply(
    objectPath(target.resource, namespace, name, 'status'),
    { apiVersion: target.apiVersion, kind: target.kind, metadata: { name, namespace }, status },
    STATUS_MANAGER,
  );
}
