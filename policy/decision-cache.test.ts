import { describe, expect, it } from 'vitest';
import { authorize, buildPolicyIndex, type PolicyIndex, type Requester } from './authorize.js';
import { authorizeCached, DecisionCache, decisionCacheOf } from './decision-cache.js';
import type { ResourceScope } from './scope.js';
import { alice, anonymous, bob, grant, policy, repo } from '../test/support/policy-fixtures.js';
import type { GrantEntry } from './types.js';

const ldapAlice: Requester = { kind: 'identity', source: 'ldap', username: 'alice', groups: [], authenticated: true };

const GRANTS: GrantEntry[] = [
  grant('registry/team-a-write', [{ kind: 'Group', name: 'team-a' }], ['team-a/**'], ['pull', 'push']),
  grant('registry/alice-delete', [{ kind: 'User', name: 'alice' }], ['team-a/app'], ['delete']),
  grant('registry/public-read', [{ kind: 'Anonymous' }], ['public/*'], ['pull']),
  grant('registry/own-space', [{ kind: 'Authenticated' }], ['${user}/*'], ['*']),
  grant('registry/sa-push', [{ kind: 'ServiceAccount', namespace: 'ci', name: 'builder' }], ['ci/*'], ['pull', 'push']),
  grant('registry/catalog', [{ kind: 'User', name: 'bob' }], [], ['pull'], true),
];
const index = buildPolicyIndex(policy(GRANTS));

/** What a token would carry: the granted actions per scope. */
const granted = (decisions: { granted: string[] }[]): string[][] => decisions.map((d) => d.granted);

