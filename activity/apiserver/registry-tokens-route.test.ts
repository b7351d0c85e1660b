// The registrytokens route of the handler: only the front proxy, only POST, only a JSON body; what gets
// through reaches the registry-token handler with the caller and namespace of the path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore } from '../event.js';
import { openEventStore } from '../store/open.js';
import { Authorizer } from './authorizer.js';
import { EventReader } from './event-reader.js';
import { parseFrontProxyConfig, type UserInfo } from './front-proxy.js';
import { createHandler, type ApiRequest, type ApiResponse } from './handler.js';

const config = parseFrontProxyConfig({
  'requestheader-client-ca-file': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  'requestheader-allowed-names': '["front-proxy-client"]',
  'requestheader-username-headers': '["X-Remote-User"]',
  'requestheader-group-headers': '["X-Remote-Group"]',
});
const path = '/apis/activity.portcullis.dev/v1alpha1/namespaces/team-a/registrytokens';
const proxy = { verified: true, commonName: 'front-proxy-client' };

let store: EventStore;
let handle: (request: ApiRequest) => Promise<ApiResponse>;
const received: { user: UserInfo; namespace: string; body: unknown }[] = [];

beforeAll(async () => {
  store = await openEventStore('sqlite::memory:');
  handle = createHandler({
    frontProxy: () => config,
    authorizer: new Authorizer({ review: async () => ({ allowed: true }) }),
    reader: new EventReader(store),
    view: { visibleFrom: () => [], all: () => [], synced: () => true },
    now: () => new Date(),
    logError: () => undefined,
    registryTokens: async (user, namespace, body) => {
      received.push({ user, namespace, body });
      return { status: 201, body: { kind: 'RegistryToken' } };
    },
  });
});
afterAll(async () => {
  await store?.close();
});

const request = (method: string, body?: string, peer = proxy): Promise<ApiResponse> =>
  handle({
    method,
    url: path,
    headers: { 'x-remote-user': ['tina'], 'x-remote-group': ['devs'] },
    peer,
    ...(body === undefined ? {} : { body: Buffer.from(body) }),
  });

describe('POST registrytokens', () => {
  it('is refused without the front proxy, before the body is read', async () => {
    received.length = 0;
    const res = await request('POST', '{}', { verified: false, commonName: '' });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized' });
    expect(received).toEqual([]);
  });

  it.each([
    ['GET', undefined, 405, /GET is not supported: registrytokens are only created/],
    ['POST', undefined, 400, /the request has no body/],
    ['POST', '{"spec":', 400, /the request body is not JSON/],
  ])('%s with body %j is a %i', async (method, body, code, message) => {
    received.length = 0;
    const res = await request(method, body);
    expect(res.status).toBe(code);
    expect((res.body as { message: string }).message).toMatch(message);
    expect(received).toEqual([]);
  });

  it('hands the caller, the namespace of the path and the parsed body to the handler', async () => {
    received.length = 0;
    const res = await request('POST', '{"kind":"RegistryToken"}');
    expect(res.status).toBe(201);
    expect(received).toEqual([{ user: { username: 'tina', groups: ['devs'], extra: {} }, namespace: 'team-a', body: { kind: 'RegistryToken' } }]);
  });
});
