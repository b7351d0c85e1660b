// Envelopes as Debian's docker-registry 2.8.2 and Distribution v3.0.0 posted them (captured from crane
// pushes, pulls and deletes against both; anonymous, so `actor` is `{}`), then the ways one goes wrong.
import { describe, expect, it } from 'vitest';
import { ENVELOPE_LIMITS, parseEnvelope } from './envelope.js';

const REGISTRY = 'registry/main';
const DIGEST = 'sha256:e5a0df5a4b97f6146fc68f6cbfecf12f8b5309da91d4e0117624da6c0b10b284';
const BLOB = 'sha256:ee379a43c381bf518e2df96275842b1ca3077809cb959a92af1c76f591313d7c';

/** 2.8 omits empty fields and writes size before digest; `tag` comes last. */
const push28 = {
  id: '0ea6b408-5f47-4808-b9b3-9b7d084c69ba',
  timestamp: '2026-11-27T14:12:51.180740321Z',
  action: 'push',
  target: {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 402,
    digest: DIGEST,
    length: 402,
    repository: 'team/app',
    url: `http://127.0.0.1:15828/v2/team/app/manifests/${DIGEST}`,
    tag: '1',
  },
  request: {
    id: '060d10fd-d223-4e8a-a815-b7dd6d91b95f',
    addr: '127.0.0.1:57220',
    host: '127.0.0.1:15828',
    method: 'PUT',
    useragent: 'crane/v0.22.1 go-containerregistry/v0.22.1',
  },
  actor: {},
  source: { addr: 'vm:15828', instanceID: '6cc53938-c09b-442d-bad2-72b4fde3de6e' },
};

const blobPush28 = {
  ...push28,
  id: '3f7470e3-15d0-42eb-81f5-ec2cacf92c19',
  target: {
    mediaType: 'application/octet-stream',
    size: 1160,
    digest: BLOB,
    length: 1160,
    repository: 'team/app',
    url: `http://127.0.0.1:15828/v2/team/app/blobs/${BLOB}`,
  },
};

const tagDelete28 = {
  ...push28,
  id: '139ed141-6ab7-4d30-a78b-0f45fff9af15',
  action: 'delete',
  target: { repository: 'team/app', tag: '2' },
  request: { ...push28.request, method: 'DELETE' },
};

/** v3 writes mediaType, digest and size always (empty on a delete), with an actor when a token named one. */
const pullV3 = {
  id: '876243b1-501f-4c00-86f0-195161a6824e',
  timestamp: '2026-11-27T14:12:51.492838748Z',
  action: 'pull',
  target: {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: DIGEST,
    size: 402,
    length: 402,
    repository: 'team/app',
    url: `https://localhost:15803/v2/team/app/manifests/${DIGEST}`,
    tag: '1',
  },
  request: {
    id: '0eaad9dd-9765-4643-895d-87051210a592',
    addr: '127.0.0.1:43260',
    host: 'localhost:15803',
    method: 'GET',
    useragent: 'crane/v0.22.1 go-containerregistry/v0.22.1',
  },
  actor: { name: 'ci-bot' },
  source: { addr: 'vm:15803', instanceID: 'd6e0186b-d9c8-4aed-a32c-828225bfbfae' },
};

const manifestDeleteV3 = {
  ...pullV3,
  id: '5f5f7000-e0f6-4afe-a352-3a7ecca86f7b',
  action: 'delete',
  target: { mediaType: '', digest: DIGEST, size: 0, repository: 'team/app' },
  request: { ...pullV3.request, method: 'DELETE' },
};

const tagDeleteV3 = {
  ...manifestDeleteV3,
  id: '79a9328f-a08e-41f9-bd9c-b3a73677f673',
  target: { mediaType: '', digest: '', size: 0, repository: 'team/app', tag: '2' },
};

const mountV3 = {
  ...pullV3,
  id: '1d3e2f5a-0000-4000-8000-000000000001',
  action: 'mount',
  target: { ...blobPush28.target, url: `https://localhost:15803/v2/team/c/blobs/${BLOB}`, repository: 'team/c', fromRepository: 'team/b' },
};

/** Distribution's own layout: indented by three spaces. */
const envelope = (...events: unknown[]): string => JSON.stringify({ events }, null, 3);

