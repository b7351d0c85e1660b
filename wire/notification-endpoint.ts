// The notification endpoint a Registry's Distribution posts its events to: where (the activity server's
// intake path for that Registry) and how (Distribution's `notifications.endpoints` list, which the
// operator writes into the Registry's notifications Secret and the registry reads from
// REGISTRY_NOTIFICATIONS_ENDPOINTS). Distribution 2.8 and v3 both parse a list-valued environment
// variable as YAML into the field it names, and both accept every key used here (checked against
// their configuration/configuration.go and by pushing to both binaries).

import { stringify } from 'yaml';

/** The key of the notifications Secret that holds the endpoints YAML. */
export const ENDPOINTS_KEY = 'endpoints';

/** The environment variable Distribution reads `notifications.endpoints` from. */
export const ENDPOINTS_ENV = 'REGISTRY_NOTIFICATIONS_ENDPOINTS';

/**
 * Target media types dropped by the registry itself: Distribution gives every blob event (push, pull,
 * mount) the media type application/octet-stream and manifests their own, so a pull of a ten-layer image
 * sends one event instead of eleven. Deletes carry no media type and are kept.
 */
export const IGNORED_MEDIA_TYPES = ['application/octet-stream'] as const;

/** The intake path of one Registry: the activity server takes the Registry from it, and the token is bound to it. */
export function intakePath(registry: { namespace: string; name: string }): string {
  return `/events/${encodeURIComponent(registry.namespace)}/${encodeURIComponent(registry.name)}`;
}

export interface EndpointInput {
  /** The activity server's intake base URL, e.g. http://portcullis-activity.portcullis-system.svc:8080 */
  activityUrl: string;
  registry: { namespace: string; name: string };
  /** notificationToken(key, registry): goes only into the Secret, never into logs or the Deployment. */
  token: string;
}

/**
 * Distribution's `notifications.endpoints` as YAML, one endpoint. Timeout, threshold and backoff are
 * Distribution's retrying sink: after 5 failures in a row it backs off 1 s between tries and keeps
 * the events queued (in memory) until the activity server answers.
 */
export function notificationEndpoints(input: EndpointInput): string {
  const base = input.activityUrl.replace(/\/+$/, '');
  return stringify([
    {
      name: 'portcullis',
      url: `${base}${intakePath(input.registry)}`,
      headers: { Authorization: [`Bearer ${input.token}`] },
      timeout: '2s',
      threshold: 5,
      backoff: '1s',
      ignore: { mediatypes: [...IGNORED_MEDIA_TYPES] },
    },
  ]);
}

/**
 * A `--activity-url` value: http(s), a host, and nothing the endpoint URL would carry along wrongly
 * (credentials, a query, a fragment). Returns it without a trailing slash. The errors do not repeat
 * the value: one with credentials in it would put them in the log.
 */
export function parseActivityUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('--activity-url must be an absolute http(s) URL, such as http://portcullis-activity.portcullis-system.svc:8080');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('--activity-url must be an http or https URL');
  if (url.username !== '' || url.password !== '') throw new Error('--activity-url must not carry credentials: the token goes in a header');
  if (url.search !== '' || url.hash !== '') throw new Error('--activity-url must not have a query or fragment: the intake path is appended to it');
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}
