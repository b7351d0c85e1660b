// The shared secret a Registry's Distribution sends with every notification (an `Authorization: Bearer`
// header in its `notifications.endpoints` entry). It is derived, not stored: HMAC-SHA256 of the Registry's
// "namespace/name" under the activity key (one Secret, mounted into the activity server and read by the
// operator). The activity server recomputes it for the Registry named in the request path, so it needs
// no per-registry Secret and no RBAC on Secrets; a leaked token speaks for one Registry only.

import { createHmac } from 'node:crypto';

export function notificationToken(activityKey: Buffer, registry: { namespace: string; name: string }): string {
  return createHmac('sha256', activityKey).update(`portcullis-notifications\n${registry.namespace}/${registry.name}`).digest('base64url');
}
