// Distribution's notification envelope -> the manifest events the activity trail keeps.
//
// What Distribution sends (notifications/event.go, bridge.go, http.go at v2.8.3 and v3.0.0, and as seen
// from Debian's 2.8.2 and v3.0.0 under test): a POST of `{"events":[...]}`, Content-Type
// `application/vnd.docker.distribution.events.v1+json` (2.8) or `...events.v2+json` (v3), one event per
// envelope in practice (the bridge writes each event on its own), retried until it gets a 2xx/3xx. Each
// event: `id` (a UUID), `timestamp` (RFC 3339, nanoseconds), `action` (push, pull, mount, delete),
// `target` {mediaType, digest, size, length, repository, url, tag, fromRepository, references},
// `request` {id, addr, host, method, useragent}, `actor` {name: the token's `sub`; `{}` when anonymous},
// `source` {addr, instanceID}. v3 writes `mediaType`, `digest` and `size` even when empty (`""`, `0`);
// 2.8 omits them. A manifest push or pull names the manifest's digest and media type and a
// `/v2/<repo>/manifests/<digest>` url (a HEAD counts as a pull); a blob's names `/blobs/` and, on a
// filesystem store, `application/octet-stream`. A delete carries only the repository and either a digest
// (a manifest, or a blob: Distribution does not say which) or a tag (one event per tag untagged, also when
// a manifest delete removes its tags).
//
// The whole envelope is validated before anything is returned: one bad event refuses the envelope, so
// nothing is half-stored. Unknown fields are ignored; blob events, mounts and unknown actions are valid
// but not kept.

import { isRepositoryName } from '../policy/scope.js';
import type { EventAction, RegistryEvent } from './event.js';

/** The Content-Types Distribution posts envelopes with: 2.8, then v3. */
export const EVENTS_MEDIA_TYPES = ['application/vnd.docker.distribution.events.v1+json', 'application/vnd.docker.distribution.events.v2+json'] as const;

/** Bounds on one envelope. Distribution sends one event per envelope; the slack is for other senders. */
export const ENVELOPE_LIMITS = {
  maxEvents: 256,
  /** Bytes of the request body (intake answers 413 beyond it). */
  maxBytes: 1024 * 1024,
};

/** Longest value kept per field: a stored string never exceeds these. */
const MAX = { id: 128, mediaType: 255, digest: 255, tag: 128, actor: 256, addr: 256, url: 4096, other: 4096 } as const;

export type EnvelopeParse =
  { ok: true; events: RegistryEvent[]; /** Valid events not kept: blob events, mounts, unknown actions. */ ignored: number } | { ok: false; reason: string };

