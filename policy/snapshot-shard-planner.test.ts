// The shard planner and the remembered-JSON generation against the from-scratch functions: after each
// change (an entry edited, added, removed, the shard count growing or shrinking) the files are
// byte-identical to shardSnapshot's and the generation is snapshotOf's.
import { describe, expect, it } from 'vitest';
import { snapshotOf } from './snapshot-format.js';
import { ShardPlanner } from './snapshot-shard-planner.js';
import { EntryJson, generationOf, hashedFromEntries } from './snapshot-json.js';
import { ENTRIES_PER_SHARD, shardSnapshot } from './snapshot-shards.js';
import type { GrantEntry, RegistryPolicy, UserEntry } from './types.js';

const user = (i: number, rev = 0): UserEntry => ({
  username: `user-${i}`,
  groups: [`team-${i % 7}`],
  disabled: false,
  credentialRevision: `rev-${i}-${rev}`,
  source: `bench/user-${i}`,
  ...(i % 5 === 0 ? { tenancy: { namespace: 'team-a', prefixes: ['team-a/**'], trustedUsername: false, trustedGroups: [], trustedAuthenticated: false } } : {}),
});
const grant = (i: number, actions: GrantEntry['actions'] = ['pull']): GrantEntry => ({
  source: `bench/grant-${i}`,
  subjects: [{ kind: 'User', name: `user-${i}` }],
  repositories: [`u-${i}/app`, 'caf\u00e9/\u{1f600}'],
  actions,
  catalog: i % 3 === 0,
});

function policy(users: UserEntry[], grants: GrantEntry[], realm?: string): RegistryPolicy {
  return {
    id: 'bench/main',
    service: 'bench.registry',
    issuer: 'portcullis',
    ...(realm === undefined ? {} : { realm }),
    tokenTTLSeconds: 300,
    signingAlgorithm: 'ES256',
    users: [...users].sort((a, b) => (a.username < b.username ? -1 : 1)),
    grants: [...grants].sort((a, b) => (a.source < b.source ? -1 : 1)),
  };
}

describe('ShardPlanner and generationOf', () => {
  it('make the files and generation the from-scratch functions make, change after change', () => {
    const json = new EntryJson();
    const planner = new ShardPlanner(json);
    let users = Array.from({ length: 1500 }, (_, i) => user(i));
    let grants = Array.from({ length: ENTRIES_PER_SHARD + 10 }, (_, i) => grant(i));
    const changes: (() => void)[] = [
      () => (grants = grants.map((g, i) => (i === 17 ? grant(17, ['pull', 'push']) : g))),
      () => (users = users.map((u, i) => (i === 3 ? user(3, 1) : u))),
      () => (grants = [...grants, grant(5000)]),
      () => (grants = grants.filter((_, i) => i > 20)),
      () => (users = [...users, ...Array.from({ length: 1000 }, (_, i) => user(10_000 + i))]),
      () => (users = users.slice(0, 10)),
    ];
    for (const [i, change] of [() => undefined, ...changes].entries()) {
      change();
      // A realm holding the marks' text must not confuse the pieces.
      const p = policy(users, grants, i % 2 === 0 ? undefined : '"users":"\u0000portcullis-users\u0000"');
      const expected = snapshotOf([p]);
      expect(hashedFromEntries(p)).toBe(true);
      expect(generationOf([p], json)).toBe(expected.generation);
      expect(planner.files(expected)).toEqual(shardSnapshot(expected));
    }
  });

  it('resumes the hash from the first block that changed, and gives the from-scratch generation', () => {
    const json = new EntryJson();
    let users = Array.from({ length: 3000 }, (_, i) => user(i));
    let grants = Array.from({ length: 3000 }, (_, i) => grant(i));
    const check = (): number => {
      const p = policy(users, grants);
      expect(generationOf([p], json)).toBe(snapshotOf([p]).generation);
      return json.lastHashedPieces;
    };
    const all = check();
    // Blocks of 256: 12 per list, with separators and the policy's own text, about 50 pieces.
    expect(all).toBeGreaterThan(40);
    expect(check()).toBeLessThanOrEqual(3);
    // The last user (users come last in canonical order): only its block and what follows.
    users = users.map((u) => (u.username === 'user-999' ? user(999, 1) : u));
    expect(check()).toBeLessThanOrEqual(6);
    // The first grant: everything from the grants on.
    grants = grants.map((g, i) => (i === 0 ? grant(0, ['pull', 'push']) : g));
    expect(check()).toBeGreaterThan(all - 6);
    // Back again, then a change in the middle, a removal and an addition: the from-scratch generation each time.
    grants = grants.map((g, i) => (i === 0 ? grant(0) : g));
    check();
    // grant-999 sorts last of the grants: its block, then the users.
    grants = grants.map((g, i) => (i === 999 ? grant(999, ['delete']) : g));
    const middle = check();
    expect(middle).toBeLessThan(all * 0.6);
    expect(middle).toBeGreaterThan(all * 0.4);
    users = users.filter((_, i) => i !== 10);
    check();
    grants = [...grants, grant(9999)];
    check();
    // Another policy (another key) does not disturb the first one's states.
    const other = { ...policy(users, grants), id: 'bench/other' };
    expect(generationOf([other], json)).toBe(snapshotOf([other]).generation);
    expect(check()).toBeLessThanOrEqual(3);
  });
});
