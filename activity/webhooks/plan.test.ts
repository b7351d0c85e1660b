// What a webhook object means for its loop: each row is an object and the reason nothing is sent (or the
// target). The spec checks repeat the CRD's, for objects that reached the cluster without them.
import { describe, expect, it } from 'vitest';
import type { RegistryResource, RegistryWebhookResource, RegistryWebhookSpec } from '../../crds/types.js';
import { Reasons } from '../../policy/reasons.js';
import { webhookPlan, type PlanContext } from './plan.js';

const registry: RegistryResource = {
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'Registry',
  metadata: { name: 'main', namespace: 'registry' },
  spec: { service: 'registry.example.com', delegation: [{ namespaces: { from: 'All' }, repositories: ['${namespace}/**'] }] },
};
const context: PlanContext = { registries: new Map([['registry/main', registry]]), namespaces: new Map(), allowLinkLocal: false };

function hook(spec: Partial<RegistryWebhookSpec> = {}, namespace = 'registry'): RegistryWebhookResource {
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RegistryWebhook',
    metadata: { name: 'ci', namespace, generation: 2 },
    spec: { registryRef: { name: 'main', namespace: 'registry' }, url: 'https://ci.example.com/hook', secretRef: { name: 'ci-hook' }, ...spec },
  };
}

const reasonOf = (plan: ReturnType<typeof webhookPlan>): string => ('blocked' in plan ? plan.blocked.reason : 'target');

describe('webhookPlan', () => {
  it.each<[string, RegistryWebhookResource, PlanContext, string]>([
    ['a webhook beside its Registry', hook(), context, 'target'],
    ['a tenant within its prefix', hook({ repositories: ['team-a/**'] }, 'team-a'), context, 'target'],
    ['a tenant reaching outside its prefix', hook({ repositories: ['team-b/**'] }, 'team-a'), context, Reasons.OutsideDelegatedPrefix],
    ['paused', hook({ disabled: true }), context, Reasons.WebhookDisabled],
    ['attack: the metadata address as a literal', hook({ url: 'http://169.254.169.254/latest/' }), context, Reasons.ForbiddenAddress],
    ['the metadata address where the server allows it', hook({ url: 'http://169.254.169.254/latest/' }), { ...context, allowLinkLocal: true }, 'target'],
    ['attack: credentials in the URL', hook({ url: 'https://a:b@ci.example.com/' }), context, Reasons.InvalidSpec],
    ['attack: a header overriding the signature', hook({ headers: [{ name: 'X-Portcullis-Signature', value: 'x' }] }), context, Reasons.InvalidSpec],
    ['attack: a header value with a line break', hook({ headers: [{ name: 'X-Team', value: 'a\nb' }] }), context, Reasons.InvalidSpec],
  ])('%s', (_sentence, webhook, ctx, expected) => {
    expect(reasonOf(webhookPlan(webhook, ctx))).toBe(expected);
  });

  it('a target carries the Secret reference (key default "secret") and the checked headers', () => {
    const plan = webhookPlan(hook({ headers: [{ name: 'X-Team', value: 'a' }] }), context);
    expect('target' in plan && [plan.target.secret, plan.target.headers, plan.target.url.host]).toEqual([
      { namespace: 'registry', name: 'ci-hook', key: 'secret' },
      { 'X-Team': 'a' },
      'ci.example.com',
    ]);
  });

  it('a status write is no new plan; an edit or a delegation change is', () => {
    const base = webhookPlan(hook(), context).fingerprint;
    expect(webhookPlan({ ...hook(), status: { backlog: 3 } }, context).fingerprint).toBe(base);
    expect(webhookPlan({ ...hook({ actions: ['pull'] }), metadata: { name: 'ci', namespace: 'registry', generation: 3 } }, context).fingerprint).not.toBe(base);
    const tenant = hook({ repositories: ['team-a/**'] }, 'team-a');
    const undelegated = { ...context, registries: new Map([['registry/main', { ...registry, spec: { service: 's' } }]]) };
    expect(webhookPlan(tenant, undelegated).fingerprint).not.toBe(webhookPlan(tenant, context).fingerprint);
  });
});
