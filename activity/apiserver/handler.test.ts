// The aggregated API without a socket: discovery, lists and gets against a real SQLite store (in
// memory), the tenant's view, the Table kubectl asks for, and each refusal by its Status.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NamespaceInfo } from '../../crds/types.js';
import type { EventStore, RegistryEvent } from '../event.js';
import { openEventStore } from '../store/open.js';
import { Authorizer, type SubjectAccessReview } from './authorizer.js';
import { EventReader } from './event-reader.js';
import { parseFrontProxyConfig } from './front-proxy.js';
import { createHandler, type ApiRequest } from './handler.js';
import { visibleRegistries, type RegistryDelegation } from './visibility.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const config = parseFrontProxyConfig({
  'requestheader-client-ca-file': CA,
  'requestheader-allowed-names': '["front-proxy-client"]',
  'requestheader-username-headers': '["X-Remote-User"]',
  'requestheader-group-headers': '["X-Remote-Group"]',
  'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
});
const main: RegistryDelegation = {
  namespace: 'registry',
  name: 'main',
  delegation: [{ namespaces: { from: 'Selector', selector: { matchLabels: { team: 'a' } } }, repositories: ['${namespace}/**'] }],
};
const labels = new Map<string, NamespaceInfo>([
  ['team-a', { name: 'team-a', labels: { team: 'a' } }],
  ['team-ab', { name: 'team-ab', labels: {} }],
]);
/** Who may list or get in which namespace (what RBAC would say). */
const rbac: Record<string, string[]> = { admin: ['registry', ''], tenant: ['team-a'] };

const ev = (id: string, repository: string, action: RegistryEvent['action'], actor: string | undefined, timestamp: string): RegistryEvent => ({
  id,
  registry: 'registry/main',
  action,
  repository,
  tag: '1.0',
  digest: `sha256:${id.padEnd(64, '0')}`,
  ...(actor === undefined ? {} : { actor }),
  timestamp,
});
const EVENTS = [
  ev('a1', 'team-a/app', 'push', 'alice', '2026-11-27T09:00:00.000Z'),
  ev('a2', 'team-a/app', 'pull', 'ci-bot', '2026-11-27T11:00:00.000Z'),
  ev('b1', 'team-ab/app', 'push', 'bob', '2026-11-27T10:00:00.000Z'),
  ev('l1', 'library/base', 'pull', undefined, '2026-11-27T11:30:00.000Z'),
  ev('old', 'team-a/app', 'delete', 'alice', '2026-11-20T00:00:00.000Z'),
];

let store: EventStore;
const reviews: SubjectAccessReview[] = [];
let handle: (request: ApiRequest) => Promise<{ status: number; body?: unknown; text?: string }>;
let synced = true;

const proxy = { verified: true, commonName: 'front-proxy-client' };
const as = (user: string, url: string, accept = 'application/json', peer = proxy) =>
  handle({ method: 'GET', url, headers: { 'x-remote-user': [user], 'x-remote-group': ['system:authenticated'], accept: [accept] }, peer });
const names = (body: unknown): string[] => (body as { items: { id: string }[] }).items.map((i) => i.id);
const base = '/apis/activity.portcullis.dev/v1alpha1';

beforeAll(async () => {
  store = await openEventStore('sqlite::memory:');
  await store.append(EVENTS);
  handle = createHandler({
    frontProxy: () => config,
    authorizer: new Authorizer({
      review: async (r) => {
        reviews.push(r);
        return { allowed: (rbac[r.spec.user] ?? []).includes(r.spec.resourceAttributes.namespace) };
      },
    }),
    reader: new EventReader(store),
    view: { visibleFrom: (ns) => visibleRegistries(ns, [main], labels), all: () => [{ registry: 'registry/main' }], synced: () => synced },
    now: () => new Date('2026-11-27T12:00:00Z'),
    logError: () => undefined,
  });
});

afterAll(async () => {
  await store?.close();
});

