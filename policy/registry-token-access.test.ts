import { describe, expect, it } from 'vitest';
import type { Delegation, NamespaceInfo } from '../crds/types.js';
import { admissionOf } from './compile/delegation.js';
import { registryRelation, registryTokenAccess, type ImagePermissions, type RegistryRelation } from './registry-token-access.js';
import { parseScopes, type ResourceScope } from './scope.js';

const REGISTRY = 'registry/main';
const home: RegistryRelation = { kind: 'home', registry: REGISTRY };
const teamA: RegistryRelation = { kind: 'delegated', registry: REGISTRY, namespace: 'team-a', prefixes: ['team-a/**'] };
const stranger: RegistryRelation = { kind: 'none', registry: REGISTRY, namespace: 'elsewhere' };

const all: ImagePermissions = { read: true, delete: true };
const readOnly: ImagePermissions = { read: true, delete: false };
const deleteOnly: ImagePermissions = { read: false, delete: true };
const nothing: ImagePermissions = { read: false, delete: false };

function scopes(...raw: string[]): ResourceScope[] {
  const parsed = parseScopes(raw);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.scopes;
}

/** The granted access as the scope strings a token's `access` claim amounts to. */
function granted(relation: RegistryRelation, requested: string[], permissions: ImagePermissions): string[] {
  return registryTokenAccess(relation, scopes(...requested), permissions).access.map((s) => `${s.type}:${s.name}:${s.actions.join(',')}`);
}

