// Which RetentionPolicies get a CronJob, and what Ready says, when the operator may create runs in the
// policy's namespace and when it may not (--retention-namespaces): outside them only a schedule the
// operator would have to run is refused; a policy run by hand or suspended needs nothing from it.
import { describe, expect, it } from 'vitest';
import type { NamespaceInfo, RegistryResource, RetentionPolicyResource } from '../../../crds/types.js';
import { Reasons } from '../../../policy/reasons.js';
import { scheduleDecision } from './decision.js';

const API = 'portcullis.dev/v1alpha1' as const;
const registries = new Map<string, RegistryResource>([
  [
    'registry/main',
    {
      apiVersion: API,
      kind: 'Registry',
      metadata: { name: 'main', namespace: 'registry' },
      spec: {
        service: 'registry.example.com',
        delegation: [{ namespaces: { from: 'Selector', selector: { matchLabels: { tenant: 'yes' } } }, repositories: ['${namespace}/**'] }],
      },
    },
  ],
]);
const namespaces = new Map<string, NamespaceInfo>([
  ['registry', { name: 'registry', labels: {} }],
  ['team-b', { name: 'team-b', labels: { tenant: 'yes' } }],
]);

function policy(namespace: string, spec: Partial<RetentionPolicyResource['spec']>): RetentionPolicyResource {
  return {
    apiVersion: API,
    kind: 'RetentionPolicy',
    metadata: { name: 'p', namespace },
    spec: { registryRef: { name: 'main', namespace: 'registry' }, repositories: [`${namespace}/**`], rules: { keepTags: ['latest'] }, ...spec },
  };
}

describe('scheduleDecision', () => {
  it.each<[string, RetentionPolicyResource, boolean, { scheduled: boolean; status: string; reason: string }]>([
    [
      'a schedule where the operator may create runs',
      policy('team-b', { schedule: '@daily' }),
      true,
      { scheduled: true, status: 'True', reason: Reasons.RetentionScheduled },
    ],
    [
      'a schedule where it may not',
      policy('team-b', { schedule: '@daily' }),
      false,
      { scheduled: false, status: 'False', reason: Reasons.RetentionNamespaceNotServed },
    ],
    [
      'no schedule where it may not (runs by hand, needs no CronJob)',
      policy('team-b', {}),
      false,
      { scheduled: false, status: 'True', reason: Reasons.RunsByHand },
    ],
    [
      'a suspended schedule where it may not',
      policy('team-b', { schedule: '@daily', suspend: true }),
      false,
      { scheduled: false, status: 'True', reason: Reasons.RetentionSuspended },
    ],
    [
      'attack: a tenant reaching outside its prefixes where it may not (the tenancy refusal comes first)',
      policy('team-b', { schedule: '@daily', repositories: ['**'] }),
      false,
      { scheduled: false, status: 'False', reason: Reasons.OutsideDelegatedPrefix },
    ],
  ])('%s', (_sentence, p, served, expected) => {
    const decision = scheduleDecision(p, registries, namespaces, served);
    expect({ scheduled: decision.scheduled, status: decision.ready.status, reason: decision.ready.reason }).toEqual(expected);
  });

  it('says why there is no CronJob and what to do', () => {
    const { message } = scheduleDecision(policy('team-b', { schedule: '@daily' }), registries, namespaces, false).ready;
    expect(message).toMatch(
      /^schedule "@daily" not run: .*--retention-namespaces.*operator\.retentionNamespaces.*team-b is not one of them.*add team-b there.*by hand/,
    );
  });
});
