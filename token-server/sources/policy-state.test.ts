import { describe, expect, it } from 'vitest';
import { snapshotOf } from '../../policy/snapshot-format.js';
import { CREDENTIALS_FORMAT, type Credentials, type RegistryPolicy } from '../../policy/types.js';
import { buildPolicyState, type StoredCredentialMemo } from './policy-state.js';

const HASH_A = '$2y$04$qpWk4xMnvI3vbd3irWfnZeURM.f9S5N5AZw0FjrkJ3RJTGeW8yipO';
const HASH_B = '$2b$05$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234';
const policy: RegistryPolicy = {
  id: 'r/main',
  service: 'svc',
  issuer: 'i',
  tokenTTLSeconds: 300,
  signingAlgorithm: 'ES256',
  users: ['ann', 'bob', 'eve'].map((username) => ({ username, groups: [], disabled: false, credentialRevision: '', source: `r/${username}` })),
  grants: [],
};
const credentials = (bob: string): Credentials => ({
  format: CREDENTIALS_FORMAT,
  registries: { 'r/main': { ann: HASH_A, bob, eve: '$2b$31$' + 'x'.repeat(53) } },
});
const stored = (memo?: StoredCredentialMemo, bob = HASH_B) =>
  buildPolicyState(snapshotOf([policy]), credentials(bob), new Date(0), memo).registries.get('svc')!;

describe('checked credentials kept across reloads', () => {
  it.each([
    ['first load', HASH_B],
    ['one hash changed', HASH_A],
  ])('gives the same state with the memo as without (%s)', (_name, bob) => {
    const memo: StoredCredentialMemo = new Map();
    stored(memo);
    const withMemo = stored(memo, bob);
    expect(withMemo.credentials).toEqual(stored(undefined, bob).credentials);
    expect(withMemo.maxCost).toBe(stored(undefined, bob).maxCost);
    // eve's hash (cost 31) is refused either way; the memo holds only the hashes in use.
    expect(withMemo.credentials.has('eve')).toBe(false);
    expect(new Set(memo.keys())).toEqual(new Set([HASH_A, bob, '$2b$31$' + 'x'.repeat(53)]));
  });

  it('reuses the checked credential of an unchanged hash', () => {
    const memo: StoredCredentialMemo = new Map();
    const first = stored(memo);
    expect(stored(memo).credentials.get('ann')).toBe(first.credentials.get('ann'));
  });
});
