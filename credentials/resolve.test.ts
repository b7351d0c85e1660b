import bcrypt from 'bcrypt';
import fc from 'fast-check';
import { leakedParts } from '../test/support/assert.js';
import { describe, expect, it } from 'vitest';
import type { RegistryUserResource, SecretResource } from '../crds/types.js';
import { parseHtpasswdHash, resolveCredential } from './resolve.js';

const COST = 4; // the minimum: these tests check behaviour, not strength

function user(key?: string): RegistryUserResource {
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RegistryUser',
    metadata: { name: 'alice', namespace: 'registry' },
    spec: { registryRef: { name: 'main' }, passwordSecretRef: key === undefined ? { name: 'alice-password' } : { name: 'alice-password', key } },
  };
}

function secret(fields: Partial<Pick<SecretResource, 'data' | 'stringData'>>, meta: Partial<SecretResource['metadata']> = {}): SecretResource {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'alice-password', namespace: 'registry', ...meta }, ...fields };
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
// `htpasswd -nbB alice s3cret` output, cost 5.
const Y_HASH = bcrypt.hashSync('s3cret', 5).replace(/^\$2b\$/, '$2y$');

async function hashOf(u: RegistryUserResource, s: SecretResource | undefined): Promise<string> {
  const { credential } = await resolveCredential(u, s, { cost: COST });
  if (!('hash' in credential)) throw new Error(`expected a hash, got ${credential.reason}: ${credential.message}`);
  return credential.hash;
}

