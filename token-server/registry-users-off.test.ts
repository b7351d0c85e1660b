// `spec.authentication.registryUsers: false` with no directory (OIDC only): a RegistryUser's name and
// password must get nothing, neither by Basic GET, nor by the password grant, nor through a cached success
// or a refresh token from before the switch, and the refusal must look like a wrong password.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import bcrypt from 'bcrypt';
import type { AuthenticationPolicy, RegistryPolicy } from '../policy/types.js';
import { harness, postTokenForm, type Harness } from '../test/support/token-server-app.js';
import { basic, keysForFile, PASSWORDS, SERVICE, snapshotOf } from '../test/support/token-server-fixtures.js';
import { buildPolicyState } from './sources/policy-state.js';

const now = new Date('2031-03-04T05:06:07Z');
const ALICE = PASSWORDS.alice as string;
let h: Harness;
const compare = vi.fn((password: string, hash: string) => bcrypt.compare(password, hash));

const keys = keysForFile(now);
beforeEach(async () => {
  compare.mockClear();
  h = await harness({ set: keys.set, now, compare, limits: { failuresPerAccountAndAddress: 1000, failuresPerAddress: 1000 } });
});

const OIDC_ONLY: AuthenticationPolicy = {
  registryUsers: false,
  oidc: [
    {
      issuer: 'https://issuer.test',
      audiences: [SERVICE],
      algorithms: ['ES256'],
      username: { claim: 'sub', prefix: 'oidc:' },
      conditions: [],
      authenticated: false,
    },
  ],
};

/** Serves the fixture policy (alice still a RegistryUser with her hash) with `authentication` on `main`. */
function serve(authentication: AuthenticationPolicy | undefined): void {
  const registries = h.snapshot.registries.map((r): RegistryPolicy =>
    r.service === SERVICE ? { ...r, ...(authentication === undefined ? {} : { authentication }) } : r,
  );
  h.policy.set(buildPolicyState(snapshotOf(registries), h.credentials, h.clock.now));
}

const get = (user: string, password: string) =>
  h.app.inject({ method: 'GET', url: `/token?service=${SERVICE}&scope=repository:team-a/app:pull,push`, headers: { authorization: basic(user, password) } });
const passwordGrant = (offline = false) =>
  postTokenForm(h.app, SERVICE, {
    grant_type: 'password',
    username: 'alice',
    password: ALICE,
    scope: 'repository:team-a/app:pull,push',
    ...(offline ? { access_type: 'offline' } : {}),
  });
const refusals = () => h.log.lines.filter((l) => l.audit === 'refused').map((l) => l.reason);

describe('registryUsers: false, OIDC only', () => {
  it('a RegistryUser with her right password gets the same 401 as an unknown name and a wrong password, after the same one comparison', async () => {
    serve(OIDC_ONLY);
    const alice = await get('alice', ALICE);
    const wrong = await get('alice', 'not-her-password');
    const unknown = await get('nobody', 'whatever');
    expect(alice.statusCode).toBe(401);
    expect(alice.json()).toEqual({
      errors: [{ code: 'UNAUTHORIZED', message: 'authentication failed: invalid username or password' }],
      error: 'invalid_grant',
      error_description: 'authentication failed: invalid username or password',
    });
    for (const other of [wrong, unknown]) {
      expect(other.statusCode).toBe(401);
      expect(other.body).toBe(alice.body);
      expect(other.headers['www-authenticate']).toBe(alice.headers['www-authenticate']);
    }
    // One comparison each, never against alice's own hash: her refusal costs what an unknown name costs.
    const aliceHash = h.credentials.registries['registry/main']?.alice;
    expect(compare).toHaveBeenCalledTimes(3);
    expect(compare.mock.calls.map(([, hash]) => hash)).not.toContain(aliceHash);
    expect(refusals()[0]).toContain('registryUsers: false');
  });

  it('the OAuth2 password grant is refused alike', async () => {
    serve(OIDC_ONLY);
    const response = await passwordGrant();
    expect(response.statusCode).toBe(401);
    expect(response.json().errors[0].code).toBe('UNAUTHORIZED');
  });

  it('a password verified (and cached) before the switch gets nothing after it', async () => {
    serve(undefined);
    expect((await get('alice', ALICE)).statusCode).toBe(200);
    serve(OIDC_ONLY);
    const response = await get('alice', ALICE);
    expect(response.statusCode).toBe(401);
    expect(response.json().errors[0].code).toBe('UNAUTHORIZED');
  });

  it('a refresh token issued before the switch is refused as an invalid refresh token', async () => {
    serve(undefined);
    const issued = await passwordGrant(true);
    expect(issued.statusCode).toBe(200);
    const refreshToken = issued.json().refresh_token as string;
    serve(OIDC_ONLY);
    const response = await postTokenForm(h.app, SERVICE, { grant_type: 'refresh_token', refresh_token: refreshToken, scope: 'repository:team-a/app:push' });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({
      errors: [{ code: 'UNAUTHORIZED', message: 'refresh token is invalid, expired or no longer valid for this user; log in again' }],
      error: 'invalid_grant',
      error_description: 'refresh token is invalid, expired or no longer valid for this user; log in again',
    });
    expect(refusals().at(-1)).toContain('registryUsers: false');
  });

  it('with registryUsers left on beside OIDC, alice still logs in (the switch, not OIDC, refuses her)', async () => {
    serve({ ...OIDC_ONLY, registryUsers: true });
    const response = await get('alice', ALICE);
    expect(response.statusCode).toBe(200);
    expect(response.json().token).toBeTypeOf('string');
  });
});
