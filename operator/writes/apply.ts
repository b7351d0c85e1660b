// Server-side apply of the objects the operator owns. Apply is declarative and idempotent: applying the
// same content again changes nothing (no new resourceVersion), which is what keeps resyncs and restarts
// from churning. Every owned object carries the same labels, so the token server and RBAC-scoped
// readers can select exactly them.

import { isNotFound, objectPath, type KubeClient, type ResourceType } from '../../kube/request.js';

export const FIELD_MANAGER = 'portcullis-operator';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: true;
}

/**
 * The Registry as controller owner, so deleting it garbage-collects what it produced. No
 * blockOwnerDeletion: that would need `update registries/finalizers` where OwnerReferencesPermissionEnforcement runs.
 */
export function controllerReference(owner: { apiVersion: string; kind: string; metadata: { name: string; uid?: string } }): OwnerReference {
  if (!owner.metadata.uid) throw new Error(`${owner.kind} ${owner.metadata.name} has no uid`);
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true };
}

export interface AppliedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string>; ownerReferences?: OwnerReference[]; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export function applyObject<T>(client: KubeClient, resource: ResourceType, object: AppliedObject): Promise<T> {
  return client.apply<T>(objectPath(resource, object.metadata.namespace, object.metadata.name), object, FIELD_MANAGER);
}

/** Deletes; an object already gone is fine. */
export async function deleteObject(client: KubeClient, resource: ResourceType, namespace: string, name: string): Promise<void> {
  try {
    await client.request('DELETE', objectPath(resource, namespace, name));
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}
