// Identity sources through the pure core: `spec.authentication` -> AuthenticationPolicy (defaults, refusals),
// the bind password's path into the credentials, ServiceAccount subjects, and what identities may obtain.
import { describe, expect, it } from 'vitest';
import type { Authentication, NamespaceInfo, RegistryResource, RegistryUserResource, RepositoryGrantResource, RepositoryGrantSpec } from '../../crds/types.js';
import { authorize, buildPolicyIndex, type Requester } from '../authorize.js';
import { compileClaimCondition } from '../claim-conditions.js';
import { Reasons } from '../reasons.js';
import { IncrementalCompiler } from '../incremental-compile.js';
import { compileSnapshot, type CompileInput } from '../snapshot.js';
import { parseSnapshot, serializeSnapshot } from '../snapshot-format.js';
import { authenticationPolicy } from './authentication.js';

const API = 'portcullis.dev/v1alpha1' as const;
const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function registry(authentication?: Authentication, meta: Partial<RegistryResource['metadata']> = {}, service = 'registry.example.com'): RegistryResource {
  return {
    apiVersion: API,
    kind: 'Registry',
    metadata: { name: 'main', namespace: 'registry', ...meta },
    spec: {
      service,
      delegation: [{ namespaces: { from: 'All' }, repositories: ['${namespace}/**'] }],
      ...(authentication === undefined ? {} : { authentication }),
    },
  };
}
function grant(ns: string, name: string, spec: Partial<RepositoryGrantSpec>): RepositoryGrantResource {
  return {
    apiVersion: API,
    kind: 'RepositoryGrant',
    metadata: { name, namespace: ns },
    spec: { registryRef: { name: 'main', namespace: 'registry' }, subjects: [{ kind: 'Authenticated' }], repositories: ['x'], actions: ['pull'], ...spec },
  };
}
const namespaces: NamespaceInfo[] = ['registry', 'team-a', 'team-b'].map((name) => ({ name, labels: {} }));
function compile(input: Partial<CompileInput>) {
  return compileSnapshot({ registries: [registry()], users: [], grants: [], namespaces, credentials: new Map(), ...input });
}
function readyOf(result: ReturnType<typeof compile>, kind: string, key: string) {
  const s = result.statuses.find((x) => x.kind === kind && `${x.namespace}/${x.name}` === key);
  return s?.conditions.find((c) => c.type === 'Ready');
}

const ldap = { url: 'ldaps://ldap.example.com', userSearch: { baseDN: 'ou=people,dc=example,dc=com' } };
const oidc = { issuer: 'https://token.actions.githubusercontent.com', audiences: ['registry.example.com'], username: { prefix: 'github:' } };