describe('DecisionCache', () => {
  const requests: [string, Requester, ResourceScope[]][] = [
    ['a group member, several scopes', alice, [repo('team-a/app', 'pull', 'push', 'delete'), repo('team-a/other', 'push'), repo('elsewhere/x', 'pull')]],
    ['a user without the group', bob, [repo('team-a/app', 'pull')]],
    ['a disabled user', { kind: 'user', username: 'carol', groups: ['team-a'] }, [repo('team-a/app', 'pull')]],
    ['an unknown user', { kind: 'user', username: 'mallory', groups: ['team-a'] }, [repo('team-a/app', 'pull')]],
    ['anonymous', anonymous, [repo('public/lib', 'pull', 'push'), repo('team-a/app', 'pull')]],
    ['an identity', ldapAlice, [repo('alice/x', 'push'), repo('team-a/app', 'pull')]],
    [
      'a ServiceAccount',
      {
        kind: 'identity',
        source: 'serviceaccount',
        username: 'system:serviceaccount:ci:builder',
        groups: [],
        authenticated: false,
        serviceAccount: { namespace: 'ci', name: 'builder' },
      },
      [repo('ci/app', 'pull', 'push')],
    ],
    ['the catalog', bob, [{ type: 'registry', name: 'catalog', actions: ['*'] }]],
    ['a scope with a class', alice, [{ type: 'repository', class: 'plugin', name: 'team-a/p', actions: ['pull'] }]],
    ['a repeated scope in one request', alice, [repo('team-a/app', 'push'), repo('team-a/app', 'push')]],
  ];

  it.each(requests)('answers %s exactly as authorize does, first from authorize and then from the cache', (_, requester, scopes) => {
    const cache = new DecisionCache(index);
    const want = authorize(index, requester, scopes);
    expect(cache.authorize('g1', requester, scopes)).toEqual(want);
    const hitsBefore = cache.hits;
    const again = cache.authorize('g1', requester, scopes);
    expect(again).toEqual(want);
    expect(cache.hits - hitsBefore).toBe(scopes.length);
    // Every answer carries the caller's own scope object.
    again.forEach((d, i) => expect(d.scope).toBe(scopes[i]));
  });

  it('a new generation empties the cache wholesale before answering', () => {
    const cache = new DecisionCache(index);
    cache.authorize('g1', alice, [repo('team-a/app', 'push')]);
    cache.authorize('g1', bob, [repo('bob/app', 'push')]);
    expect(cache.size).toBe(2);
    cache.authorize('g2', alice, [repo('team-a/app', 'push')]);
    expect(cache.size).toBe(1);
    expect(cache.hits).toBe(0);
  });

  it('attack: after a generation change, a revoked grant gives nothing, even to a requester whose decision was cached', () => {
    const before = buildPolicyIndex(policy(GRANTS));
    const after = buildPolicyIndex(policy(GRANTS.filter((g) => g.source !== 'registry/team-a-write')));
    // One index object whose content changes (as an index patched in place would): only the generation says so.
    const live: { -readonly [K in keyof PolicyIndex]: PolicyIndex[K] } = { ...before };
    const cache = new DecisionCache(live);
    expect(granted(cache.authorize('g1', alice, [repo('team-a/app', 'pull', 'push')]))).toEqual([['pull', 'push']]);
    Object.assign(live, after);
    expect(granted(cache.authorize('g2', alice, [repo('team-a/app', 'pull', 'push')]))).toEqual([[]]);
    expect(cache.hits).toBe(0);
  });

  it('attack: a user cannot get another requester’s cached decision', () => {
    const cache = new DecisionCache(index);
    const scope = [repo('team-a/app', 'pull', 'push', 'delete')];
    expect(granted(cache.authorize('g1', alice, scope))).toEqual([['pull', 'push', 'delete']]);
    const others: [string, Requester, string[]][] = [
      ['another user', bob, []],
      ['the same name without the group', { kind: 'user', username: 'alice', groups: [] }, ['delete']],
      [
        'the same name and groups from an identity source',
        { kind: 'identity', source: 'ldap', username: 'alice', groups: ['team-a'], authenticated: true },
        ['pull', 'push', 'delete'],
      ],
      ['the same name from an identity source without the group', ldapAlice, ['delete']],
      ['anonymous', anonymous, []],
      ['a user named like the group', { kind: 'user', username: 'team-a', groups: [] }, []],
    ];
    for (const [what, requester, want] of others) {
      expect(granted(cache.authorize('g1', requester, scope)), what).toEqual([want]);
      expect(granted(authorize(index, requester, scope)), what).toEqual([want]);
    }
  });

  it('attack: requesters differing only in a ServiceAccount or in being authenticated never share an entry', () => {
    const cache = new DecisionCache(index);
    const sa = (namespace: string): Requester => ({
      kind: 'identity',
      source: 'serviceaccount',
      username: 'system:serviceaccount:ci:builder',
      groups: [],
      authenticated: true,
      serviceAccount: { namespace, name: 'builder' },
    });
    expect(granted(cache.authorize('g1', sa('ci'), [repo('ci/app', 'push')]))).toEqual([['push']]);
    expect(granted(cache.authorize('g1', sa('evil'), [repo('ci/app', 'push')]))).toEqual([[]]);
    const withoutAuthenticated: Requester = { kind: 'identity', source: 'oidc', username: 'erin', groups: [], authenticated: false };
    const withAuthenticated: Requester = { ...withoutAuthenticated, authenticated: true };
    expect(granted(cache.authorize('g1', withAuthenticated, [repo('erin/app', 'push')]))).toEqual([['push']]);
    expect(granted(cache.authorize('g1', withoutAuthenticated, [repo('erin/app', 'push')]))).toEqual([[]]);
  });

  it('a scope differing in actions or class is its own entry', () => {
    const cache = new DecisionCache(index);
    expect(granted(cache.authorize('g1', bob, [repo('bob/app', 'pull')]))).toEqual([['pull']]);
    expect(granted(cache.authorize('g1', bob, [repo('bob/app', 'pull', 'push')]))).toEqual([['pull', 'push']]);
    expect(cache.authorize('g1', bob, [{ type: 'repository', class: 'plugin', name: 'bob/app', actions: ['pull'] }])[0]?.scope.class).toBe('plugin');
    expect(cache.size).toBe(3);
  });

  it('attack: changing an answer does not change what the next requester gets', () => {
    const cache = new DecisionCache(index);
    cache.authorize('g1', bob, [repo('team-a/app', 'pull')]);
    const hit = cache.authorize('g1', bob, [repo('team-a/app', 'pull')])[0]!;
    expect(() => hit.granted.push('push')).toThrow(TypeError);
    const miss = cache.authorize('g1', alice, [repo('team-a/x', 'pull')])[0]!;
    miss.granted.push('delete');
    expect(granted(cache.authorize('g1', alice, [repo('team-a/x', 'pull')]))).toEqual([['pull']]);
  });

  it('gives a shared (frozen) scope the same frozen answer on every hit, and any other scope a fresh one', () => {
    const cache = new DecisionCache(index);
    const scope = Object.freeze({ type: 'repository', name: 'team-a/app', actions: Object.freeze(['pull']) as string[] });
    const first = cache.authorize('g1', bob, [scope])[0]!;
    const hit = cache.authorize('g1', bob, [scope])[0]!;
    expect(cache.authorize('g1', bob, [scope])[0]).toBe(hit);
    expect(hit).toEqual(first);
    expect(Object.isFrozen(hit)).toBe(true);
    const copy = cache.authorize('g1', bob, [repo('team-a/app', 'pull')])[0]!;
    expect(copy).not.toBe(hit);
    expect(copy).toEqual(hit);
    expect(Object.isFrozen(copy)).toBe(false);
  });

  it('holds at most maxEntries decisions, forgetting the least recently used', () => {
    const cache = new DecisionCache(index, 3);
    for (let i = 0; i < 3; i++) cache.authorize('g1', alice, [repo(`team-a/app-${i}`, 'pull')]);
    cache.authorize('g1', alice, [repo('team-a/app-0', 'pull')]); // used again: now the most recent
    for (let i = 3; i < 20; i++) {
      cache.authorize('g1', alice, [repo(`team-a/app-${i}`, 'pull')]);
      cache.authorize('g1', alice, [repo('team-a/app-0', 'pull')]);
      expect(cache.size).toBeLessThanOrEqual(3);
    }
    expect(cache.size).toBe(3);
    const hits = cache.hits;
    cache.authorize('g1', alice, [repo('team-a/app-0', 'pull')]);
    expect(cache.hits).toBe(hits + 1);
    cache.authorize('g1', alice, [repo('team-a/app-1', 'pull')]);
    expect(cache.hits).toBe(hits + 1);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses maxEntries %s', (max) => {
    expect(() => new DecisionCache(index, max)).toThrow(/positive integer/);
  });
});