describe('parseEnvelope: what 2.8 and v3 send', () => {
  it('2.8: a manifest push by tag becomes one push event with digest, media type, size and no actor (anonymous)', () => {
    expect(parseEnvelope(envelope(push28), REGISTRY)).toEqual({
      ok: true,
      ignored: 0,
      events: [
        {
          id: push28.id,
          registry: REGISTRY,
          action: 'push',
          repository: 'team/app',
          tag: '1',
          digest: DIGEST,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          size: 402,
          sourceAddr: '127.0.0.1:57220',
          requestId: '060d10fd-d223-4e8a-a815-b7dd6d91b95f',
          timestamp: '2026-11-27T14:12:51.180Z',
        },
      ],
    });
  });

  it('v3: a manifest pull carries the actor (the token sub)', () => {
    const parsed = parseEnvelope(envelope(pullV3), REGISTRY);
    expect(parsed).toMatchObject({ ok: true, events: [{ action: 'pull', actor: 'ci-bot', tag: '1', digest: DIGEST, repository: 'team/app' }] });
  });

  it('a pull by digest has no tag', () => {
    const byDigest = { ...pullV3, target: { ...pullV3.target, tag: undefined } };
    const parsed = parseEnvelope(envelope(byDigest), REGISTRY);
    expect(parsed.ok && parsed.events[0]).not.toHaveProperty('tag');
  });

  it('blob pushes and pulls (by url, /blobs/) and mounts are valid but dropped', () => {
    const blobPull = { ...blobPush28, id: 'b2', action: 'pull' };
    expect(parseEnvelope(envelope(blobPush28, blobPull, mountV3, push28), REGISTRY)).toMatchObject({ ok: true, ignored: 3, events: [{ id: push28.id }] });
  });

  it('without a url, the media type decides: a manifest type is kept, octet-stream is a blob', () => {
    const noUrl = { ...push28, target: { ...push28.target, url: undefined } };
    const blobNoUrl = { ...blobPush28, target: { ...blobPush28.target, url: undefined } };
    expect(parseEnvelope(envelope(noUrl, blobNoUrl), REGISTRY)).toMatchObject({ ok: true, ignored: 1, events: [{ id: push28.id }] });
  });

  it.each([
    ['2.8 tag delete (no digest, no media type)', tagDelete28, { action: 'delete', tag: '2' }],
    ['v3 tag delete (empty digest, media type and size mean none)', tagDeleteV3, { action: 'delete', tag: '2' }],
    ['v3 manifest delete', manifestDeleteV3, { action: 'delete', digest: DIGEST }],
  ])('%s', (_name, event, expected) => {
    const parsed = parseEnvelope(envelope(event), REGISTRY);
    expect(parsed).toMatchObject({ ok: true, events: [expected] });
    const kept = parsed.ok ? parsed.events[0] : undefined;
    expect(kept).not.toHaveProperty('mediaType');
    expect(kept).not.toHaveProperty('size');
  });

  it('an envelope without events (Distribution omits an empty list) is valid and empty', () => {
    expect(parseEnvelope('{}', REGISTRY)).toEqual({ ok: true, events: [], ignored: 0 });
  });

  it('an unknown action is dropped, unknown fields are ignored', () => {
    const future = { ...push28, id: 'f1', action: 'replicate', extra: { nested: true } };
    const withExtra = { ...push28, target: { ...push28.target, references: [{ digest: BLOB }], annotations: { a: 'b' } } };
    expect(parseEnvelope(envelope(future, withExtra), REGISTRY)).toMatchObject({ ok: true, ignored: 1, events: [{ id: push28.id }] });
  });

  it('a timestamp with an offset is stored in UTC', () => {
    const local = { ...push28, timestamp: '2026-11-27T15:12:51.5+01:00' };
    expect(parseEnvelope(envelope(local), REGISTRY)).toMatchObject({ ok: true, events: [{ timestamp: '2026-11-27T14:12:51.500Z' }] });
  });
});