describe('aggregated API handler', () => {
  it('serves discovery to the front proxy: group list, group, resources', async () => {
    expect((await as('system:kube-aggregator', '/apis')).body).toMatchObject({ kind: 'APIGroupList', groups: [{ name: 'activity.portcullis.dev' }] });
    expect((await as('system:kube-aggregator', '/apis/activity.portcullis.dev')).body).toMatchObject({
      kind: 'APIGroup',
      preferredVersion: { version: 'v1alpha1' },
    });
    expect((await as('system:kube-aggregator', base)).body).toMatchObject({
      kind: 'APIResourceList',
      groupVersion: 'activity.portcullis.dev/v1alpha1',
      resources: [
        { name: 'registryevents', namespaced: true, kind: 'RegistryEvent', verbs: ['get', 'list'] },
        { name: 'registrytokens', namespaced: true, kind: 'RegistryToken', verbs: ['create'] },
      ],
    });
  });

  it("lists every event of the namespace's Registry, newest first, as RegistryEvent objects", async () => {
    const res = await as('admin', `${base}/namespaces/registry/registryevents`);
    expect(res.status).toBe(200);
    expect(names(res.body)).toEqual(['l1', 'a2', 'b1', 'a1', 'old']);
    expect((res.body as { items: unknown[] }).items[1]).toMatchObject({
      apiVersion: 'activity.portcullis.dev/v1alpha1',
      kind: 'RegistryEvent',
      metadata: { namespace: 'registry', creationTimestamp: '2026-11-27T11:00:00Z', name: expect.stringMatching(/^\d+-[0-9a-f]{12}$/) as string },
      registry: 'registry/main',
      action: 'pull',
      repository: 'team-a/app',
      actor: 'ci-bot',
    });
  });

  it('a tenant namespace sees only its prefixes: team-a/**, not team-ab/ or library/', async () => {
    const res = await as('tenant', `${base}/namespaces/team-a/registryevents`);
    expect(names(res.body)).toEqual(['a2', 'a1', 'old']);
  });

  it('filters by field selector, since and limit', async () => {
    const list = async (query: string) => names((await as('admin', `${base}/namespaces/registry/registryevents?${query}`)).body);
    expect(await list('fieldSelector=actor%3Dalice')).toEqual(['a1', 'old']);
    expect(await list('fieldSelector=action%3Dpush,repository%3Dteam-ab/app')).toEqual(['b1']);
    expect(await list('since=24h')).toEqual(['l1', 'a2', 'b1', 'a1']);
    expect(await list('since=24h&limit=2')).toEqual(['l1', 'a2']);
    expect(await list('fieldSelector=registry%3Dother/main')).toEqual([]);
  });

  it('gets one event by the name a list gave it, and 404 for a name that is not visible', async () => {
    const listed = (await as('admin', `${base}/namespaces/registry/registryevents?fieldSelector=actor%3Dbob`)).body as {
      items: { metadata: { name: string } }[];
    };
    const name = listed.items[0]!.metadata.name;
    expect((await as('admin', `${base}/namespaces/registry/registryevents/${name}`)).body).toMatchObject({ id: 'b1', metadata: { name } });
    // team-ab/app is outside team-a's prefixes: even its exact name does not reach it from team-a.
    reviews.length = 0;
    const hidden = await as('tenant', `${base}/namespaces/team-a/registryevents/${name}`);
    expect(hidden.status).toBe(404);
    expect(hidden.body).toMatchObject({ kind: 'Status', reason: 'NotFound', details: { name } });
    expect(reviews[0]?.spec.resourceAttributes).toMatchObject({ verb: 'get', name, namespace: 'team-a' });
  });

  it('answers a Table when kubectl asks for one', async () => {
    const res = await as('tenant', `${base}/namespaces/team-a/registryevents?limit=1`, 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json');
    const table = res.body as { kind: string; columnDefinitions: { name: string }[]; rows: { cells: unknown[]; object: { kind: string } }[] };
    expect(table.kind).toBe('Table');
    expect(table.columnDefinitions.map((c) => c.name).slice(0, 7)).toEqual(['Time', 'Registry', 'Action', 'Repository', 'Tag', 'Digest', 'Actor']);
    expect(table.rows[0]?.cells.slice(0, 7)).toEqual(['2026-11-27T11:00:00Z', 'registry/main', 'pull', 'team-a/app', '1.0', 'sha256:a20000000000', 'ci-bot']);
    expect(table.rows[0]?.object.kind).toBe('PartialObjectMetadata');
  });

  it('lists across all namespaces only for a cluster-wide reader, each event once at home', async () => {
    expect(names((await as('admin', `${base}/registryevents`)).body)).toEqual(['l1', 'a2', 'b1', 'a1', 'old']);
    expect((await as('tenant', `${base}/registryevents`)).body).toMatchObject({
      code: 403,
      message: expect.stringContaining('at the cluster scope') as string,
    });
  });

  it('refuses a namespace the user has no RBAC in with 403, before reading anything', async () => {
    const res = await as('tenant', `${base}/namespaces/registry/registryevents?fieldSelector=nonsense%3D1`);
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({
      kind: 'Status',
      code: 403,
      reason: 'Forbidden',
      message: expect.stringContaining(
        'User "tenant" cannot list resource "registryevents" in API group "activity.portcullis.dev" in the namespace "registry"',
      ) as string,
    });
  });

  it('refuses anything not from the front proxy with 401, discovery included', async () => {
    for (const url of ['/apis', `${base}/namespaces/registry/registryevents`]) {
      const res = await as('admin', url, 'application/json', { verified: false } as typeof proxy);
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ kind: 'Status', code: 401, reason: 'Unauthorized' });
    }
  });

  it('refuses writes with 405 and a bad query with 400', async () => {
    const post = await handle({ method: 'POST', url: `${base}/namespaces/registry/registryevents`, headers: { 'x-remote-user': ['admin'] }, peer: proxy });
    expect(post).toMatchObject({ status: 405, body: { reason: 'MethodNotAllowed' } });
    const bad = await as('admin', `${base}/namespaces/registry/registryevents?fieldSelector=user%3Dalice`);
    expect(bad).toMatchObject({ status: 400, body: { reason: 'BadRequest', message: expect.stringContaining('unknown field "user"') as string } });
  });

  it('health needs no client certificate; readiness waits for the cluster view', async () => {
    expect(await handle({ method: 'GET', url: '/healthz', headers: {}, peer: { verified: false } })).toEqual({ status: 200, text: 'ok' });
    synced = false;
    try {
      expect(await handle({ method: 'GET', url: '/readyz', headers: {}, peer: { verified: false } })).toMatchObject({ status: 503 });
      expect((await as('admin', `${base}/namespaces/registry/registryevents`)).status).toBe(503);
    } finally {
      synced = true;
    }
  });
});