describe('authorizeCached', () => {
  it('keeps one cache per index: two registries in one generation never share decisions', () => {
    const open = buildPolicyIndex(policy([grant('registry/all', [{ kind: 'Authenticated' }], ['**'], ['pull', 'push'])]));
    const closed = buildPolicyIndex(policy([]));
    expect(granted(authorizeCached(open, 'g1', bob, [repo('x/y', 'push')]))).toEqual([['push']]);
    expect(granted(authorizeCached(closed, 'g1', bob, [repo('x/y', 'push')]))).toEqual([[]]);
    expect(granted(authorizeCached(open, 'g1', bob, [repo('x/y', 'push')]))).toEqual([['push']]);
    expect(decisionCacheOf(open)?.hits).toBe(1);
    expect(decisionCacheOf(closed)?.hits).toBe(0);
  });

  it('attack: a new index built for a new snapshot starts empty, so a revoked grant is never served from the old one', () => {
    const before = buildPolicyIndex(policy(GRANTS));
    expect(granted(authorizeCached(before, 'g1', alice, [repo('team-a/app', 'push')]))).toEqual([['push']]);
    const after = buildPolicyIndex(policy(GRANTS.map((g) => (g.source === 'registry/team-a-write' ? { ...g, actions: ['pull' as const] } : g))));
    expect(granted(authorizeCached(after, 'g2', alice, [repo('team-a/app', 'pull', 'push')]))).toEqual([['pull']]);
    expect(decisionCacheOf(after)?.hits).toBe(0);
  });
});
