// The SubjectAccessReview gate: what it asks, how long an answer is reused, and the 403 it words.
import { describe, expect, it } from 'vitest';
import { Authorizer, type AccessQuestion, type SubjectAccessReview } from './authorizer.js';
import { ApiError } from './status.js';

const alice = { username: 'alice', groups: ['team-a', 'system:authenticated'], extra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=ab'] } };
const question: AccessQuestion = { user: alice, verb: 'list', resource: 'registryevents', namespace: 'team-a' };

function reviewer(allowed: (review: SubjectAccessReview) => boolean) {
  const asked: SubjectAccessReview[] = [];
  return {
    asked,
    review: async (review: SubjectAccessReview) => {
      asked.push(review);
      return allowed(review) ? { allowed: true } : { allowed: false, reason: 'no RBAC rule matched' };
    },
  };
}

describe('Authorizer', () => {
  it('asks exactly the verb, group, resource and namespace, for the user with groups and extra', async () => {
    const r = reviewer(() => true);
    await new Authorizer({ review: r.review }).require(question);
    expect(r.asked).toEqual([
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: 'alice',
          groups: ['team-a', 'system:authenticated'],
          extra: alice.extra,
          resourceAttributes: { group: 'activity.portcullis.dev', resource: 'registryevents', verb: 'list', namespace: 'team-a' },
        },
      },
    ]);
  });

  it('refuses with a 403 Status naming user, verb, resource, namespace and the ClusterRole to bind', async () => {
    const r = reviewer(() => false);
    const refused = await new Authorizer({ review: r.review }).require({ ...question, namespace: 'registry' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).toStatus()).toMatchObject({
      code: 403,
      reason: 'Forbidden',
      message:
        'registryevents.activity.portcullis.dev is forbidden: User "alice" cannot list resource "registryevents" in API group ' +
        '"activity.portcullis.dev" in the namespace "registry": no RBAC rule matched ' +
        '(a RoleBinding in namespace "registry" to ClusterRole portcullis-activity-reader allows it)',
    });
  });

  it('reuses an answer for the same question within the TTL, and asks again after it', async () => {
    let clock = 0;
    const r = reviewer(() => true);
    const authorizer = new Authorizer({ review: r.review, ttlMs: 10_000, now: () => clock });
    await authorizer.decide(question);
    clock = 9_999;
    await authorizer.decide({ ...question, user: { ...alice, groups: [...alice.groups].reverse() } });
    expect(r.asked).toHaveLength(1);
    clock = 10_000;
    await authorizer.decide(question);
    expect(r.asked).toHaveLength(2);
  });

  it('never reuses an answer for another user, group set, verb, namespace or name', async () => {
    const r = reviewer(() => true);
    const authorizer = new Authorizer({ review: r.review });
    await authorizer.decide(question);
    await authorizer.decide({ ...question, user: { ...alice, username: 'mallory' } });
    await authorizer.decide({ ...question, user: { ...alice, groups: ['team-a'] } });
    await authorizer.decide({ ...question, verb: 'get' });
    await authorizer.decide({ ...question, namespace: 'registry' });
    await authorizer.decide({ ...question, verb: 'get', name: 'x' });
    expect(r.asked).toHaveLength(6);
  });

  it('asks once for identical questions in flight', async () => {
    const r = reviewer(() => true);
    const authorizer = new Authorizer({ review: r.review });
    const answers = await Promise.all([authorizer.decide(question), authorizer.decide(question), authorizer.decide(question)]);
    expect(answers.every((a) => a.allowed)).toBe(true);
    expect(r.asked).toHaveLength(1);
  });

  it('a review that says denied wins over allowed', async () => {
    const authorizer = new Authorizer({ review: async () => ({ allowed: true, denied: true }) });
    expect((await authorizer.decide(question)).allowed).toBe(false);
  });
});