const MANIFEST_MEDIA_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
]);

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
// distribution/reference and opencontainers/go-digest grammars.
const TAG = /^\w[\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$/;
// A stored string must print safely in a log line and store in PostgreSQL (which refuses NUL).
// eslint-disable-next-line no-control-regex -- control characters are exactly what it looks for
const CONTROL = /[\u0000-\u001f\u007f]/;

class Refusal extends Error {}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An optional object field: absent or null is `{}`; anything else but an object refuses. */
function objectField(parent: Json, key: string, path: string): Json {
  const v = parent[key];
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new Refusal(`${path}.${key}: must be an object`);
  return v;
}

/** An optional string field, bounded and printable; `""` counts as absent (v3 writes empty fields). */
function stringField(parent: Json, key: string, path: string, max: number): string | undefined {
  const v = parent[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new Refusal(`${path}.${key}: must be a string`);
  if (v.length > max) throw new Refusal(`${path}.${key}: longer than ${max} characters`);
  if (CONTROL.test(v)) throw new Refusal(`${path}.${key}: contains control characters`);
  return v;
}

function requiredString(parent: Json, key: string, path: string, max: number): string {
  const v = stringField(parent, key, path, max);
  if (v === undefined) throw new Refusal(`${path}.${key}: required`);
  return v;
}

function matching(value: string | undefined, pattern: RegExp, what: string, at: string): string | undefined {
  if (value !== undefined && !pattern.test(value)) throw new Refusal(`${at}: not ${what}`);
  return value;
}

function sizeField(parent: Json, key: string, path: string): number | undefined {
  const v = parent[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Refusal(`${path}.${key}: must be a non-negative integer`);
  return v;
}

function timestampField(event: Json, path: string): string {
  const raw = requiredString(event, 'timestamp', path, 64);
  const ms = TIMESTAMP.test(raw) ? Date.parse(raw) : NaN;
  if (!Number.isFinite(ms)) throw new Refusal(`${path}.timestamp: not an RFC 3339 time`);
  return new Date(ms).toISOString();
}

/** Whether a push or pull is of a manifest: by its url (`/manifests/` or `/blobs/`), else by media type. */
function isManifestTransfer(url: string | undefined, mediaType: string | undefined): boolean {
  if (url !== undefined) {
    let pathname: string;
    try {
      pathname = new URL(url).pathname;
    } catch {
      pathname = url;
    }
    if (/\/manifests\/[^/]+$/.test(pathname)) return true;
    if (/\/blobs\/[^/]+$/.test(pathname)) return false;
  }
  return mediaType !== undefined && MANIFEST_MEDIA_TYPES.has(mediaType);
}

/** One event, validated whole; undefined when it is valid but not a manifest event. */
function parseEvent(raw: unknown, registry: string, path: string): RegistryEvent | undefined {
  if (!isObject(raw)) throw new Refusal(`${path}: must be an object`);
  const id = requiredString(raw, 'id', path, MAX.id);
  const timestamp = timestampField(raw, path);
  const action = requiredString(raw, 'action', path, 32);
  const target = objectField(raw, 'target', path);
  const at = `${path}.target`;
  const repository = requiredString(target, 'repository', at, MAX.other);
  if (!isRepositoryName(repository)) throw new Refusal(`${at}.repository: not a repository name`);
  const tag = matching(stringField(target, 'tag', at, MAX.tag), TAG, 'a tag', `${at}.tag`);
  const digest = matching(stringField(target, 'digest', at, MAX.digest), DIGEST, 'a digest', `${at}.digest`);
  const mediaType = matching(stringField(target, 'mediaType', at, MAX.mediaType), MEDIA_TYPE, 'a media type', `${at}.mediaType`);
  const url = stringField(target, 'url', at, MAX.url);
  const size = sizeField(target, 'size', at);
  const length = sizeField(target, 'length', at); // the same number, kept by Distribution for old readers
  const request = objectField(raw, 'request', path);
  const requestId = stringField(request, 'id', `${path}.request`, MAX.id);
  const sourceAddr = stringField(request, 'addr', `${path}.request`, MAX.addr);
  for (const key of ['host', 'method', 'useragent']) stringField(request, key, `${path}.request`, MAX.other);
  const actor = stringField(objectField(raw, 'actor', path), 'name', `${path}.actor`, MAX.actor);
  const source = objectField(raw, 'source', path);
  for (const key of ['addr', 'instanceID']) stringField(source, key, `${path}.source`, MAX.other);

  let kept: EventAction;
  if (action === 'push' || action === 'pull') {
    if (!isManifestTransfer(url, mediaType)) return undefined;
    if (digest === undefined) throw new Refusal(`${at}.digest: required for a manifest ${action}`);
    kept = action;
  } else if (action === 'delete') {
    kept = action;
  } else {
    return undefined; // mount (a blob), or an action this version does not know
  }

  const event: RegistryEvent = { id, registry, action: kept, repository, timestamp };
  if (tag !== undefined) event.tag = tag;
  if (digest !== undefined) event.digest = digest;
  // A delete names no content: v3's `"mediaType": "", "size": 0` there mean "none", not "empty".
  if (kept !== 'delete') {
    if (mediaType !== undefined) event.mediaType = mediaType;
    if ((size ?? length) !== undefined) event.size = size ?? length;
  }
  if (actor !== undefined) event.actor = actor;
  if (sourceAddr !== undefined) event.sourceAddr = sourceAddr;
  if (requestId !== undefined) event.requestId = requestId;
  return event;
}

/**
 * Parses one envelope's body for `registry` ("namespace/name", already authenticated). Either every
 * event in it is valid and the manifest events come back, or the reason the first bad one is refused.
 * The reason names a field, never echoes a value, so it is safe to log and to answer with.
 */
export function parseEnvelope(body: string, registry: string, limits = ENVELOPE_LIMITS): EnvelopeParse {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  if (!isObject(json)) return { ok: false, reason: 'envelope must be a JSON object with an "events" array' };
  const raw = json.events ?? [];
  if (!Array.isArray(raw)) return { ok: false, reason: 'events: must be an array' };
  if (raw.length > limits.maxEvents) return { ok: false, reason: `events: more than ${limits.maxEvents} in one envelope` };
  const events: RegistryEvent[] = [];
  const seen = new Set<string>();
  let ignored = 0;
  try {
    raw.forEach((item: unknown, i) => {
      const event = parseEvent(item, registry, `events[${i}]`);
      if (event === undefined) ignored += 1;
      else if (seen.has(event.id)) throw new Refusal(`events[${i}].id: repeats an earlier event's id`);
      else {
        seen.add(event.id);
        events.push(event);
      }
    });
  } catch (err) {
    if (err instanceof Refusal) return { ok: false, reason: err.message };
    throw err;
  }
  return { ok: true, events, ignored };
}
