// Registry events for the activity bench, shaped like real traffic: 50 users, 2,000 repositories in 50
// teams (`team-N/app-M`), mostly pulls, a manifest digest and media type on every push and pull. Both as
// the store's RegistryEvent and as the Distribution envelope intake parses. Deterministic given a seed.
import { createHash, randomUUID } from 'node:crypto';
import type { EventAction, RegistryEvent } from '../activity/event.js';

export const USERS = 50;
export const TEAMS = 50;
export const APPS_PER_TEAM = 40;
export const REPOSITORIES = TEAMS * APPS_PER_TEAM;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export const userName = (n: number): string => `user-${n % USERS}`;
export const teamPrefix = (n: number): string => `team-${n % TEAMS}`;
export const repositoryName = (n: number): string => `${teamPrefix(n)}/app-${Math.floor(n / TEAMS) % APPS_PER_TEAM}`;

const DIGESTS = Array.from({ length: 256 }, (_, i) => `sha256:${createHash('sha256').update(`manifest-${i}`).digest('hex')}`);

interface Shape {
  action: EventAction;
  repository: string;
  actor: string;
  digest: string;
  tag: string;
}

function shape(next: () => number): Shape {
  const r = next();
  const action: EventAction = r < 0.8 ? 'pull' : r < 0.98 ? 'push' : 'delete';
  return {
    action,
    repository: repositoryName(Math.floor(next() * REPOSITORIES)),
    actor: userName(Math.floor(next() * USERS)),
    digest: DIGESTS[Math.floor(next() * DIGESTS.length)] as string,
    tag: `1.${Math.floor(next() * 20)}.0`,
  };
}

/** `count` stored-shape events for `registry`, timestamps evenly from `from` to `to` (ms), ids `${idPrefix}-${firstId + i}`. */
export function storeEvents(next: () => number, registry: string, idPrefix: string, firstId: number, count: number, from: number, to: number): RegistryEvent[] {
  const step = (to - from) / Math.max(1, count);
  return Array.from({ length: count }, (_, i) => {
    const s = shape(next);
    const event: RegistryEvent = {
      id: `${idPrefix}-${firstId + i}`,
      registry,
      action: s.action,
      repository: s.repository,
      actor: s.actor,
      digest: s.digest,
      sourceAddr: '10.0.3.17:50412',
      requestId: `req-${firstId + i}`,
      timestamp: new Date(Math.floor(from + i * step)).toISOString(),
    };
    if (s.action !== 'delete') Object.assign(event, { tag: s.tag, mediaType: MANIFEST, size: 1024 + (i % 4096) });
    return event;
  });
}

/** One Distribution v3 notification envelope carrying one manifest pull or push, as the registry posts it, and its event's id. */
export function distributionEnvelope(next: () => number): { id: string; body: string } {
  const s = shape(next);
  const action = s.action === 'delete' ? 'push' : s.action;
  const id = randomUUID();
  const body = JSON.stringify({
    events: [
      {
        id,
        timestamp: new Date().toISOString().replace('Z', '123456Z'),
        action,
        target: {
          mediaType: MANIFEST,
          digest: s.digest,
          size: 1234,
          length: 1234,
          repository: s.repository,
          url: `http://registry.bench:5000/v2/${s.repository}/manifests/${s.digest}`,
          tag: s.tag,
        },
        request: {
          id: randomUUID(),
          addr: '10.0.3.17:50412',
          host: 'registry.bench:5000',
          method: action === 'pull' ? 'GET' : 'PUT',
          useragent: 'containerd/1.7.24',
        },
        actor: { name: s.actor },
        source: { addr: 'registry-0:5000', instanceID: '5f1a3c1e-2a70-4d0c-9d4a-8b8f1c9d2e11' },
      },
    ],
  });
  return { id, body };
}