describe('authenticationPolicy', () => {
  it('applies the documented defaults', () => {
    expect(authenticationPolicy({ ldap, oidc: [oidc], serviceAccounts: {} }, 'registry.example.com')).toEqual({
      registryUsers: true,
      ldap: {
        url: 'ldaps://ldap.example.com',
        startTLS: false,
        insecureNoTLS: false,
        userSearch: { baseDN: 'ou=people,dc=example,dc=com', filter: '(uid={username})', scope: 'sub' },
        usernamePrefix: 'ldap:',
        groupPrefix: 'ldap:',
        authenticated: false,
        cacheTTLSeconds: 60,
        timeoutSeconds: 5,
      },
      oidc: [
        {
          issuer: 'https://token.actions.githubusercontent.com',
          audiences: ['registry.example.com'],
          algorithms: ['ES256', 'ES384', 'ES512', 'EdDSA', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'],
          username: { claim: 'sub', prefix: 'github:' },
          conditions: [],
          authenticated: false,
        },
      ],
      serviceAccounts: { audiences: ['registry.example.com'], cacheTTLSeconds: 60, authenticated: false },
    });
    expect(authenticationPolicy(undefined, 's')).toBeUndefined();
  });

  it.each<[string, Authentication, string]>([
    ['plain ldap:// nobody asked for', { ldap: { ...ldap, url: 'ldap://ldap.example.com' } }, 'would send passwords in clear text'],
    ['StartTLS on ldaps://', { ldap: { ...ldap, startTLS: true } }, 'startTLS is for ldap:// URLs'],
    ['a URL with a path', { ldap: { ...ldap, url: 'ldaps://ldap.example.com/dc=x' } }, 'without a path'],
    ['another scheme', { ldap: { ...ldap, url: 'https://ldap.example.com' } }, 'must be ldaps://HOST'],
    ['bindDN without its Secret', { ldap: { ...ldap, bindDN: 'cn=x' } }, 'bindDN and bindPasswordSecretRef go together'],
    ['a user filter without {username}', { ldap: { ...ldap, userSearch: { baseDN: 'dc=x', filter: '(uid=alice)' } } }, 'must contain {username}'],
    ['a group filter without {dn}', { ldap: { ...ldap, groupSearch: { baseDN: 'dc=x', filter: '(cn=all)' } } }, 'must contain {dn} or {username}'],
    ['a CA that is not PEM', { ldap: { ...ldap, certificateAuthority: 'trust me' } }, 'must hold PEM certificates'],
    ['a cache of a day', { ldap: { ...ldap, cacheTTL: '24h' } }, 'cacheTTL must be between 0s and 3600s'],
    ['an http issuer', { oidc: [{ ...oidc, issuer: 'http://issuer.example' }] }, 'issuer must be an https:// URL'],
    ['HS256', { oidc: [{ ...oidc, algorithms: ['HS256'] }] }, '"HS256" is not allowed'],
    ['none', { oidc: [{ ...oidc, algorithms: ['none'] }] }, '"none" is not allowed'],
    ['no audience', { oidc: [{ ...oidc, audiences: [] }] }, 'audiences must list at least one audience'],
    ['no username prefix', { oidc: [{ ...oidc, username: {} as { prefix: string } }] }, 'username.prefix is required'],
    ['a condition that is not CEL', { oidc: [{ ...oidc, conditions: [{ expression: 'claims.owner ==' }] }] }, 'is not valid CEL'],
    ['a condition that is not boolean', { oidc: [{ ...oidc, conditions: [{ expression: '"acme"' }] }] }, 'must be a boolean expression'],
    ['an issuer twice', { oidc: [oidc, oidc] }, 'appears twice'],
    ['a ServiceAccount cache over a minute', { serviceAccounts: { cacheTTL: '2m' } }, 'cacheTTL must be between 0s and 60s'],
  ])('refuses %s', (_name, spec, message) => {
    const result = authenticationPolicy(spec, 'registry.example.com');
    expect(result).toHaveProperty('refused.reason', Reasons.InvalidSpec);
    expect((result as { refused: { message: string } }).refused.message).toContain(message);
  });

  it('accepts plain ldap:// with StartTLS, or when the admin says the network is trusted', () => {
    expect(authenticationPolicy({ ldap: { ...ldap, url: 'ldap://ldap.example.com:389', startTLS: true } }, 's')).toMatchObject({ ldap: { startTLS: true } });
    expect(authenticationPolicy({ ldap: { ...ldap, url: 'ldap://127.0.0.1', insecureNoTLS: true } }, 's')).toMatchObject({ ldap: { insecureNoTLS: true } });
    expect(authenticationPolicy({ ldap: { ...ldap, certificateAuthority: CA } }, 's')).toMatchObject({ ldap: { certificateAuthority: CA } });
  });
});

describe('compileSnapshot with identity sources', () => {
  const withBind = registry(
    { ldap: { ...ldap, bindDN: 'cn=portcullis', bindPasswordSecretRef: { name: 'ldap-bind' } } },
    { creationTimestamp: '2026-01-01T00:00:00Z' },
  );

  it('puts the bind password in the credentials, never in the snapshot', () => {
    const result = compile({ registries: [withBind], identitySecrets: new Map([['registry/main', { ldapBindPassword: 'bind-secret' }]]) });
    const [compiled] = result.registries;
    expect(compiled?.credentials.identity).toEqual({ 'registry/main': { ldapBindPassword: 'bind-secret' } });
    expect(serializeSnapshot(compiled!.snapshot)).not.toContain('bind-secret');
    expect(parseSnapshot(serializeSnapshot(compiled!.snapshot)).registries[0]?.authentication?.ldap?.bindDN).toBe('cn=portcullis');
  });

  it('with registryUsers: false ships no password hash (the users stay, Ready), and says so on the Registry', () => {
    const hash = '$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234';
    const alice: RegistryUserResource = {
      apiVersion: API,
      kind: 'RegistryUser',
      metadata: { name: 'alice', namespace: 'registry', uid: 'u1', generation: 1 },
      spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: 'alice-pw' } },
    };
    const input = (authentication: Authentication): CompileInput => ({
      registries: [registry(authentication)],
      users: [alice],
      grants: [],
      namespaces,
      credentials: new Map([['registry/alice', { hash }]]),
    });
    for (const compiler of [compileSnapshot, (i: CompileInput) => new IncrementalCompiler().compile(i)]) {
      const off = compiler(input({ registryUsers: false, oidc: [oidc] }));
      expect(off.registries[0]?.credentials.registries).toEqual({ 'registry/main': {} });
      expect(off.registries[0]?.snapshot.registries[0]?.users.map((u) => u.username)).toEqual(['alice']);
      expect(readyOf(off, 'RegistryUser', 'registry/alice')?.status).toBe('True');
      expect(readyOf(off, 'Registry', 'registry/main')?.message).toBe(
        '1 users and 0 grants compiled; RegistryUser passwords are off (spec.authentication.registryUsers: false)',
      );
      const on = compiler(input({ oidc: [oidc] }));
      expect(on.registries[0]?.credentials.registries).toEqual({ 'registry/main': { alice: hash } });
      expect(readyOf(on, 'Registry', 'registry/main')?.message).toBe('1 users and 0 grants compiled');
    }
  });

  it('refuses a Registry whose bind password cannot be read, and it keeps its service from younger claimants', () => {
    const younger = registry(undefined, { name: 'other', creationTimestamp: '2026-02-01T00:00:00Z' });
    const result = compile({
      registries: [withBind, younger],
      identitySecrets: new Map([['registry/main', { reason: Reasons.SecretNotFound, message: 'Secret registry/ldap-bind was not found' }]]),
    });
    expect(result.registries).toEqual([]);
    expect(readyOf(result, 'Registry', 'registry/main')).toMatchObject({ status: 'False', reason: Reasons.SecretNotFound });
    expect(readyOf(result, 'Registry', 'registry/other')).toMatchObject({ status: 'False', reason: Reasons.ServiceConflict });
  });

  it('defaults a ServiceAccount subject to the grant namespace and refuses a delegated grant naming another namespace', () => {
    const result = compile({
      grants: [
        grant('team-a', 'own', { subjects: [{ kind: 'ServiceAccount', name: 'builder' }], repositories: ['team-a/**'] }),
        grant('team-a', 'foreign', { subjects: [{ kind: 'ServiceAccount', namespace: 'team-b', name: 'builder' }], repositories: ['team-a/**'] }),
        // The same account spelled as its username: refused alike (it was admitted before).
        grant('team-a', 'foreign-user', { subjects: [{ kind: 'User', name: 'system:serviceaccount:team-b:builder' }], repositories: ['team-a/**'] }),
        grant('team-a', 'own-user', { subjects: [{ kind: 'User', name: 'system:serviceaccount:team-a:builder' }], repositories: ['team-a/**'] }),
        grant('registry', 'admin', { subjects: [{ kind: 'ServiceAccount', namespace: 'team-b' }], repositories: ['shared/**'] }),
      ],
    });
    expect(readyOf(result, 'RepositoryGrant', 'team-a/foreign')).toMatchObject({ status: 'False', reason: Reasons.ForeignServiceAccount });
    expect(readyOf(result, 'RepositoryGrant', 'team-a/foreign-user')).toMatchObject({ status: 'False', reason: Reasons.ForeignServiceAccount });
    expect(readyOf(result, 'RepositoryGrant', 'team-a/own-user')).toMatchObject({ status: 'True' });
    const grants = result.registries[0]!.snapshot.registries[0]!.grants;
    expect(grants.map((g) => [g.source, g.subjects])).toEqual([
      ['registry/admin', [{ kind: 'ServiceAccount', namespace: 'team-b' }]],
      ['team-a/own', [{ kind: 'ServiceAccount', namespace: 'team-a', name: 'builder' }]],
      ['team-a/own-user', [{ kind: 'User', name: 'system:serviceaccount:team-a:builder' }]],
    ]);
  });
});

