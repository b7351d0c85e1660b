// When the maintenance controller looks at a Registry again: when it appears, when its spec or its
// annotations change (the gc-requested-at request), and, while a window is open, when its Deployment
// changes (a rollout progressing); and when a RetentionPolicy's last run for it deleted something
// (afterRetention). Idle registries ignore their Deployment's status churn.

import type { GarbageCollectionStatus, RetentionPolicyStatus } from '../../../crds/types.js';
import { namespaceOf, objectKey } from '../../../policy/object-keys.js';
import type { OperatorCaches } from '../../caches.js';
import { stableJson } from '../../writes/status.js';

export function wireMaintenanceTriggers(
  caches: Pick<OperatorCaches, 'registries' | 'deployments' | 'retentionPolicies'>,
  enqueue: (key: string) => void,
): void {
  caches.registries.on((e) => {
    if (e.type !== 'added' && e.type !== 'updated') return;
    if (
      e.type === 'updated' &&
      e.previous.metadata.generation === e.object.metadata.generation &&
      stableJson(e.previous.metadata.annotations) === stableJson(e.object.metadata.annotations)
    )
      return;
    enqueue(e.key);
  });
  caches.deployments.on((e) => {
    if (e.type !== 'added' && e.type !== 'updated' && e.type !== 'deleted') return;
    for (const r of caches.registries.list()) {
      const phase = (r.status as { garbageCollection?: GarbageCollectionStatus } | undefined)?.garbageCollection?.phase;
      if (phase === undefined || phase === 'Idle') continue;
      if (namespaceOf(r) === namespaceOf(e.object) && r.spec.distribution?.deployment === e.object.metadata.name) enqueue(objectKey(r));
    }
  });
  caches.retentionPolicies.on((e) => {
    if (e.type !== 'added' && e.type !== 'updated') return;
    const run = (e.object.status as RetentionPolicyStatus | undefined)?.lastRun;
    if (run === undefined || run.dryRun || run.deleted === 0) return;
    const ref = e.object.spec?.registryRef;
    if (ref !== undefined) enqueue(`${ref.namespace ?? namespaceOf(e.object)}/${ref.name}`);
  });
}
