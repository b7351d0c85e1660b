// Which check a password login is routed to when RegistryUsers and a directory share a name, and what a
// remembered directory success is bound to. No directory is contacted: routing and cache keys are local.
// The logins themselves run against a real slapd in test/integration/ldap-tenant-names.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '../../policy/canonical.js';
import { credentialRevision } from '../../policy/revision.js';
import { CREDENTIALS_FORMAT, SNAPSHOT_FORMAT, type AuthenticationPolicy, type RegistryPolicy, type UserEntry } from '../../policy/types.js';
import { hashPassword } from '../../test/support/token-server-fixtures.js';
import { buildPolicyState } from '../sources/policy-state.js';
import type { LoadedRegistry } from '../sources/types.js';
import { IdentitySources } from './sources.js';

const now = new Date('2031-05-06T07:08:09Z');
const LDAP: AuthenticationPolicy['ldap'] = {
  url: 'ldaps://ldap.invalid',
  startTLS: false,
  insecureNoTLS: false,
  userSearch: { baseDN: 'ou=people,dc=example,dc=com', filter: '(uid={username})', scope: 'sub' },
  usernamePrefix: 'ldap:',
  groupPrefix: 'ldap:',
  authenticated: false,
  cacheTTLSeconds: 60,
  timeoutSeconds: 1,
};
const TENANCY = { namespace: 'team-a', prefixes: ['team-a/**'], trustedUsername: false, trustedGroups: [], trustedAuthenticated: false };

async function loaded(options: { ldap?: boolean; registryUsers?: boolean; tenantPassword?: string; tenantDisabled?: boolean } = {}): Promise<LoadedRegistry> {
  const hashes = { owner: await hashPassword('owner-password'), dana: await hashPassword(options.tenantPassword ?? 'tenant-password') };
  const entry = (username: string, extra: Partial<UserEntry>): UserEntry => ({
    username,
    groups: [],
    disabled: false,
    credentialRevision: credentialRevision(hashes[username as keyof typeof hashes]),
    source: `x/${username}`,
    ...extra,
  });
  const authentication: AuthenticationPolicy = { registryUsers: options.registryUsers ?? true, oidc: [], ...(options.ldap === false ? {} : { ldap: LDAP }) };
  const policy: RegistryPolicy = {
    id: 'registry/main',
    service: 'registry.test',
    issuer: 'portcullis',
    tokenTTLSeconds: 300,
    signingAlgorithm: 'ES256',
    authentication,
    users: [
      entry('dana', { source: 'team-a/dana', tenancy: TENANCY, disabled: options.tenantDisabled ?? false }),
      entry('owner', { source: 'registry/owner' }),
    ],
    grants: [],
  };
  const snapshot = { format: SNAPSHOT_FORMAT, generation: sha256Hex(canonicalJson([policy])), registries: [policy] };
  const state = buildPolicyState(snapshot, { format: CREDENTIALS_FORMAT, registries: { [policy.id]: hashes } }, now);
  return state.registries.get('registry.test') as LoadedRegistry;
}

const sources: IdentitySources[] = [];
function identitySources(): IdentitySources {
  const s = new IdentitySources({ now: () => now, kubeClient: () => Promise.resolve(undefined) });
  sources.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.close()));
});

function missKey(lookup: ReturnType<IdentitySources['lookup']>): string {
  if (!('miss' in lookup)) throw new Error('expected a cache miss');
  return lookup.miss;
}

describe('routing a password login by who holds the name', () => {
  it("sends a delegated namespace's RegistryUser name to its password and then the directory", async () => {
    expect(identitySources().route(await loaded(), 'dana', 'x')).toEqual({ kind: 'password-or-ldap' });
  });

  it("keeps a RegistryUser of the Registry's own namespace on its password alone (it shadows the directory)", async () => {
    expect(identitySources().route(await loaded(), 'owner', 'x')).toEqual({ kind: 'password' });
  });

  it('sends any other name to the directory', async () => {
    expect(identitySources().route(await loaded(), 'erik', 'x')).toEqual({ kind: 'ldap' });
  });

  it("without a directory, or with RegistryUser passwords off, a tenant's name is routed as before", async () => {
    expect(identitySources().route(await loaded({ ldap: false }), 'dana', 'x')).toEqual({ kind: 'password' });
    expect(identitySources().route(await loaded({ registryUsers: false }), 'dana', 'x')).toEqual({ kind: 'ldap' });
  });
});

describe('a directory success remembered for a name a tenant shares', () => {
  it("is bound to the tenant's hash and state: a new password or a disabled user makes it another entry", async () => {
    const s = identitySources();
    const key = async (options: Parameters<typeof loaded>[0]) => missKey(s.lookup(await loaded(options), 'ldap', 'dana', 'directory-password'));
    const before = await key({});
    expect(await key({})).toBe(before);
    expect(await key({ tenantPassword: 'directory-password' })).not.toBe(before);
    expect(await key({ tenantDisabled: true })).not.toBe(before);
  });

  it("is never the key of another name's or another password's success", async () => {
    const s = identitySources();
    const registry = await loaded();
    const keys = new Set([
      missKey(s.lookup(registry, 'ldap', 'dana', 'p')),
      missKey(s.lookup(registry, 'ldap', 'erik', 'p')),
      missKey(s.lookup(registry, 'ldap', 'dana', 'q')),
    ]);
    expect(keys.size).toBe(3);
  });
});

describe('the sources of a policy since replaced', () => {
  it('serve a login that began under it with the current ones, which it does not rebuild', async () => {
    const s = identitySources();
    const before = await loaded();
    const auth = before.policy.authentication!;
    // Another directory setting: another revision of the Registry's sources.
    const current = { ...before, policy: { ...before.policy, authentication: { ...auth, ldap: { ...auth.ldap!, timeoutSeconds: 2 } } } } as LoadedRegistry;
    s.prepare([before]);
    s.prepare([current]);
    const check = await s.verify(current, 'erik', 'p', { kind: 'ldap' }, missKey(s.lookup(current, 'ldap', 'erik', 'p')));
    expect(check).toHaveProperty('unavailable');
    expect(s.directoryDown(current)).toBe(true);
    // A login that waited for its turn across the change pads its failure: rebuilding the old sources
    // would have closed the current ones and forgotten that the directory is down.
    s.expectedDirectoryMs(before);
    expect(s.directoryDown(current)).toBe(true);
  });
});
