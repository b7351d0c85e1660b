import { describe, expect, it } from 'vitest';
import type { RetentionPolicyResource } from '../../../crds/types.js';
import { cronJobName, retentionArgs, retentionCronJob } from './schedule-objects.js';

const policy = (name: string, namespace = 'team-a'): RetentionPolicyResource & { metadata: { uid: string } } => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'RetentionPolicy',
  metadata: { name, namespace, uid: 'u-1' },
  spec: { registryRef: { name: 'main', namespace: 'registry' }, repositories: ['team-a/**'], rules: { keepTags: ['latest'] }, schedule: '0 3 * * *' },
});

describe('cronJobName', () => {
  it.each<[string, string]>([
    ['nightly', 'portcullis-retention-nightly'],
    ['a'.repeat(31), `portcullis-retention-${'a'.repeat(31)}`],
  ])('%s keeps the policy name when it fits', (name, expected) => {
    expect(cronJobName(name)).toBe(expected);
  });

  it('shortens a long name to 52 characters with a hash, so two long names sharing a prefix differ', () => {
    const a = cronJobName(`${'x'.repeat(40)}-one`);
    const b = cronJobName(`${'x'.repeat(40)}-two`);
    expect(a.length).toBeLessThanOrEqual(52);
    expect(a).toMatch(/^portcullis-retention-x+-[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
  });

  it('never ends the shortened part with a dash or dot', () => {
    expect(cronJobName(`${'y'.repeat(21)}.-${'z'.repeat(40)}`)).toMatch(/^portcullis-retention-y{21}-[0-9a-f]{8}$/);
  });
});

describe('retentionCronJob', () => {
  it('runs exactly the policy, against its Registry, in its namespace', () => {
    expect(retentionArgs(policy('nightly'))).toEqual(['retention', '--registry', 'registry/main', '-n', 'team-a', '--policy', 'nightly']);
  });

  it('mounts no token but the projected, expiring one', () => {
    const job = retentionCronJob(policy('nightly'), 'img') as unknown as {
      spec: {
        jobTemplate: {
          spec: { template: { spec: { automountServiceAccountToken: boolean; volumes: { projected?: { sources: Record<string, unknown>[] } }[] } } };
        };
      };
    };
    const pod = job.spec.jobTemplate.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.volumes.find((v) => v.projected !== undefined)?.projected?.sources[0]).toEqual({
      serviceAccountToken: { path: 'token', expirationSeconds: 3607 },
    });
  });
});
