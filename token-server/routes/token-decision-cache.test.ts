// Tokens are decided through the decision cache (policy/decision-cache.ts): a policy change must reach the
// very next token of a requester whose decision was cached, and one requester never gets another's.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decisionCacheOf } from '../../policy/decision-cache.js';
import type { GrantEntry } from '../../policy/types.js';
import { harness, verifyLikeRegistry, type Harness } from '../../test/support/token-server-app.js';
import { basic, makeKeys, PASSWORDS, SERVICE, snapshotOf, type FixtureUser } from '../../test/support/token-server-fixtures.js';
import type { SigningKeySet } from '../../wire/signing-key-set.js';
import { buildPolicyState } from '../sources/policy-state.js';

const now = new Date('2031-03-04T05:06:07Z');
const USERS: FixtureUser[] = [
  { username: 'alice', groups: ['team-a'], password: PASSWORDS.alice },
  { username: 'dave', groups: [], password: PASSWORDS.dave },
];
let keys: { set: SigningKeySet; bundle: string; cleanup: () => Promise<void> };
let h: Harness;

beforeAll(async () => {
  keys = await makeKeys(new Date(now.getTime() - 3600_000));
});
afterAll(async () => {
  await keys.cleanup();
});
beforeEach(async () => {
  h = await harness({ set: keys.set, now, users: USERS });
});

/** The actions the token of `username` carries for `repository:name`, asking for pull, push and delete. */
async function actionsOf(username: 'alice' | 'dave', name: string): Promise<string[]> {
  const response = await h.app.inject({
    method: 'GET',
    url: `/token?service=${SERVICE}&scope=repository:${name}:pull,push,delete`,
    headers: { authorization: basic(username, PASSWORDS[username] as string) },
  });
  expect(response.statusCode, response.body).toBe(200);
  const { claims } = await verifyLikeRegistry(response.json<{ token: string }>().token, keys.bundle, { issuer: 'portcullis-test', audience: SERVICE, now });
  return claims.access?.find((a) => a.name === name)?.actions ?? [];
}

/** Serves the current snapshot with the main registry's grants changed by `change`. */
function changeGrants(change: (grants: GrantEntry[]) => GrantEntry[]): void {
  const registries = h.snapshot.registries.map((r) => (r.service === SERVICE ? { ...r, grants: change(r.grants) } : r));
  h.snapshot = snapshotOf(registries);
  h.policy.set(buildPolicyState(h.snapshot, h.credentials, now));
}

const mainIndex = () => h.policy.current()!.registries.get(SERVICE)!.index;

describe('tokens through the decision cache', () => {
  it('a repeated request is answered from the cache with the same token access', async () => {
    expect(await actionsOf('alice', 'team-a/app')).toEqual(['pull', 'push']);
    expect(await actionsOf('alice', 'team-a/app')).toEqual(['pull', 'push']);
    expect(decisionCacheOf(mainIndex())?.hits).toBe(1);
  });

  it('attack: a revoked action is gone from the next token of a requester whose decision was cached', async () => {
    expect(await actionsOf('alice', 'team-a/app')).toEqual(['pull', 'push']);
    expect(await actionsOf('alice', 'team-a/app')).toEqual(['pull', 'push']);
    changeGrants((grants) => grants.map((g) => (g.source === 'registry/team-a' ? { ...g, actions: ['pull'] } : g)));
    expect(await actionsOf('alice', 'team-a/app')).toEqual(['pull']);
    changeGrants((grants) => grants.filter((g) => g.source !== 'registry/team-a'));
    expect(await actionsOf('alice', 'team-a/app')).toEqual([]);
  });

  it('attack: a user taken out of a group loses what the group gave, at once', async () => {
    expect(await actionsOf('alice', 'team-a/app')).toEqual(['pull', 'push']);
    await h.setUsers([{ ...USERS[0]!, groups: [] }, USERS[1]!]);
    expect(await actionsOf('alice', 'team-a/app')).toEqual([]);
  });

  it('attack: a user never gets the cached decision of another user for the same scope', async () => {
    expect(await actionsOf('alice', 'team-a/app')).toEqual(['pull', 'push']);
    expect(await actionsOf('dave', 'team-a/app')).toEqual([]);
    expect(await actionsOf('dave', 'team-a/app')).toEqual([]);
    expect(await actionsOf('alice', 'team-a/app')).toEqual(['pull', 'push']);
  });

  it("attack: nothing remembered of one user's decision reaches another's audit line or POST scope for the same scope", async () => {
    // Decisions of a shared (memoized) scope come back as the same frozen object with their audit text
    // remembered beside it (token-audit.ts): keyed by anything less than the whole decision, alice's
    // grant would be written in dave's line.
    const SCOPE = 'repository:team-a/app:pull,push,delete';
    const post = (username: 'alice' | 'dave') =>
      h.app.inject({
        method: 'POST',
        url: '/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'password',
          client_id: 'test',
          service: SERVICE,
          username,
          password: PASSWORDS[username] as string,
          scope: SCOPE,
        }).toString(),
      });
    for (const username of ['alice', 'dave', 'alice', 'dave'] as const) {
      expect(await actionsOf(username, 'team-a/app')).toEqual(username === 'alice' ? ['pull', 'push'] : []);
      const answer = await post(username);
      expect(answer.statusCode, answer.body).toBe(200);
      expect(answer.json<{ scope: string }>().scope).toBe(username === 'alice' ? 'repository:team-a/app:pull,push' : '');
    }
    const lines = h.log.lines.filter((line) => line.audit === 'token');
    expect(lines).toHaveLength(8);
    for (const line of lines) {
      const alice = line.user === 'alice';
      expect(line.granted, String(line.user)).toEqual(alice ? ['repository:team-a/app:pull,push'] : []);
      const [decision] = line.decisions as { granted: string[]; grants: string[]; reason: string }[];
      expect(decision!.granted).toEqual(alice ? ['pull', 'push'] : []);
      expect(decision!.reason).toContain(alice ? 'alice' : 'dave');
      expect(decision!.reason).not.toContain(alice ? 'dave' : 'alice');
    }
  });

  it('a new grant reaches the next token of a requester whose refusal was cached', async () => {
    expect(await actionsOf('dave', 'dave-team/app')).toEqual([]);
    changeGrants((grants) => [
      ...grants,
      { source: 'registry/dave', subjects: [{ kind: 'User', name: 'dave' }], repositories: ['dave-team/*'], actions: ['pull', 'delete'], catalog: false },
    ]);
    expect(await actionsOf('dave', 'dave-team/app')).toEqual(['pull', 'delete']);
  });
});
