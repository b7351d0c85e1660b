// The tenancy rule for webhooks: each row is a webhook a tenant (or the Registry's owner) could write, and
// what it may hear of. The hostile rows are the attacks: reaching outside the delegated prefixes, from a
// namespace the Registry never admitted, or through patterns that only look narrow.
import { describe, expect, it } from 'vitest';
import type { Delegation, NamespaceInfo, RegistryResource, RegistryWebhookResource, RegistryWebhookSpec } from '../crds/types.js';
import { isRefusal } from './compile/status.js';
import { Reasons } from './reasons.js';
import { webhookScope } from './webhook-tenancy.js';

const API = 'portcullis.dev/v1alpha1' as const;
const TEAMS: Delegation = {
  namespaces: { from: 'Selector', selector: { matchLabels: { tenant: 'yes' } } },
  repositories: ['${namespace}/**'],
};
const SHARED: Delegation = {
  namespaces: { from: 'Selector', selector: { matchLabels: { team: 'a' } } },
  repositories: ['shared/team-a/**', 'mirror/${namespace}/**'],
};

function registry(delegation: Delegation[]): RegistryResource {
  return { apiVersion: API, kind: 'Registry', metadata: { name: 'main', namespace: 'registry' }, spec: { service: 'registry.example.com', delegation } };
}

function webhook(namespace: string, spec: Partial<RegistryWebhookSpec> = {}): RegistryWebhookResource {
  return {
    apiVersion: API,
    kind: 'RegistryWebhook',
    metadata: { name: 'hook', namespace },
    spec: { registryRef: { name: 'main', namespace: 'registry' }, url: 'https://ci.example.com/hook', secretRef: { name: 'hook' }, ...spec },
  };
}

const namespaces = new Map<string, NamespaceInfo>([
  ['registry', { name: 'registry', labels: {} }],
  ['team-a', { name: 'team-a', labels: { tenant: 'yes', team: 'a' } }],
  ['team-b', { name: 'team-b', labels: { tenant: 'yes' } }],
  ['stranger', { name: 'stranger', labels: {} }],
]);

function scopeOf(hook: RegistryWebhookResource, delegation: Delegation[] = [TEAMS]): unknown {
  const registries = new Map([['registry/main', registry(delegation)]]);
  const result = webhookScope(hook, registries, namespaces);
  return isRefusal(result) ? result.refused.reason : result;
}

describe('webhookScope', () => {
  it.each<[string, RegistryWebhookResource, Delegation[], unknown]>([
    ['a webhook beside its Registry hears every repository', webhook('registry', { registryRef: { name: 'main' } }), [], { registry: 'registry/main' }],
    [
      'a webhook beside its Registry may list any pattern',
      webhook('registry', { repositories: ['team-b/**', 'library/nginx'] }),
      [TEAMS],
      { registry: 'registry/main' },
    ],
    [
      'a tenant within its prefix is confined to the prefix',
      webhook('team-a', { repositories: ['team-a/**'] }),
      [TEAMS],
      { registry: 'registry/main', prefixes: ['team-a/**'] },
    ],
    [
      'a tenant naming one repository inside its prefix',
      webhook('team-a', { repositories: ['team-a/app'] }),
      [TEAMS],
      { registry: 'registry/main', prefixes: ['team-a/**'] },
    ],
    [
      'a tenant admitted by two entries gets the prefixes of both',
      webhook('team-a', { repositories: ['team-a/**', 'shared/team-a/app'] }),
      [TEAMS, SHARED],
      { registry: 'registry/main', prefixes: ['mirror/team-a/**', 'shared/team-a/**', 'team-a/**'] },
    ],
    ['attack: a tenant listing every repository (the default **)', webhook('team-a'), [TEAMS], Reasons.OutsideDelegatedPrefix],
    [
      'attack: a tenant listing another tenant’s prefix',
      webhook('team-a', { repositories: ['team-a/**', 'team-b/**'] }),
      [TEAMS],
      Reasons.OutsideDelegatedPrefix,
    ],
    ['attack: */** looks narrow but reaches every tenant', webhook('team-a', { repositories: ['*/**'] }), [TEAMS], Reasons.OutsideDelegatedPrefix],
    [
      'attack: the bare prefix name is outside team-a/** (it is another repository)',
      webhook('team-a', { repositories: ['team-a'] }),
      [TEAMS],
      Reasons.OutsideDelegatedPrefix,
    ],
    ['attack: a namespace the delegation does not admit', webhook('stranger', { repositories: ['stranger/**'] }), [TEAMS], Reasons.NamespaceNotAllowed],
    ['attack: any other namespace when the Registry delegates nothing', webhook('team-a', { repositories: ['team-a/**'] }), [], Reasons.NamespaceNotAllowed],
    [
      'a Registry whose delegation is invalid admits no one (it is not ready either)',
      webhook('team-a', { repositories: ['team-a/**'] }),
      [{ ...TEAMS, repositories: ['team-*/**'] }],
      Reasons.RegistryNotReady,
    ],
    ['a Registry that does not exist', webhook('registry', { registryRef: { name: 'other' } }), [], Reasons.RegistryNotFound],
    ['a pattern with ${user} (meaningless for events)', webhook('registry', { repositories: ['${user}/*'] }), [], Reasons.InvalidSpec],
    ['a pattern with ${namespace}', webhook('team-a', { repositories: ['${namespace}/**'] }), [TEAMS], Reasons.InvalidSpec],
    ['a pattern that is not one', webhook('registry', { repositories: ['team-a/App'] }), [], Reasons.InvalidSpec],
  ])('%s', (_sentence, hook, delegation, expected) => {
    expect(scopeOf(hook, delegation)).toEqual(expected);
  });

  it('explains a refusal with the prefixes the namespace has', () => {
    const registries = new Map([['registry/main', registry([TEAMS])]]);
    const result = webhookScope(webhook('team-a', { repositories: ['team-b/**'] }), registries, namespaces);
    expect(result).toEqual({
      refused: {
        reason: Reasons.OutsideDelegatedPrefix,
        message: 'repository pattern "team-b/**" is outside the prefixes delegated to namespace team-a: "team-a/**"',
      },
    });
  });
});
