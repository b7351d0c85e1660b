// The tenancy rule for retention: each row is a policy a tenant (or the Registry's owner) could write,
// and what it may act on. The rows marked "attack" are policies that would let one tenant delete another's
// images: reaching outside the delegated prefixes, from a namespace the Registry never admitted, or
// through patterns that only look narrow.
import { describe, expect, it } from 'vitest';
import type { Delegation, NamespaceInfo, RegistryResource, RetentionPolicyResource } from '../../crds/types.js';
import { isRefusal } from '../compile/status.js';
import { Reasons } from '../reasons.js';
import { retentionScope, scopeCovers } from './tenancy.js';

const API = 'portcullis.dev/v1alpha1' as const;
const TEAMS: Delegation = { namespaces: { from: 'Selector', selector: { matchLabels: { tenant: 'yes' } } }, repositories: ['${namespace}/**'] };

const registries = new Map<string, RegistryResource>([
  [
    'registry/main',
    { apiVersion: API, kind: 'Registry', metadata: { name: 'main', namespace: 'registry' }, spec: { service: 'registry.example.com', delegation: [TEAMS] } },
  ],
]);
const namespaces = new Map<string, NamespaceInfo>([
  ['registry', { name: 'registry', labels: {} }],
  ['team-a', { name: 'team-a', labels: { tenant: 'yes' } }],
  ['team-b', { name: 'team-b', labels: { tenant: 'yes' } }],
  ['stranger', { name: 'stranger', labels: {} }],
]);

function policy(
  namespace: string,
  repositories: string[],
  registryRef: { name: string; namespace?: string } = { name: 'main', namespace: 'registry' },
): RetentionPolicyResource {
  return { apiVersion: API, kind: 'RetentionPolicy', metadata: { name: 'p', namespace }, spec: { registryRef, repositories, rules: { keepTags: ['latest'] } } };
}

function scopeOf(p: RetentionPolicyResource): unknown {
  const result = retentionScope(p, registries, namespaces);
  return isRefusal(result) ? result.refused.reason : result;
}

describe('retentionScope', () => {
  it.each<[string, RetentionPolicyResource, unknown]>([
    [
      'a policy beside its Registry covers any pattern',
      policy('registry', ['**'], { name: 'main' }),
      { registry: 'registry/main', home: true, patterns: ['**'] },
    ],
    [
      'a tenant within its prefix',
      policy('team-a', ['team-a/**']),
      { registry: 'registry/main', home: false, patterns: ['team-a/**'], prefixes: ['team-a/**'] },
    ],
    [
      'a tenant using ${namespace}',
      policy('team-a', ['${namespace}/app']),
      { registry: 'registry/main', home: false, patterns: ['team-a/app'], prefixes: ['team-a/**'] },
    ],
    ['attack: a tenant covering every repository', policy('team-a', ['**']), Reasons.OutsideDelegatedPrefix],
    ['attack: a tenant naming another tenant’s prefix', policy('team-a', ['team-a/**', 'team-b/**']), Reasons.OutsideDelegatedPrefix],
    ['attack: */app looks narrow but reaches every tenant', policy('team-a', ['*/app']), Reasons.OutsideDelegatedPrefix],
    ['attack: a path that climbs out of the prefix', policy('team-a', ['team-a/../team-b']), Reasons.InvalidSpec],
    ['attack: ${user} cannot widen a pattern', policy('team-a', ['team-a/${user}']), Reasons.InvalidSpec],
    ['attack: a namespace the Registry does not admit', policy('stranger', ['stranger/**']), Reasons.NamespaceNotAllowed],
    ['a Registry that does not exist', policy('team-a', ['team-a/**'], { name: 'nope', namespace: 'registry' }), Reasons.RegistryNotFound],
    ['no patterns at all', policy('registry', [], { name: 'main' }), Reasons.InvalidSpec],
    ['a pattern with a partial wildcard', policy('registry', ['team-*'], { name: 'main' }), Reasons.InvalidSpec],
  ])('%s', (_name, p, expected) => {
    expect(scopeOf(p)).toEqual(expected);
  });
});

describe('scopeCovers', () => {
  it.each<[string, string[] | undefined, string, boolean]>([
    ['a matching repository', undefined, 'team-a/app', true],
    ['deeper under a ** pattern', undefined, 'team-a/other/x', true],
    ['outside the patterns, inside the prefixes', undefined, 'team-b/other', false],
    ['attack: matched by the pattern but outside the prefixes (defence in depth)', ['shared/**'], 'team-b/app', false],
    ['an empty segment', undefined, 'team-a//app', false],
  ])('%s', (_name, prefixes, repository, expected) => {
    const covers = scopeCovers({
      registry: 'registry/main',
      home: false,
      patterns: ['team-a/**', 'team-b/app'],
      prefixes: prefixes ?? ['team-a/**', 'team-b/**'],
    });
    expect(covers(repository)).toBe(expected);
  });
});
