// A registry in a garbage-collection window: tokens that would allow a write get 503 UNAVAILABLE with
// Retry-After, after authentication; pulls, callers without write grants and other registries are served.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SigningKeySet } from '../../wire/signing-key-set.js';
import type { MaintenanceState, RegistryPolicy } from '../../policy/types.js';
import { basic, makeKeys, OTHER_SERVICE, PASSWORDS, SERVICE, snapshotOf } from '../../test/support/token-server-fixtures.js';
import { harness, type Harness } from '../../test/support/token-server-app.js';
import { buildPolicyState } from '../sources/policy-state.js';

const now = new Date('2031-03-04T05:06:07Z');
const SINCE = '2031-03-04T05:00:00.000Z';
let keys: { set: SigningKeySet; bundle: string; cleanup: () => Promise<void> };
let h: Harness;

beforeAll(async () => {
  keys = await makeKeys(new Date(now.getTime() - 3600_000));
});
afterAll(async () => {
  await keys.cleanup();
});

/** The fixture policy, with dave holding `*` on dave/**, anonymous push on the other registry, and `main` in this window. */
function serve(maintenance: MaintenanceState | undefined): void {
  const registries = h.snapshot.registries.map((r): RegistryPolicy => {
    if (r.service === OTHER_SERVICE) {
      const scratch = {
        source: 'registry/scratch',
        subjects: [{ kind: 'Anonymous' as const }],
        repositories: ['scratch/**'],
        actions: ['push' as const],
        catalog: false,
      };
      return { ...r, grants: [...r.grants, scratch] };
    }
    const dave = {
      source: 'registry/dave',
      subjects: [{ kind: 'User' as const, name: 'dave' }],
      repositories: ['dave/**'],
      actions: ['*' as const],
      catalog: false,
    };
    return { ...r, grants: [...r.grants, dave], ...(maintenance === undefined ? {} : { maintenance }) };
  });
  h.policy.set(buildPolicyState(snapshotOf(registries), h.credentials, now));
}

beforeEach(async () => {
  h = await harness({ set: keys.set, now });
  serve({ readOnly: true, since: SINCE });
});

const alice = { authorization: basic('alice', PASSWORDS.alice as string) };
const dave = { authorization: basic('dave', PASSWORDS.dave as string) };
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const get = (scope: string, headers: Record<string, string> = {}, service = SERVICE) =>
  h.app.inject({ method: 'GET', url: `/token?service=${service}&scope=${scope}`, headers });

const MESSAGE =
  'the registry is read-only for garbage collection: pulls work, pushes and deletes are refused until the maintenance window ends; ' +
  `retry the push later: read-only since ${SINCE}`;

function expectReadOnly(response: Awaited<ReturnType<typeof get>>): void {
  expect(response.statusCode).toBe(503);
  expect(response.headers['retry-after']).toBe('60');
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.json()).toEqual({
    errors: [{ code: 'UNAVAILABLE', message: MESSAGE, detail: `read-only since ${SINCE}` }],
    error: 'temporarily_unavailable',
    error_description: MESSAGE,
  });
}

async function grantedActions(response: Awaited<ReturnType<typeof get>>): Promise<unknown> {
  expect(response.statusCode).toBe(200);
  const token = response.json().token as string;
  const payload = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as { access: unknown };
  return payload.access;
}

