// With --activity-url and --activity-key-file: each Registry that names a Distribution Deployment gets a
// notifications Secret holding Distribution's endpoint list (the activity server's intake URL for that
// Registry and its derived token), and the Deployment wiring (deployment.ts) points the registry
// container's REGISTRY_NOTIFICATIONS_ENDPOINTS at it. The token lives only in that Secret: the
// Deployment carries a secretKeyRef and a hash of the content (so a new URL or key rolls it), and
// nothing here logs, reports or throws the content.

import { createHash } from 'node:crypto';
import type { RegistryResource } from '../../crds/types.js';
import { Resources, type KubeClient } from '../../kube/request.js';
import { Labels, MANAGED_BY } from '../../wire/labels.js';
import { notificationsSecretName } from '../../wire/names.js';
import { ENDPOINTS_KEY, notificationEndpoints } from '../../wire/notification-endpoint.js';
import { notificationToken } from '../../wire/notification-token.js';
import { applyObject, controllerReference, deleteObject, type AppliedObject } from '../writes/apply.js';

/** Where the registries send their events, and the key their tokens derive from. */
export interface ActivityWiring {
  /** The intake base URL, as parseActivityUrl returns it. */
  url: string;
  key: Buffer;
}

/** What the Deployment wiring needs to reference the Secret: its name and a hash of its content. */
export interface NotificationsRef {
  secretName: string;
  hash: string;
}

/** The Secret for one Registry, and the reference the Deployment gets. */
export function notificationsSecret(registry: RegistryResource, activity: ActivityWiring): { secret: AppliedObject; ref: NotificationsRef } {
  const namespace = registry.metadata.namespace as string;
  const name = registry.metadata.name;
  const endpoints = notificationEndpoints({
    activityUrl: activity.url,
    registry: { namespace, name },
    token: notificationToken(activity.key, { namespace, name }),
  });
  const secretName = notificationsSecretName(name);
  const secret: AppliedObject = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: secretName,
      namespace,
      labels: { [Labels.registry]: name, [Labels.managedBy]: MANAGED_BY },
      ownerReferences: [controllerReference(registry)],
    },
    type: 'Opaque',
    data: { [ENDPOINTS_KEY]: Buffer.from(endpoints, 'utf8').toString('base64') },
  };
  // A one-way digest of 256-bit-token content: safe on the pod template, and it changes with the URL or key.
  return { secret, ref: { secretName, hash: createHash('sha256').update(endpoints).digest('hex').slice(0, 32) } };
}

/** Applies the Registry's notifications Secret (a no-op when unchanged); returns the reference for the Deployment. */
export async function writeNotificationsSecret(client: KubeClient, registry: RegistryResource, activity: ActivityWiring): Promise<NotificationsRef> {
  const { secret, ref } = notificationsSecret(registry, activity);
  await applyObject(client, Resources.secrets, secret);
  return ref;
}

/** A Registry that no longer names a Deployment keeps no endpoint Secret (gone already is fine). */
export function deleteNotificationsSecret(client: KubeClient, registry: RegistryResource): Promise<void> {
  return deleteObject(client, Resources.secrets, registry.metadata.namespace as string, notificationsSecretName(registry.metadata.name));
}