describe('parseEnvelope: a bad envelope is refused whole, with the field named', () => {
  const bad = (patch: (e: typeof push28) => unknown): string => envelope(push28, patch(structuredClone(push28)));
  it.each([
    ['not JSON', 'events: [', 'body is not JSON'],
    ['an array', '[]', 'envelope must be a JSON object with an "events" array'],
    ['events not an array', '{"events": {}}', 'events: must be an array'],
    ['an event that is a string', envelope(push28, 'push'), 'events[1]: must be an object'],
    ['no id', bad((e) => ({ ...e, id: undefined })), 'events[1].id: required'],
    ['a numeric id', bad((e) => ({ ...e, id: 7 })), 'events[1].id: must be a string'],
    ['a long id', bad((e) => ({ ...e, id: 'x'.repeat(129) })), 'events[1].id: longer than 128 characters'],
    ['the same id twice', envelope(push28, push28), "events[1].id: repeats an earlier event's id"],
    ['no timestamp', bad((e) => ({ ...e, timestamp: undefined })), 'events[1].timestamp: required'],
    ['a date that is not RFC 3339', bad((e) => ({ ...e, timestamp: 'yesterday' })), 'events[1].timestamp: not an RFC 3339 time'],
    ['an impossible date', bad((e) => ({ ...e, timestamp: '2026-13-45T99:00:00Z' })), 'events[1].timestamp: not an RFC 3339 time'],
    ['no action', bad((e) => ({ ...e, action: '' })), 'events[1].action: required'],
    ['target not an object', bad((e) => ({ ...e, target: 'team/app' })), 'events[1].target: must be an object'],
    ['no repository', bad((e) => ({ ...e, target: { ...e.target, repository: undefined } })), 'events[1].target.repository: required'],
    ['an invalid repository', bad((e) => ({ ...e, target: { ...e.target, repository: 'Team/App' } })), 'events[1].target.repository: not a repository name'],
    ['an invalid tag', bad((e) => ({ ...e, target: { ...e.target, tag: '-x' } })), 'events[1].target.tag: not a tag'],
    ['an invalid digest', bad((e) => ({ ...e, target: { ...e.target, digest: 'sha256:../etc' } })), 'events[1].target.digest: not a digest'],
    ['a manifest push without digest', bad((e) => ({ ...e, target: { ...e.target, digest: '' } })), 'events[1].target.digest: required for a manifest push'],
    ['a negative size', bad((e) => ({ ...e, target: { ...e.target, size: -1 } })), 'events[1].target.size: must be a non-negative integer'],
    ['a fractional length', bad((e) => ({ ...e, target: { ...e.target, length: 1.5 } })), 'events[1].target.length: must be a non-negative integer'],
    ['a media type with spaces', bad((e) => ({ ...e, target: { ...e.target, mediaType: 'text/plain; x' } })), 'events[1].target.mediaType: not a media type'],
    ['a NUL in the actor', bad((e) => ({ ...e, actor: { name: 'ali\u0000ce' } })), 'events[1].actor.name: contains control characters'],
    [
      'a newline in the request address',
      bad((e) => ({ ...e, request: { ...e.request, addr: '1.2.3.4\nforged' } })),
      'events[1].request.addr: contains control characters',
    ],
    ['a request that is an array', bad((e) => ({ ...e, request: [] })), 'events[1].request: must be an object'],
    ['a user agent that is a number', bad((e) => ({ ...e, request: { ...e.request, useragent: 1 } })), 'events[1].request.useragent: must be a string'],
    ['a bad field even in a blob event', envelope(push28, { ...blobPush28, timestamp: 'x' }), 'events[1].timestamp: not an RFC 3339 time'],
  ])('%s', (_name, body, reason) => {
    expect(parseEnvelope(body, REGISTRY)).toEqual({ ok: false, reason });
  });

  it(`more than ${ENVELOPE_LIMITS.maxEvents} events`, () => {
    const many = Array.from({ length: ENVELOPE_LIMITS.maxEvents + 1 }, (_, i) => ({ ...push28, id: `e${i}` }));
    expect(parseEnvelope(envelope(...many), REGISTRY)).toEqual({ ok: false, reason: `events: more than ${ENVELOPE_LIMITS.maxEvents} in one envelope` });
    expect(parseEnvelope(envelope(...many.slice(1)), REGISTRY)).toMatchObject({ ok: true });
  });

  it('a refusal never echoes the value it refused', () => {
    const secretish = 'S3CRET-LOOKING-VALUE';
    const parsed = parseEnvelope(envelope({ ...push28, target: { ...push28.target, repository: secretish } }), REGISTRY);
    expect(parsed.ok).toBe(false);
    expect(JSON.stringify(parsed)).not.toContain(secretish);
  });
});
