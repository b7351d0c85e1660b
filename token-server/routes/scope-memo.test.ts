// The parsed-scope memo (routes/token.ts): a client may send any scope string, so what the server keeps of
// them must stay small whatever their length.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { BoundedMap } from '../../policy/bounded-map.js';
import { harness, verifyLikeRegistry, type Harness } from '../../test/support/token-server-app.js';
import { basic, keysForFile, PASSWORDS, SERVICE, type FixtureUser } from '../../test/support/token-server-fixtures.js';
import { REMEMBERED_SCOPE_CHARS } from './token.js';

const now = new Date('2031-03-04T05:06:07Z');
const USERS: FixtureUser[] = [{ username: 'alice', groups: ['team-a'], password: PASSWORDS.alice }];
let h: Harness;

const keys = keysForFile(now);
beforeEach(async () => {
  h = await harness({ set: keys.set, now, users: USERS });
});

async function actionsFor(scope: string): Promise<string[]> {
  const response = await h.app.inject({
    method: 'GET',
    url: `/token?service=${SERVICE}&scope=${encodeURIComponent(scope)}`,
    headers: { authorization: basic('alice', PASSWORDS.alice as string) },
  });
  expect(response.statusCode, response.body).toBe(200);
  const { claims } = await verifyLikeRegistry(response.json<{ token: string }>().token, keys.bundle, { issuer: 'portcullis-test', audience: SERVICE, now });
  return claims.access?.find((a) => a.name === 'team-a/app')?.actions ?? [];
}

describe('parsed scopes kept', () => {
  it('attack: scopes padded with empty segments are answered but never kept', async () => {
    const kept = vi.spyOn(BoundedMap.prototype, 'set');
    try {
      for (const pad of [2000, 2001, 30_000]) {
        expect(await actionsFor(`repository:team-a/app:pull,push${' '.repeat(pad)}`)).toEqual(['pull', 'push']);
      }
      expect(await actionsFor('repository:team-a/app:pull,push')).toEqual(['pull', 'push']);
      const keys = kept.mock.calls.map(([key]) => key);
      expect(keys).toContain('repository:team-a/app:pull,push');
      expect(keys.filter((k) => k.length > REMEMBERED_SCOPE_CHARS)).toEqual([]);
    } finally {
      kept.mockRestore();
    }
  });
});
