// updatePolicyIndex against buildPolicyIndex: along random sequences of snapshots that share their
// unchanged entries (as the shard reader hands them over), authorize gives the same decisions on the
// patched index as on a fresh one, for users (delegated ones too), anonymous requests and identities;
// and the previous index still decides as before (requests in flight keep their generation).
import { describe, expect, it } from 'vitest';
import { authorize, buildPolicyIndex, type PolicyIndex, type Requester } from './authorize.js';
import { updatePolicyIndex } from './policy-index-delta.js';
import type { ResourceScope } from './scope.js';
import type { GrantEntry, RegistryPolicy, Subject, UserEntry } from './types.js';
import { random } from '../local/seeded-random.js';

const pick = <T>(rnd: () => number, list: readonly T[]): T => list[Math.floor(rnd() * list.length)] as T;

const NAMES = ['u0', 'u1', 'u2', 'u3', 'team', 'lib'];
const GROUPS = ['devs', 'ops', 'shared-x'];
const PATTERNS = ['team/app', 'team/*', 'team/app/**', 'lib/**', '**', '*/app', '${user}/*', 'team/${user}', 'team-a/**', 'lib/base', 'u0/x'];
const REPOS = ['team/app', 'team/app/x', 'team/u1', 'lib/base', 'lib/x/y', 'u0/x', 'u1/app', 'team-a/z', 'other'];

function userEntry(rnd: () => number, username: string): UserEntry {
  const groups = GROUPS.filter(() => rnd() < 0.4);
  const entry: UserEntry = { username, groups, disabled: rnd() < 0.1, credentialRevision: 'r', source: `ns/${username}` };
  if (rnd() < 0.3) {
    entry.tenancy = {
      namespace: 'team-a',
      prefixes: ['team-a/**'],
      trustedUsername: rnd() < 0.3,
      trustedGroups: groups.filter((g) => g.startsWith('shared')),
      trustedAuthenticated: rnd() < 0.3,
    };
  }
  return entry;
}

function grantEntry(rnd: () => number, source: string): GrantEntry {
  const subjects: Subject[] = [
    pick<Subject>(rnd, [
      { kind: 'User', name: pick(rnd, NAMES) },
      { kind: 'Group', name: pick(rnd, GROUPS) },
      { kind: 'Anonymous' },
      { kind: 'Authenticated' },
      { kind: 'ServiceAccount', namespace: 'ci' },
      { kind: 'ServiceAccount', namespace: 'ci', name: 'builder' },
    ]),
  ];
  if (rnd() < 0.3) subjects.push({ kind: 'Group', name: pick(rnd, GROUPS) });
  return {
    source,
    subjects,
    repositories: [...new Set([pick(rnd, PATTERNS), ...(rnd() < 0.4 ? [pick(rnd, PATTERNS)] : [])])].sort(),
    actions: rnd() < 0.2 ? ['*'] : rnd() < 0.5 ? ['pull'] : ['pull', 'push'],
    catalog: rnd() < 0.2,
  };
}

function policyOf(users: Map<string, UserEntry>, grants: Map<string, GrantEntry>): RegistryPolicy {
  return {
    id: 'registry/main',
    service: 'registry.example.com',
    issuer: 'portcullis',
    tokenTTLSeconds: 300,
    signingAlgorithm: 'ES256',
    users: [...users.values()].sort((a, b) => (a.username < b.username ? -1 : 1)),
    grants: [...grants.values()].sort((a, b) => (a.source < b.source ? -1 : 1)),
  };
}

const requesters: Requester[] = [
  { kind: 'anonymous' },
  ...NAMES.map((username): Requester => ({ kind: 'user', username, groups: ['devs', 'shared-x'] })),
  ...NAMES.map((username): Requester => ({ kind: 'user', username, groups: [] })),
  { kind: 'identity', source: 'ldap', username: 'ldap:u0', groups: ['ldap:devs'], authenticated: true },
  {
    kind: 'identity',
    source: 'serviceaccount',
    username: 'system:serviceaccount:ci:builder',
    groups: [],
    authenticated: false,
    serviceAccount: { namespace: 'ci', name: 'builder' },
  },
];
const scopes: ResourceScope[] = [
  ...REPOS.map((name): ResourceScope => ({ type: 'repository', name, actions: ['pull', 'push', 'delete'] })),
  { type: 'registry', name: 'catalog', actions: ['*'] },
];

function decisions(index: PolicyIndex): string {
  return JSON.stringify(requesters.map((r) => authorize(index, r, scopes)));
}

describe('updatePolicyIndex', () => {
  it.each([1, 2, 3, 4, 5, 6])(
    'decides as buildPolicyIndex along random edits (seed %i)',
    (seed) => {
      const rnd = random(seed);
      const users = new Map<string, UserEntry>();
      const grants = new Map<string, GrantEntry>();
      for (let i = 0; i < 120; i++) grants.set(`ns/g${i}`, grantEntry(rnd, `ns/g${i}`));
      for (const name of NAMES) users.set(name, userEntry(rnd, name));
      let policy = policyOf(users, grants);
      let index = buildPolicyIndex(policy);
      for (let step = 0; step < 40; step++) {
        const edits = 1 + Math.floor(rnd() * 4);
        for (let e = 0; e < edits; e++) {
          const r = rnd();
          const source = `ns/g${Math.floor(rnd() * 130)}`;
          if (r < 0.5) grants.set(source, grantEntry(rnd, source));
          else if (r < 0.75) grants.delete(source);
          else if (r < 0.9) users.set(pick(rnd, NAMES), userEntry(rnd, pick(rnd, NAMES)));
          else users.delete(pick(rnd, NAMES));
        }
        // A user entry keyed under another name is a rename: the map key is not its username.
        for (const [name, u] of users) if (u.username !== name) users.set(name, { ...u, username: name, source: `ns/${name}` });
        const before = { index, decided: decisions(index) };
        policy = policyOf(users, grants);
        index = updatePolicyIndex(index, policy);
        expect(decisions(index)).toEqual(decisions(buildPolicyIndex(policy)));
        expect(decisions(before.index)).toEqual(before.decided);
      }
    },
    60_000,
  );
});
