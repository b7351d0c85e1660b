import { describe, expect, it } from 'vitest';
import { authorize, buildPolicyIndex, type Requester } from './authorize.js';
import type { ResourceScope } from './scope.js';
import { alice, anonymous, bob, carol, grant, policy, repo, user } from '../test/support/policy-fixtures.js';
import type { GrantEntry, UserEntry } from './types.js';

const grants: GrantEntry[] = [
  grant('registry/team-a-write', [{ kind: 'Group', name: 'team-a' }], ['team-a/**'], ['pull', 'push']),
  grant('registry/public-read', [{ kind: 'Anonymous' }], ['public/*'], ['pull']),
  grant('registry/everyone-read', [{ kind: 'Authenticated' }], ['shared/**'], ['pull']),
  grant('registry/own-space', [{ kind: 'Authenticated' }], ['${user}/**'], ['*']),
  grant('registry/bob-delete', [{ kind: 'User', name: 'bob' }], ['team-a/old'], ['delete']),
  grant('registry/bob-catalog', [{ kind: 'User', name: 'bob' }], ['catalog-only'], ['pull'], true),
  grant('registry/alice-extra', [{ kind: 'User', name: 'alice' }], ['team-a/app'], ['pull']),
];

describe('authorize', () => {
  const index = buildPolicyIndex(policy(grants));
  const cases: [string, Requester, ResourceScope, string[], string[]][] = [
    [
      'a group member gets what the group grant allows',
      alice,
      repo('team-a/app', 'pull', 'push'),
      ['pull', 'push'],
      ['registry/alice-extra', 'registry/team-a-write'],
    ],
    ['granted is requested ∩ allowed', alice, repo('team-a/app', 'pull', 'delete'), ['pull'], ['registry/alice-extra', 'registry/team-a-write']],
    ['a non-member gets nothing from a group grant', bob, repo('team-a/app', 'pull'), [], []],
    ['grants union: a user grant adds to nothing else', bob, repo('team-a/old', 'pull', 'delete'), ['delete'], ['registry/bob-delete']],
    ['anonymous requests get anonymous grants', anonymous, repo('public/app', 'pull'), ['pull'], ['registry/public-read']],
    ['anonymous grants do not apply to signed-in users', alice, repo('public/app', 'pull'), [], []],
    ['authenticated grants apply to any signed-in user', bob, repo('shared/x/y', 'pull'), ['pull'], ['registry/everyone-read']],
    ['authenticated grants do not apply to anonymous requests', anonymous, repo('shared/x', 'pull'), [], []],
    ['${user} gives each user their own space', bob, repo('bob/app', 'pull', 'push', 'delete'), ['pull', 'push', 'delete'], ['registry/own-space']],
    ["${user} does not reach another user's space", bob, repo('alice/app', 'pull'), [], []],
    ['grant action * allows the * action', alice, repo('alice/app', '*'), ['*'], ['registry/own-space']],
    ['unknown requested actions are never granted', alice, repo('alice/app', 'pull', 'frobnicate'), ['pull'], ['registry/own-space']],
    [
      'the class of a repository scope is ignored for matching',
      alice,
      { type: 'repository', class: 'plugin', name: 'team-a/p', actions: ['pull'] },
      ['pull'],
      ['registry/team-a-write'],
    ],
    ['a disabled user gets nothing', carol, repo('carol/app', 'pull'), [], []],
    ['an unknown user gets nothing', { kind: 'user', username: 'mallory', groups: ['team-a'] }, repo('team-a/app', 'pull'), [], []],
    ['the catalog needs a catalog grant', alice, { type: 'registry', name: 'catalog', actions: ['*'] }, [], []],
    ['a catalog grant gives registry:catalog:*', bob, { type: 'registry', name: 'catalog', actions: ['*'] }, ['*'], ['registry/bob-catalog']],
    ['the catalog is granted only as *', bob, { type: 'registry', name: 'catalog', actions: ['pull'] }, [], []],
    ['other resource types get nothing', alice, { type: 'plugin', name: 'x', actions: ['pull'] }, [], []],
    ['a grant that matches but lacks the action does not contribute', alice, repo('team-a/app', 'delete'), [], []],
  ];
  it.each(cases)('%s', (_sentence, requester, scope, granted, sources) => {
    const [decision] = authorize(index, requester, [scope]);
    expect(decision?.scope).toEqual(scope);
    expect(decision?.granted).toEqual(granted);
    expect(decision?.grants).toEqual(sources);
    expect(decision?.reason).toEqual(expect.any(String));
  });

  it('returns one decision per scope, in order, including empty ones', () => {
    const decisions = authorize(index, alice, [repo('nothing/here', 'pull'), repo('team-a/x', 'push')]);
    expect(decisions.map((d) => [d.scope.name, d.granted])).toEqual([
      ['nothing/here', []],
      ['team-a/x', ['push']],
    ]);
    expect(decisions[0]?.reason).toContain('no grant');
  });

  it('says why a matching grant gave nothing', () => {
    const [d] = authorize(index, alice, [repo('team-a/app', 'delete')]);
    expect(d?.reason).toContain('none allows');
  });

  it('uses the groups passed in the requester', () => {
    const [d] = authorize(index, { kind: 'user', username: 'bob', groups: ['team-a'] }, [repo('team-a/app', 'push')]);
    expect(d?.granted).toEqual(['push']);
  });
});

describe('authorize at scale', () => {
  it('finds the right grants among 10,000', () => {
    const many: GrantEntry[] = [];
    const users: UserEntry[] = [];
    for (let i = 0; i < 10_000; i++) {
      const team = `team${i % 1000}`;
      many.push(
        grant(
          `ns/g${String(i).padStart(5, '0')}`,
          [{ kind: 'Group', name: team }],
          [`${team}/app${i}`, `${team}/shared/**`],
          i % 2 === 0 ? ['pull'] : ['pull', 'push'],
        ),
      );
      if (i < 1000) users.push(user(`u${i}`, [`team${i}`]));
    }
    many.push(grant('ns/wild', [{ kind: 'Authenticated' }], ['*/readme'], ['pull']));
    const index = buildPolicyIndex(policy(many, users));
    const u7: Requester = { kind: 'user', username: 'u7', groups: ['team7'] };
    const decisions = authorize(index, u7, [
      repo('team7/app1007', 'pull', 'push'),
      repo('team7/shared/x', 'push'),
      repo('team8/app8', 'pull'),
      repo('team8/readme', 'pull'),
    ]);
    expect(decisions.map((d) => d.granted)).toEqual([['pull', 'push'], ['push'], [], ['pull']]);
    expect(decisions[0]?.grants).toEqual(['ns/g01007']);
    // team7/shared/** is in the ten grants i ≡ 7 (mod 1000); the odd ones allow push.
    expect(decisions[1]?.grants).toEqual([
      'ns/g00007',
      'ns/g01007',
      'ns/g02007',
      'ns/g03007',
      'ns/g04007',
      'ns/g05007',
      'ns/g06007',
      'ns/g07007',
      'ns/g08007',
      'ns/g09007',
    ]);
    expect(decisions[3]?.grants).toEqual(['ns/wild']);
  });
});
