// Which RetentionPolicies an event affects: the policy itself when its spec changes (not when a run or
// this controller writes its status); every policy of a Registry that changed (delegation decides what
// it may cover); every policy in a namespace whose labels changed (delegation selects by them).

import { namespaceOf, objectKey, registryKeyOf } from '../../../policy/object-keys.js';
import type { RetentionCaches } from './controller.js';

export function wireRetentionTriggers(caches: RetentionCaches, enqueue: (key: string) => void): void {
  caches.retentionPolicies.on((e) => {
    if (e.type === 'added' || e.type === 'deleted') enqueue(e.key);
    else if (e.type === 'updated' && e.object.metadata.generation !== e.previous.metadata.generation) enqueue(e.key);
  });
  caches.registries.on((e) => {
    if (e.type !== 'added' && e.type !== 'updated' && e.type !== 'deleted') return;
    // A Registry's status changes often; only its spec (delegation) changes what its policies may cover.
    if (e.type === 'updated' && e.object.metadata.generation === e.previous.metadata.generation) return;
    for (const p of caches.retentionPolicies.list()) if (registryKeyOf(p) === e.key) enqueue(objectKey(p));
  });
  caches.namespaces.on((e) => {
    if (e.type !== 'added' && e.type !== 'updated' && e.type !== 'deleted') return;
    for (const p of caches.retentionPolicies.list()) if (namespaceOf(p) === e.object.metadata.name) enqueue(objectKey(p));
  });
}