describe('registryTokenAccess: what must be refused', () => {
  // [sentence, relation, requested scopes, permissions, what the token still carries, why the rest is refused]
  const attacks: [string, RegistryRelation, string[], ImagePermissions, string[], RegExp][] = [
    [
      'push is never given, even with every permission',
      home,
      ['repository:library/alpine:pull,push'],
      all,
      ['repository:library/alpine:pull'],
      /withheld: push is never given/,
    ],
    ['* is never given on a repository (it would include push)', home, ['repository:library/alpine:*'], all, [], /"\*" is not an action/],
    ['a tenant gets nothing outside its prefixes', teamA, ['repository:library/alpine:pull,delete'], all, [], /outside the prefixes .* team-a: "team-a\/\*\*"/],
    [
      'a tenant does not get the repository named like its prefix (team-a/** is not team-a)',
      teamA,
      ['repository:team-a:pull'],
      all,
      [],
      /outside the prefixes/,
    ],
    ['a look-alike prefix is not the prefix', teamA, ['repository:team-a-evil/app:pull'], all, [], /outside the prefixes/],
    [
      'a registry host in front of the name does not slip past the prefix',
      teamA,
      ['repository:localhost:5000/team-a/app:pull'],
      all,
      [],
      /outside the prefixes/,
    ],
    ['a tenant never gets the catalog', teamA, ['registry:catalog:*'], all, [], /only in the Registry's own namespace/],
    [
      'a namespace the Registry does not admit gets nothing, whatever RBAC says',
      stranger,
      ['repository:library/alpine:pull'],
      all,
      [],
      /does not admit namespace elsewhere/,
    ],
    ['a namespace the Registry does not admit gets no catalog', stranger, ['registry:catalog:*'], all, [], /does not admit namespace elsewhere/],
    [
      'delete needs the delete permission',
      home,
      ['repository:library/alpine:pull,delete'],
      readOnly,
      ['repository:library/alpine:pull'],
      /withheld: delete needs delete on registryimages/,
    ],
    [
      'pull needs the read permission',
      home,
      ['repository:library/alpine:pull,delete'],
      deleteOnly,
      ['repository:library/alpine:delete'],
      /withheld: pull needs get on registryimages/,
    ],
    ['the catalog needs the read permission', home, ['registry:catalog:*'], deleteOnly, [], /catalog needs get on registryimages/],
    ['no permission, nothing', home, ['repository:library/alpine:pull,delete'], nothing, [], /pull needs get .*; delete needs delete/],
    ['other registry resources are not carried', home, ['registry:other:*'], all, [], /not something a registry token from the cluster carries/],
    ['the catalog with another action is not the catalog', home, ['registry:catalog:pull'], all, [], /asked for as registry:catalog:\*/],
  ];

  it.each(attacks)('%s', (_, relation, requested, permissions, carried, reason) => {
    const result = registryTokenAccess(relation, scopes(...requested), permissions);
    expect(result.access.map((s) => `${s.type}:${s.name}:${s.actions.join(',')}`)).toEqual(carried);
    expect(result.decisions[0]?.reason).toMatch(reason);
  });

  it('a tenant asking inside and outside its prefixes gets only the inside', () => {
    expect(granted(teamA, ['repository:team-a/app:pull,delete', 'repository:library/alpine:pull', 'registry:catalog:*'], all)).toEqual([
      'repository:team-a/app:pull,delete',
    ]);
  });

  it('${user} in a prefix matches no Kubernetes user (it names RegistryUsers)', () => {
    const userPrefix: RegistryRelation = { kind: 'delegated', registry: REGISTRY, namespace: 'team-a', prefixes: ['${user}/**'] };
    expect(granted(userPrefix, ['repository:alice/app:pull'], all)).toEqual([]);
  });
});

describe('registryTokenAccess: what is given', () => {
  const cases: [string, RegistryRelation, string[], ImagePermissions, string[]][] = [
    [
      'the Registry namespace with get and delete: pull, delete and the catalog',
      home,
      ['repository:library/alpine:pull,delete', 'registry:catalog:*'],
      all,
      ['repository:library/alpine:pull,delete', 'registry:catalog:*'],
    ],
    [
      'get only: pull, and the part asked for that is not given is dropped',
      home,
      ['repository:library/alpine:pull,delete,push'],
      readOnly,
      ['repository:library/alpine:pull'],
    ],
    ['delete only: delete', home, ['repository:library/alpine:pull,delete'], deleteOnly, ['repository:library/alpine:delete']],
    ['a tenant inside its prefixes, at any depth', teamA, ['repository:team-a/app/sub:pull,delete'], all, ['repository:team-a/app/sub:pull,delete']],
    ['a tenant with get only', teamA, ['repository:team-a/app:pull,delete'], readOnly, ['repository:team-a/app:pull']],
    ['several repositories at once', home, ['repository:a/x:pull', 'repository:b/y:pull'], readOnly, ['repository:a/x:pull', 'repository:b/y:pull']],
  ];

  it.each(cases)('%s', (_, relation, requested, permissions, expected) => {
    expect(granted(relation, requested, permissions)).toEqual(expected);
  });

  it('every decision says why, granted or not', () => {
    const result = registryTokenAccess(home, scopes('repository:library/alpine:pull,delete'), readOnly);
    expect(result.decisions[0]?.reason).toBe('pull on repository "library/alpine"; withheld: delete needs delete on registryimages');
  });
});

describe('registryRelation', () => {
  const namespaces = new Map<string, NamespaceInfo>([
    ['team-a', { name: 'team-a', labels: { tenant: 'yes' } }],
    ['other', { name: 'other', labels: {} }],
  ]);
  const delegation: Delegation[] = [{ namespaces: { from: 'Selector', selector: { matchLabels: { tenant: 'yes' } } }, repositories: ['${namespace}/**'] }];
  const relation = (ns: string): RegistryRelation => registryRelation(REGISTRY, ns, admissionOf('registry', delegation, ns, namespaces));

  it('the Registry namespace is home', () => expect(relation('registry')).toEqual(home));
  it('a delegated namespace gets its prefixes, ${namespace} replaced', () => expect(relation('team-a')).toEqual(teamA));
  it('a namespace no entry admits is none', () => expect(relation('other')).toEqual({ kind: 'none', registry: REGISTRY, namespace: 'other' }));
});
