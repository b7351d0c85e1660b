// A webhook's HMAC key, read from its Secret by name when a loop needs it: the activity server watches
// no Secrets and keeps no copy beyond the loop that signs with it. What can go wrong is said without the
// Secret's content: a missing Secret or key, or the API error's status, never the data.

import { isNotFound, KubeApiError, objectPath, Resources, type KubeClient } from '../../kube/request.js';
import { Reasons } from '../../policy/reasons.js';

/** The one Secret name the activity server's default RBAC lets it read, in every namespace. */
export const DEFAULT_WEBHOOK_SECRET_NAME = 'portcullis-webhooks';

export interface SecretKeyRef {
  namespace: string;
  name: string;
  key: string;
}

export type KeyRead = { key: Buffer } | { reason: string; message: string; transient: boolean };

interface SecretObject {
  data?: Record<string, string>;
}

export async function readWebhookKey(client: KubeClient, ref: SecretKeyRef): Promise<KeyRead> {
  let secret: SecretObject;
  try {
    secret = await client.get<SecretObject>(objectPath(Resources.secrets, ref.namespace, ref.name));
  } catch (error) {
    if (isNotFound(error)) return { reason: Reasons.SecretNotFound, message: `Secret ${ref.name} not found in namespace ${ref.namespace}`, transient: false };
    const status = error instanceof KubeApiError ? `HTTP ${error.code} ${error.reason}` : 'the API server did not answer';
    // Forbidden is the RBAC saying no, by design for any name but the one it grants.
    const hint =
      error instanceof KubeApiError && error.code === 403
        ? `; the activity server may read only Secrets its RBAC names (by default ${DEFAULT_WEBHOOK_SECRET_NAME})`
        : '';
    return { reason: Reasons.SecretUnreadable, message: `Secret ${ref.name} could not be read: ${status}${hint}`, transient: true };
  }
  const value = secret.data?.[ref.key];
  const key = value === undefined ? undefined : Buffer.from(value, 'base64');
  if (key === undefined || key.length === 0) {
    return { reason: Reasons.SecretKeyNotFound, message: `Secret ${ref.name} has no key ${JSON.stringify(ref.key)} (or it is empty)`, transient: false };
  }
  return { key };
}