describe('tokens during a garbage-collection window', () => {
  it('a push (pull,push, as docker and crane ask) is refused with 503, Retry-After and the reason', async () => {
    expectReadOnly(await get('repository:team-a/app:pull,push', alice));
  });

  it('a pull by the same user is served', async () => {
    expect(await grantedActions(await get('repository:team-a/app:pull', alice))).toEqual([{ type: 'repository', name: 'team-a/app', actions: ['pull'] }]);
  });

  it('a delete and a * are refused; the catalog, a read, is served', async () => {
    expectReadOnly(await get('repository:dave/x:delete', dave));
    expectReadOnly(await get('repository:dave/x:*', dave));
    expect(await grantedActions(await get('registry:catalog:*', alice))).toEqual([{ type: 'registry', name: 'catalog', actions: ['*'] }]);
  });

  it('a caller who may not push gets what it gets outside the window, and learns nothing of it', async () => {
    expect(await grantedActions(await get('repository:team-a/app:pull,push'))).toEqual([]);
    expect(await grantedActions(await get('repository:public/lib:pull,push', dave))).toEqual([{ type: 'repository', name: 'public/lib', actions: ['pull'] }]);
  });

  it('wrong credentials get the 401, never the window (authentication comes first)', async () => {
    const response = await get('repository:team-a/app:pull,push', { authorization: basic('alice', 'wrong') });
    expect(response.statusCode).toBe(401);
    expect(response.json().errors[0].code).toBe('UNAUTHORIZED');
    expect(response.body).not.toContain('read-only');
  });

  it('another registry served by the same token server still takes pushes', async () => {
    expect(await grantedActions(await get('repository:scratch/x:push', {}, OTHER_SERVICE))).toEqual([
      { type: 'repository', name: 'scratch/x', actions: ['push'] },
    ]);
  });

  it('the OAuth2 password grant is refused the same way', async () => {
    const response = await h.app.inject({
      method: 'POST',
      url: '/token',
      headers: FORM,
      payload: form({
        grant_type: 'password',
        client_id: 'test',
        service: SERVICE,
        username: 'alice',
        password: PASSWORDS.alice as string,
        scope: 'repository:team-a/app:push',
      }),
    });
    expectReadOnly(response);
  });

  it('a refresh token is kept through the window: refused for a push during it, served for pulls, pushes again after', async () => {
    const login = await h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}&offline_token=true`, headers: alice });
    expect(login.statusCode).toBe(200);
    const refreshToken = login.json().refresh_token as string;
    const redeem = (scope: string) =>
      h.app.inject({
        method: 'POST',
        url: '/token',
        headers: FORM,
        payload: form({ grant_type: 'refresh_token', client_id: 'test', service: SERVICE, refresh_token: refreshToken, scope }),
      });
    expectReadOnly(await redeem('repository:team-a/app:pull,push'));
    expect(await grantedActions(await redeem('repository:team-a/app:pull'))).toEqual([{ type: 'repository', name: 'team-a/app', actions: ['pull'] }]);
    serve(undefined);
    expect(await grantedActions(await redeem('repository:team-a/app:pull,push'))).toEqual([
      { type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] },
    ]);
  });

  it('counts the refusal by outcome and writes one audit line naming the write, with no secret', async () => {
    await get('repository:team-a/app:pull,push', alice);
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/portcullis_token_requests_total\{outcome="registry_read_only"\} 1/);
    const refused = h.log.lines.filter((l) => l.audit === 'refused');
    expect(refused).toEqual([
      expect.objectContaining({
        user: 'alice',
        service: SERVICE,
        reason: `registry read-only for garbage collection since ${SINCE}: would grant a write on repository:team-a/app:pull,push`,
      }),
    ]);
    expect(h.log.lines.filter((l) => l.audit === 'token')).toEqual([]);
    expect(h.log.text()).not.toContain(PASSWORDS.alice);
  });

  it('a window without a recorded start still refuses, without a time', async () => {
    serve({ readOnly: true });
    const response = await get('repository:team-a/app:push', alice);
    expect(response.statusCode).toBe(503);
    expect(response.json().errors[0]).toEqual({
      code: 'UNAVAILABLE',
      message:
        'the registry is read-only for garbage collection: pulls work, pushes and deletes are refused until the maintenance window ends; retry the push later',
    });
  });

  it('after the window the same push is granted', async () => {
    serve(undefined);
    expect(await grantedActions(await get('repository:team-a/app:pull,push', alice))).toEqual([
      { type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] },
    ]);
  });
});