describe('resolveCredential', () => {
  it('hashes a plain password from stringData', async () => {
    const hash = await hashOf(user(), secret({ stringData: { password: 's3cret' } }));
    expect(await bcrypt.compare('s3cret', hash)).toBe(true);
    expect(await bcrypt.compare('other', hash)).toBe(false);
  });

  it('decodes a base64 password from data', async () => {
    const hash = await hashOf(user(), secret({ data: { password: b64('pä55 word') } }));
    expect(await bcrypt.compare('pä55 word', hash)).toBe(true);
  });

  it('prefers stringData over data for the same key, as the API server does', async () => {
    const hash = await hashOf(user(), secret({ data: { password: b64('old') }, stringData: { password: 'new' } }));
    expect(await bcrypt.compare('new', hash)).toBe(true);
  });

  it('uses the bcrypt cost it is given', async () => {
    const { credential } = await resolveCredential(user(), secret({ stringData: { password: 'x' } }), { cost: 5 });
    expect('hash' in credential && bcrypt.getRounds(credential.hash)).toBe(5);
  });

  it.each([
    ['a bare $2y$ hash', Y_HASH],
    ['a full htpasswd line', `alice:${Y_HASH}\n`],
    ['a $2a$ hash', Y_HASH.replace('$2y$', '$2a$')],
    ['a $2b$ hash', Y_HASH.replace('$2y$', '$2b$')],
  ])('takes %s from the htpasswd key, comparable by native bcrypt', async (_name, value) => {
    const hash = await hashOf(user('htpasswd'), secret({ stringData: { htpasswd: value } }));
    expect(hash.slice(7)).toBe(Y_HASH.slice(7)); // same salt and digest, only the prefix may be normalised
    expect(await bcrypt.compare('s3cret', hash)).toBe(true);
  });

  it.each([
    ['no Secret', user(), undefined, 'SecretNotFound', 'Secret registry/alice-password was not found'],
    ['no such key', user(), secret({ stringData: { pass: 'x' } }), 'SecretKeyNotFound', 'Secret registry/alice-password has no key "password"'],
    [
      'no htpasswd key',
      user('htpasswd'),
      secret({ stringData: { password: 'x' } }),
      'SecretKeyNotFound',
      'Secret registry/alice-password has no key "htpasswd"',
    ],
    ['an empty password', user(), secret({ stringData: { password: '' } }), 'InvalidCredential', 'Secret registry/alice-password key "password" is empty'],
    [
      'invalid base64',
      user(),
      secret({ data: { password: 'not base64!' } }),
      'InvalidCredential',
      'Secret registry/alice-password: data.password is not valid base64',
    ],
    [
      'a password bcrypt would truncate',
      user(),
      secret({ stringData: { password: 'p'.repeat(73) } }),
      'InvalidCredential',
      'Secret registry/alice-password key "password" is longer than 72 bytes, which bcrypt cannot tell apart; use a shorter password',
    ],
    [
      'an $apr1$ htpasswd hash',
      user('htpasswd'),
      secret({ stringData: { htpasswd: 'alice:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/' } }),
      'InvalidCredential',
      'Secret registry/alice-password key "htpasswd" holds an Apache MD5 ($apr1$) hash; only bcrypt ($2y$, $2a$, $2b$) is supported (htpasswd -B)',
    ],
    [
      'a {SHA} htpasswd hash',
      user('htpasswd'),
      secret({ stringData: { htpasswd: 'alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=' } }),
      'InvalidCredential',
      'Secret registry/alice-password key "htpasswd" holds a SHA-1 ({SHA}) hash; only bcrypt ($2y$, $2a$, $2b$) is supported (htpasswd -B)',
    ],
    [
      'a crypt htpasswd hash',
      user('htpasswd'),
      secret({ stringData: { htpasswd: 'alice:rl5o9Z7tmGDWE' } }),
      'InvalidCredential',
      'Secret registry/alice-password key "htpasswd" holds not a bcrypt hash (crypt or plain text?); only bcrypt ($2y$, $2a$, $2b$) is supported (htpasswd -B)',
    ],
    [
      'two htpasswd lines',
      user('htpasswd'),
      secret({ stringData: { htpasswd: `alice:${Y_HASH}\nbob:${Y_HASH}` } }),
      'InvalidCredential',
      'Secret registry/alice-password key "htpasswd" holds 2 lines; it must hold one bcrypt hash or one user:hash line',
    ],
  ])('refuses %s with a reason and a message that reveals nothing', async (_name, u, s, reason, message) => {
    const result = await resolveCredential(u, s, { cost: COST });
    expect(result).toEqual({ credential: { reason, message }, sourceVersion: '' });
    const value = s?.stringData?.[u.spec.passwordSecretRef.key ?? 'password'];
    // The message may name the format ("$apr1$"); what follows the user name and the format is secret.
    const secretPart = value?.replace(/^[^:$]*:/, '').replace(/^(\$apr1\$|\{SHA\}|\$[156]\$|\$2[abxy]\$\d\d\$)/, '');
    if (secretPart !== undefined) expect(leakedParts(JSON.stringify(result), secretPart)).toEqual([]);
  });

  it('reuses the previous hash, without hashing, while the Secret version is unchanged', async () => {
    const s = secret({ stringData: { password: 's3cret' } }, { uid: 'u-1', resourceVersion: '7' });
    const first = await resolveCredential(user(), s, { cost: COST });
    expect(first.sourceVersion).not.toBe('');
    // A sentinel bcrypt could never produce: getting it back proves no new hash was computed.
    const sentinel = { hash: 'previous-hash-not-bcrypt', sourceVersion: first.sourceVersion };
    const again = await resolveCredential(user(), s, { cost: COST, previous: sentinel });
    expect(again).toEqual({ credential: { hash: sentinel.hash }, sourceVersion: first.sourceVersion });
  });

  it('hashes again when the Secret changes (resourceVersion)', async () => {
    const before = await resolveCredential(user(), secret({ stringData: { password: 'a' } }, { uid: 'u', resourceVersion: '1' }), { cost: COST });
    const after = await resolveCredential(user(), secret({ stringData: { password: 'b' } }, { uid: 'u', resourceVersion: '2' }), {
      cost: COST,
      previous: { hash: 'stale', sourceVersion: before.sourceVersion },
    });
    expect(after.sourceVersion).not.toBe(before.sourceVersion);
    expect('hash' in after.credential && (await bcrypt.compare('b', after.credential.hash))).toBe(true);
  });

  it('identifies manifest Secrets (no uid) by an HMAC of the value under the caller key', async () => {
    const key = 'k'.repeat(32);
    const a1 = await resolveCredential(user(), secret({ stringData: { password: 's3cret' } }), { cost: COST, hmacKey: key });
    const a2 = await resolveCredential(user(), secret({ data: { password: b64('s3cret') } }), { cost: COST, hmacKey: key });
    const b = await resolveCredential(user(), secret({ stringData: { password: 's3cret!' } }), { cost: COST, hmacKey: key });
    const otherKey = await resolveCredential(user(), secret({ stringData: { password: 's3cret' } }), { cost: COST, hmacKey: 'other' });
    expect(a1.sourceVersion).toBe(a2.sourceVersion);
    expect(a1.sourceVersion).not.toBe(b.sourceVersion);
    expect(a1.sourceVersion).not.toBe(otherKey.sourceVersion);
    expect(a1.sourceVersion).not.toContain('s3cret');
  });

  it('treats a switch from password to htpasswd as a new version even if the Secret is the same', async () => {
    const s = secret({ stringData: { password: 'x', htpasswd: Y_HASH } }, { uid: 'u', resourceVersion: '1' });
    const plain = await resolveCredential(user('password'), s, { cost: COST });
    const hashed = await resolveCredential(user('htpasswd'), s, { cost: COST, previous: { hash: 'stale', sourceVersion: plain.sourceVersion } });
    expect(hashed.credential).toEqual({ hash: Y_HASH.replace('$2y$', '$2b$') });
  });
});