describe('authorize for identities from sources', () => {
  const result = compile({
    registries: [registry({ ldap })],
    grants: [
      grant('registry', 'ldap-dev', { subjects: [{ kind: 'Group', name: 'ldap:dev' }], repositories: ['dev/**'], actions: ['pull', 'push'] }),
      grant('registry', 'builtin-dev', { subjects: [{ kind: 'Group', name: 'dev' }], repositories: ['builtin/**'], actions: ['pull', 'push'] }),
      grant('registry', 'everyone', { subjects: [{ kind: 'Authenticated' }], repositories: ['internal/**'], actions: ['pull'] }),
      grant('registry', 'personal', { subjects: [{ kind: 'Authenticated' }], repositories: ['${user}/**'], actions: ['*'] }),
      grant('team-a', 'builder', { subjects: [{ kind: 'ServiceAccount', name: 'builder' }], repositories: ['team-a/**'], actions: ['pull', 'push'] }),
      grant('registry', 'team-b-pods', { subjects: [{ kind: 'ServiceAccount', namespace: 'team-b' }], repositories: ['shared/**'], actions: ['pull'] }),
    ],
  });
  const index = buildPolicyIndex(result.registries[0]!.snapshot.registries[0]!);
  const granted = (who: Requester, name: string): string[] =>
    authorize(index, who, [{ type: 'repository', name, actions: ['pull', 'push', 'delete'] }])[0]!.granted;
  const dana: Requester = { kind: 'identity', source: 'ldap', username: 'ldap:dana', groups: ['ldap:dev'], authenticated: false };
  const sa = (namespace: string, name: string): Requester => ({
    kind: 'identity',
    source: 'serviceaccount',
    username: `system:serviceaccount:${namespace}:${name}`,
    groups: [],
    authenticated: false,
    serviceAccount: { namespace, name },
  });

  it.each<[string, Requester, string, string[]]>([
    ['an LDAP group member gets the LDAP group grant', dana, 'dev/app', ['pull', 'push']],
    ['an LDAP group is not the built-in group of the same name', dana, 'builtin/app', []],
    ['a source that does not say so does not make its users Authenticated', dana, 'internal/app', []],
    ['the same user where the source counts as Authenticated', { ...dana, authenticated: true }, 'internal/app', ['pull']],
    ['a prefixed name never expands ${user} into a repository', { ...dana, authenticated: true }, 'dana/app', []],
    ['a ServiceAccount named by a grant in its namespace', sa('team-a', 'builder'), 'team-a/app', ['pull', 'push']],
    ['another ServiceAccount of that namespace', sa('team-a', 'default'), 'team-a/app', []],
    ['the same name in another namespace', sa('team-b', 'builder'), 'team-a/app', []],
    ['every ServiceAccount of a namespace the grant names', sa('team-b', 'anything'), 'shared/lib', ['pull']],
  ])('%s', (_name, who, repository, expected) => {
    expect(granted(who, repository)).toEqual(expected);
  });
});

describe('compileClaimCondition', () => {
  it.each<[string, Record<string, unknown>, boolean]>([
    ['claims.repository_owner == "acme"', { repository_owner: 'acme' }, true],
    ['claims.repository_owner == "acme"', { repository_owner: 'evil' }, false],
    ['claims.repository_owner == "acme"', {}, false],
    ['claims.ref.startsWith("refs/heads/")', { ref: 'refs/heads/main' }, true],
    ['"admins" in claims.groups', { groups: ['dev', 'admins'] }, true],
    ['"admins" in claims.groups', { groups: 'admins' }, false],
  ])('%s on %j is %s', (expression, claims, expected) => {
    const condition = compileClaimCondition(expression);
    if ('error' in condition) throw new Error(condition.error);
    expect(condition(claims)).toBe(expected);
  });
});
