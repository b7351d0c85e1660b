import { describe, expect, it } from 'vitest';
import { deleteWarnings, parseImageReference, type DeleteFindings } from './delete-plan.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('parseImageReference', () => {
  it.each([
    ['team-a/app:1', { repository: 'team-a/app', tag: '1' }],
    ['team-a/app:v1.2.3-rc_1', { repository: 'team-a/app', tag: 'v1.2.3-rc_1' }],
    [`team-a/app@${DIGEST}`, { repository: 'team-a/app', digest: DIGEST }],
    ['localhost:5000/app:1', { repository: 'localhost:5000/app', tag: '1' }],
  ])('%s', (text, expected) => {
    expect(parseImageReference(text)).toEqual(expected);
  });

  it.each([
    ['team-a/app', /name a tag \(REPOSITORY:TAG\) or a digest/],
    ['localhost:5000/app', /name a tag/],
    ['team-a/App:1', /"team-a\/App" is not a repository name/],
    ['team-a/app:.hidden', /".hidden" is not a tag/],
    ['team-a/app@sha256:short', /"sha256:short" is not a digest/],
    ['team-a/app:1@', /"team-a\/app:1" is not a repository name/],
  ])('refuses %s', (text, message) => {
    expect(() => parseImageReference(text)).toThrow(message);
  });
});

describe('deleteWarnings', () => {
  const base: DeleteFindings = { reference: { repository: 'team-a/app', tag: '1' }, digest: DIGEST, sharedTags: [], recentPulls: [], window: '15m' };

  it('nothing to warn about: no warning', () => {
    expect(deleteWarnings(base, true)).toEqual([]);
  });

  it('names who pulled and when', () => {
    const findings = {
      ...base,
      recentPulls: [{ actor: 'ci-bot', timestamp: '2026-11-27T12:00:00Z', sourceAddr: '10.0.0.7:5555' }, { timestamp: '2026-11-27T11:59:00Z' }],
    };
    expect(deleteWarnings(findings, false)).toEqual([
      `team-a/app:1 (${DIGEST}) was pulled in the last 15m by ci-bot at 2026-11-27T12:00:00Z from 10.0.0.7:5555, <anonymous> at 2026-11-27T11:59:00Z`,
    ]);
  });

  it('names at most five pullers, then how many more', () => {
    const pulls = Array.from({ length: 7 }, (_, i) => ({ actor: `u${i}`, timestamp: `t${i}` }));
    expect(deleteWarnings({ ...base, recentPulls: pulls }, false)[0]).toMatch(/u4 at t4 and 2 more$/);
  });

  it('a trail that cannot be read is a warning too, with the reason', () => {
    expect(deleteWarnings({ ...base, trailUnreadable: 'forbidden' }, false)).toEqual(['cannot tell who pulled team-a/app:1 in the last 15m: forbidden']);
  });

  it('shared tags warn only when the digest is deleted', () => {
    const findings = { ...base, sharedTags: ['latest', 'stable'] };
    expect(deleteWarnings(findings, false)).toEqual([]);
    expect(deleteWarnings(findings, true)).toEqual([
      `${DIGEST} is also tagged team-a/app:latest, team-a/app:stable: deleting 1 deletes the digest, which removes those tags too`,
    ]);
  });

  it('a delete by digest names every tag it removes', () => {
    const findings: DeleteFindings = { ...base, reference: { repository: 'team-a/app', digest: DIGEST }, sharedTags: ['1'] };
    expect(deleteWarnings(findings, true)).toEqual([`${DIGEST} is also tagged team-a/app:1: deleting it removes that tag too`]);
  });
});
