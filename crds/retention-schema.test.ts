// Offline validation of RetentionPolicy (what `portcullis compile` and the API server both refuse); the API
// server's own refusals of the same rows are in test/integration/crds.test.ts.
import { describe, expect, it } from 'vitest';
import { loadText, type LoadedManifests } from './manifests.js';
import { validateResource, withCrdDefaults } from './schema.js';
import type { RetentionPolicyResource } from './types.js';

const policy = (): RetentionPolicyResource => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'RetentionPolicy',
  metadata: { name: 'keep', namespace: 'team-a' },
  spec: { registryRef: { name: 'main', namespace: 'registry' }, repositories: ['team-a/**'], rules: { keepNewestSemver: { count: 10 } } },
});

function edited(edit: (o: { spec: Record<string, unknown> & { rules: Record<string, unknown> } }) => void): unknown {
  const copy = structuredClone(policy()) as unknown as { spec: Record<string, unknown> & { rules: Record<string, unknown> } };
  edit(copy);
  return copy;
}

describe('RetentionPolicy offline validation', () => {
  it.each([
    ['the minimal policy', policy()],
    [
      'every rule, a schedule and ${namespace}',
      edited((p) =>
        Object.assign(p.spec, {
          repositories: ['${namespace}/**', 'registry.example.com:5000/mirror/*'],
          rules: {
            keepNewestSemver: { count: 3, preReleases: 'Separate', preReleaseCount: 1 },
            keepTags: ['latest', 'v*', 'stable-?'],
            keepPushedWithin: '7d',
            pruneUntaggedOlderThan: '1h30m',
          },
          schedule: '*/15 2-4 * * MON-FRI',
          dryRun: false,
          maxDeletionsPerRun: 10000,
        }),
      ),
    ],
    ['only pruning untagged manifests', edited((p) => (p.spec.rules = { pruneUntaggedOlderThan: '30d' }))],
    ['a schedule macro', edited((p) => (p.spec.schedule = '@weekly'))],
  ])('accepts %s', (_name, obj) => {
    expect(validateResource(obj)).toEqual([]);
  });

  it.each<[string, unknown, string[]]>([
    [
      'no rule at all',
      edited((p) => (p.spec.rules = {})),
      ['spec.rules: at least one rule is required (keepNewestSemver, keepTags, keepPushedWithin or pruneUntaggedOlderThan)'],
    ],
    ['a count of zero', edited((p) => (p.spec.rules = { keepNewestSemver: { count: 0 } })), ['spec.rules.keepNewestSemver.count: must be at least 1']],
    [
      'an age in weeks',
      edited((p) => (p.spec.rules = { keepPushedWithin: '2w' })),
      ['spec.rules.keepPushedWithin: must match the regular expression ^([0-9]{1,6}d|([0-9]+(\\.[0-9]+)?(ms|h|m|s))+)$'],
    ],
    [
      'days and hours mixed',
      edited((p) => (p.spec.rules = { pruneUntaggedOlderThan: '1d12h' })),
      ['spec.rules.pruneUntaggedOlderThan: must match the regular expression ^([0-9]{1,6}d|([0-9]+(\\.[0-9]+)?(ms|h|m|s))+)$'],
    ],
    ['a cap of zero', edited((p) => (p.spec.maxDeletionsPerRun = 0)), ['spec.maxDeletionsPerRun: must be at least 1']],
    ['a cap over 10000', edited((p) => (p.spec.maxDeletionsPerRun = 10001)), ['spec.maxDeletionsPerRun: must be at most 10000']],
    ['a six-field schedule', edited((p) => (p.spec.schedule = '0 0 3 * * *')), [expect.stringMatching(/^spec\.schedule: must match the regular expression/)]],
    ['a schedule with a shell injection', edited((p) => (p.spec.schedule = '0 3 * * *; rm -rf /')), [expect.stringMatching(/^spec\.schedule: must match/)]],
    [
      '${user} in a pattern',
      edited((p) => (p.spec.repositories = ['${user}/**'])),
      ['spec.repositories[0]: ${user} has no meaning for retention; name the repositories or use ${namespace}'],
    ],
    [
      'a path climbing out',
      edited((p) => (p.spec.repositories = ['team-a/../team-b'])),
      [expect.stringMatching(/^spec\.repositories\[0\]: must be a repository pattern/)],
    ],
    ['no patterns', edited((p) => (p.spec.repositories = [])), ['spec.repositories: must not be empty']],
    ['a tag glob with a slash', edited((p) => (p.spec.rules = { keepTags: ['v1/*'] })), [expect.stringMatching(/^spec\.rules\.keepTags\[0\]: must match/)]],
    [
      'preReleaseCount without Separate',
      edited((p) => (p.spec.rules = { keepNewestSemver: { count: 2, preReleases: 'Ignore', preReleaseCount: 1 } })),
      ['spec.rules.keepNewestSemver: preReleaseCount applies only when preReleases is Separate'],
    ],
    [
      'an unknown pre-release mode',
      edited((p) => (p.spec.rules = { keepNewestSemver: { count: 2, preReleases: 'Mixed' } })),
      ['spec.rules.keepNewestSemver.preReleases: must be one of Separate, Together, Ignore'],
    ],
  ])('refuses %s', (_name, obj, expected) => {
    expect(validateResource(obj)).toEqual(expected);
  });

  it('defaults a new policy to a dry run with a cap of 100, pre-releases counted separately', () => {
    const spec = withCrdDefaults(policy()).spec;
    expect([spec.dryRun, spec.maxDeletionsPerRun, spec.suspend, spec.rules.keepNewestSemver?.preReleases]).toEqual([true, 100, false, 'Separate']);
  });

  it('is checked by portcullis compile like every other Portcullis kind, naming the document', () => {
    const out: LoadedManifests = { registries: [], users: [], grants: [], secrets: [], namespaces: [], errors: [], warnings: [], origins: new Map() };
    const documents = [policy(), { ...policy(), metadata: { name: 'bad', namespace: 'team-a' }, spec: { ...policy().spec, maxDeletionsPerRun: 0 } }];
    loadText(documents.map((d) => JSON.stringify(d)).join('\n---\n'), 'retention.yaml', out);
    expect(out.errors).toEqual(['retention.yaml: document 2 (RetentionPolicy team-a/bad): spec.maxDeletionsPerRun: must be at least 1']);
    expect(out.warnings).toEqual([]);
  });
});