describe('parseHtpasswdHash', () => {
  it('refuses empty input', () => {
    expect(parseHtpasswdHash('\n')).toEqual({ message: 'is empty' });
  });

  const B64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'.split('');
  const bcryptOfCost = (min: number, max: number) =>
    fc
      .tuple(fc.constantFrom('2y', '2a', '2b'), fc.integer({ min, max }), fc.array(fc.constantFrom(...B64), { minLength: 53, maxLength: 53 }))
      .map(([variant, cost, body]) => `$${variant}$${String(cost).padStart(2, '0')}$${body.join('')}`);

  it('accepts every bcrypt hash of cost 4..14, alone or after a user, normalising only $2y$', () => {
    fc.assert(
      fc.property(bcryptOfCost(4, 14), fc.option(fc.stringMatching(/^[a-z][a-z0-9.@-]{0,20}$/)), (hash, user) => {
        const parsed = parseHtpasswdHash(user === null ? hash : `${user}:${hash}\n`);
        expect(parsed).toEqual({ hash: hash.replace(/^\$2y\$/, '$2b$') });
      }),
    );
  });

  it('refuses a bcrypt hash whose cost would hang logins ($2y$31$), naming the cost and never the hash', () => {
    fc.assert(
      fc.property(fc.oneof(bcryptOfCost(15, 99), bcryptOfCost(0, 3)), (hash) => {
        const parsed = parseHtpasswdHash(`alice:${hash}`);
        expect('message' in parsed && parsed.message).toMatch(/bcrypt cost \d+, outside the accepted 4\.\.14/);
        expect(leakedParts(JSON.stringify(parsed), hash.slice(7))).toEqual([]);
      }),
    );
  });

  it('refuses anything else without quoting any part of it', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 8, maxLength: 80 }), (value) => {
        fc.pre(!/^\s*([^:\n]*:)?\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}\s*$/.test(value));
        const parsed = parseHtpasswdHash(value);
        expect('message' in parsed).toBe(true);
        // The format descriptions quote fixed prefixes such as "$apr1$"; nothing else of the value may appear.
        const message = 'message' in parsed ? parsed.message.replace(/\([^)]*\)/g, '') : '';
        expect(leakedParts(message, value)).toEqual([]);
      }),
    );
  });
});

describe('resolveCredential with reuseHash', () => {
  it('keeps an earlier hash that still matches the password, so output is byte-identical', async () => {
    const s = secret({ stringData: { password: 's3cret' } });
    const earlier = await hashOf(user(), s);
    const again = await resolveCredential(user(), s, { cost: COST, reuseHash: earlier });
    expect(again.credential).toEqual({ hash: earlier });
  });

  it('hashes afresh when the password changed', async () => {
    const earlier = await hashOf(user(), secret({ stringData: { password: 'old' } }));
    const again = await resolveCredential(user(), secret({ stringData: { password: 'new' } }), { cost: COST, reuseHash: earlier });
    expect('hash' in again.credential && again.credential.hash).not.toBe(earlier);
    expect('hash' in again.credential && (await bcrypt.compare('new', again.credential.hash))).toBe(true);
  });
});
