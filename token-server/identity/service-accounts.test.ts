// The checks around TokenReview: what never reaches the cluster (a token without expiry, an expired one,
// one for another audience), and how each answer of the cluster is read. The cluster here is a recorder
// of the reviews it was asked for; the real API server answers them in test/e2e/identity-serviceaccounts.
import { describe, expect, it } from 'vitest';
import type { KubeClient } from '../../kube/request.js';
import type { ServiceAccountPolicy } from '../../policy/types.js';
import { ServiceAccountReviewer } from './service-accounts.js';
import type { UnverifiedJwt } from './jwt-shape.js';

const NOW = new Date('2026-11-27T12:00:00Z');
const NOW_S = NOW.getTime() / 1000;
const POLICY: ServiceAccountPolicy = { audiences: ['registry.example.com'], cacheTTLSeconds: 60, authenticated: false };
const jwt = (claims: Record<string, unknown>): UnverifiedJwt => ({ alg: 'RS256', claims: { 'kubernetes.io': {}, ...claims } });
const good = jwt({ aud: ['registry.example.com'], exp: NOW_S + 600 });

/** A cluster that answers every TokenReview with `status` (or fails with `error`) and counts the questions. */
function cluster(answer: { status?: object; error?: Error }): { client: () => Promise<KubeClient>; asked: () => number } {
  let asked = 0;
  const client = {
    request: (method: string, path: string) => {
      asked++;
      expect([method, path]).toEqual(['POST', '/apis/authentication.k8s.io/v1/tokenreviews']);
      return answer.error === undefined ? Promise.resolve({ status: answer.status }) : Promise.reject(answer.error);
    },
  };
  // Only `request` is used by the reviewer; the rest of KubeClient (config, agents) is not needed here.
  return { client: () => Promise.resolve(client as unknown as KubeClient), asked: () => asked };
}

const AUTHENTICATED = { authenticated: true, user: { username: 'system:serviceaccount:team-a:builder' }, audiences: ['registry.example.com'] };

describe('ServiceAccountReviewer', () => {
  it.each([
    ['a token without expiry (legacy Secret-based)', jwt({ aud: ['registry.example.com'] }), /no expiry/],
    ['an expired token', jwt({ aud: ['registry.example.com'], exp: NOW_S - 120 }), /expired/],
    ['a token for another audience', jwt({ aud: ['https://kubernetes.default.svc'], exp: NOW_S + 600 }), /another audience/],
  ])('refuses %s without asking the cluster', async (_name, token, reason) => {
    const c = cluster({ status: AUTHENTICATED });
    const check = await new ServiceAccountReviewer(c.client, () => NOW).verify('t', token, POLICY);
    expect(check).toMatchObject({ ok: false, reason: expect.stringMatching(reason) as unknown });
    expect(c.asked()).toBe(0);
  });

  it.each([
    ['the cluster does not authenticate it (a deleted pod)', { authenticated: false, error: 'pod "builder" not found' }, /did not authenticate.*not found/],
    ['a user that is no ServiceAccount', { authenticated: true, user: { username: 'alice' }, audiences: ['registry.example.com'] }, /not a ServiceAccount/],
    [
      'a malformed ServiceAccount name',
      { authenticated: true, user: { username: 'system:serviceaccount:team-a' }, audiences: ['registry.example.com'] },
      /not a ServiceAccount/,
    ],
    ['no audience of this registry confirmed', { ...AUTHENTICATED, audiences: [] }, /did not confirm an audience/],
  ])('refuses when %s', async (_name, status, reason) => {
    const check = await new ServiceAccountReviewer(cluster({ status }).client, () => NOW).verify('t', good, POLICY);
    expect(check).toMatchObject({ ok: false, reason: expect.stringMatching(reason) as unknown });
  });

  it('is unavailable, never a grant, without a cluster connection or when TokenReview fails', async () => {
    const none = new ServiceAccountReviewer(
      () => Promise.resolve(undefined),
      () => NOW,
    );
    expect(await none.verify('t', good, POLICY)).toEqual({ unavailable: expect.stringContaining('no connection') as unknown });
    const forbidden = cluster({ error: new Error('403 Forbidden: tokenreviews.authentication.k8s.io is forbidden\nmore') });
    expect(await new ServiceAccountReviewer(forbidden.client, () => NOW).verify('t', good, POLICY)).toEqual({
      unavailable: 'TokenReview failed: 403 Forbidden: tokenreviews.authentication.k8s.io is forbidden',
    });
  });

  it('accepts a reviewed token as its ServiceAccount, reused no longer than the TTL nor past the expiry', async () => {
    const reviewer = new ServiceAccountReviewer(cluster({ status: AUTHENTICATED }).client, () => NOW);
    expect(await reviewer.verify('t', good, POLICY)).toEqual({
      ok: true,
      identity: {
        source: 'serviceaccount',
        username: 'system:serviceaccount:team-a:builder',
        groups: [],
        authenticated: false,
        serviceAccount: { namespace: 'team-a', name: 'builder' },
        reuseUntil: NOW.getTime() + 60_000,
      },
    });
    const soonExpiring = jwt({ aud: 'registry.example.com', exp: NOW_S + 20 });
    expect(await reviewer.verify('t', soonExpiring, POLICY)).toMatchObject({ ok: true, identity: { reuseUntil: (NOW_S + 20) * 1000 } });
  });
});
