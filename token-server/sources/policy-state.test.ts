import { describe, expect, it } from 'vitest';
import { snapshotOf } from '../../policy/snapshot-format.js';
import { CREDENTIALS_FORMAT, type Credentials, type GrantEntry, type RegistryPolicy } from '../../policy/types.js';
import { credentialRevision } from '../../policy/revision.js';
import { buildPolicyState, type StoredCredentialMemo } from './policy-state.js';

const HASH_A = '$2y$04$qpWk4xMnvI3vbd3irWfnZeURM.f9S5N5AZw0FjrkJ3RJTGeW8yipO';
const HASH_B = '$2b$05$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234';
const policy: RegistryPolicy = {
  id: 'r/main',
  service: 'svc',
  issuer: 'i',
  tokenTTLSeconds: 300,
  signingAlgorithm: 'ES256',
  users: [
    ['ann', HASH_A],
    ['bob', HASH_B],
    ['eve', '$2b$31$' + 'x'.repeat(53)],
  ].map(([username, hash]) => ({ username: username!, groups: [], disabled: false, credentialRevision: credentialRevision(hash!), source: `r/${username}` })),
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

describe('a reload that changed no user and no credential', () => {
  const first = (creds: Credentials, memo: StoredCredentialMemo = new Map()) => buildPolicyState(snapshotOf([policy]), creds, new Date(0), memo);
  const grant: GrantEntry = { source: 'r/g', subjects: [{ kind: 'User', name: 'ann' }], repositories: ['ann/*'], actions: ['pull'], catalog: false };

  it('keeps the stored credentials of the state it replaces (a grant change)', () => {
    const creds = credentials(HASH_B);
    const memo: StoredCredentialMemo = new Map();
    const before = first(creds, memo);
    const next = buildPolicyState(snapshotOf([{ ...policy, grants: [grant] }]), creds, new Date(1), memo, before);
    const [was, now] = [before.registries.get('svc')!, next.registries.get('svc')!];
    expect(now.credentials).toBe(was.credentials);
    expect(now.maxCost).toBe(5);
    expect(now.index.registry.grants).toEqual([grant]);
    expect(new Set(memo.keys())).toEqual(new Set([HASH_A, HASH_B, '$2b$31$' + 'x'.repeat(53)]));
  });

  it('a changed password (new credentials) is checked again: the old hash is gone', () => {
    const before = first(credentials(HASH_B));
    // The new snapshot's entry records the new hash's revision, as the compiler writes it.
    const users = policy.users.map((u) => (u.username === 'bob' ? { ...u, credentialRevision: credentialRevision(HASH_A) } : u));
    const next = buildPolicyState(snapshotOf([{ ...policy, users }]), credentials(HASH_A), new Date(1), new Map(), before).registries.get('svc')!;
    expect(next.credentials).not.toBe(before.registries.get('svc')!.credentials);
    expect(next.credentials.get('bob')?.hash).toBe(HASH_A.replace(/^\$2y\$/, '$2b$'));
    expect(next.maxCost).toBe(4);
  });

  it('a user gone from the policy has no credential left, even with the credentials object unchanged', () => {
    const creds = credentials(HASH_B);
    const before = first(creds);
    const without = { ...policy, users: policy.users.filter((u) => u.username !== 'bob') };
    const next = buildPolicyState(snapshotOf([without]), creds, new Date(1), new Map(), before).registries.get('svc')!;
    expect(next.credentials.has('bob')).toBe(false);
    expect(next.credentials.has('ann')).toBe(true);
  });

  it('a changed user entry (disabled) builds them again from its own entries', () => {
    const creds = credentials(HASH_B);
    const before = first(creds);
    const users = policy.users.map((u) => (u.username === 'bob' ? { ...u, disabled: true } : u));
    const next = buildPolicyState(snapshotOf([{ ...policy, users }]), creds, new Date(1), new Map(), before).registries.get('svc')!;
    expect(next.credentials).not.toBe(before.registries.get('svc')!.credentials);
    expect(next.index.users.get('bob')?.disabled).toBe(true);
  });
});

describe('a snapshot and credentials of different generations', () => {
  it("a hash counts only for the entry compiled from it: a name that changed hands gets neither user's rights", () => {
    // The snapshot still has bob as compiled from HASH_B (the owner's user); the credentials already hold
    // HASH_A under that name (a tenant's user that took the name once the owner's was deleted).
    const mixed = buildPolicyState(snapshotOf([policy]), credentials(HASH_A), new Date(0)).registries.get('svc')!;
    expect(mixed.credentials.has('bob')).toBe(false);
    expect(mixed.credentials.get('ann')?.revision).toBe(credentialRevision(HASH_A));
    // Once the snapshot catches up, the new entry has its hash.
    const users = policy.users.map((u) => (u.username === 'bob' ? { ...u, credentialRevision: credentialRevision(HASH_A), source: 'team-a/squatter' } : u));
    const caughtUp = buildPolicyState(snapshotOf([{ ...policy, users }]), credentials(HASH_A), new Date(0)).registries.get('svc')!;
    expect(caughtUp.credentials.get('bob')?.revision).toBe(credentialRevision(HASH_A));
  });
});
