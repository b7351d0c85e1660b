// The OIDC source against an issuer on loopback (local/oidc-issuer.ts, real HTTPS and a real key set):
// the groups claim and its prefix, claim conditions in CEL, a key rotation the verifier follows by
// re-reading the key set once, and the issuer's failures, which are `unavailable` (a 503), never a grant.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalIssuer, type LocalIssuer } from '../../local/oidc-issuer.js';
import type { OidcIssuerPolicy } from '../../policy/types.js';
import { OidcIssuer } from '../../token-server/identity/oidc.js';

const AUDIENCE = 'registry.oidc.test';

describe('OIDC issuer source', () => {
  let dir: string;
  let issuer: LocalIssuer;
  const policy = (overrides: Partial<OidcIssuerPolicy> = {}): OidcIssuerPolicy => ({
    issuer: issuer.url,
    certificateAuthority: issuer.caPem,
    audiences: [AUDIENCE],
    algorithms: ['ES256'],
    username: { claim: 'sub', prefix: 'ci:' },
    groups: { claim: 'groups', prefix: 'ci:' },
    conditions: [],
    authenticated: false,
    ...overrides,
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-oidc-'));
    issuer = await startLocalIssuer(dir);
  });
  afterAll(async () => {
    await issuer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('maps the username and groups claims with their prefixes, dropping groups that are no strings', async () => {
    const source = new OidcIssuer(policy(), () => new Date());
    const check = await source.verify(await issuer.sign('runner-7', AUDIENCE, { groups: ['release', 'dev', 42, '', 'dev'] }));
    expect(check).toMatchObject({ ok: true, identity: { source: 'oidc', username: 'ci:runner-7', groups: ['ci:dev', 'ci:release'] } });
    const single = await source.verify(await issuer.sign('runner-8', AUDIENCE, { groups: 'ops' }));
    expect(single).toMatchObject({ ok: true, identity: { groups: ['ci:ops'] } });
  });

  it('refuses a token whose claims fail a condition, with the condition’s message', async () => {
    const source = new OidcIssuer(
      policy({ conditions: [{ expression: 'claims.repository_owner == "acme" && claims.ref.startsWith("refs/tags/")', message: 'only acme tags publish' }] }),
      () => new Date(),
    );
    expect(await source.verify(await issuer.sign('wf', AUDIENCE, { repository_owner: 'acme', ref: 'refs/tags/v1' }))).toMatchObject({ ok: true });
    expect(await source.verify(await issuer.sign('wf', AUDIENCE, { repository_owner: 'acme', ref: 'refs/heads/main' }))).toEqual({
      ok: false,
      reason: `token from ${issuer.url} refused: only acme tags publish`,
    });
    // A claim the token lacks is a failed condition, not an error that lets it through.
    expect(await source.verify(await issuer.sign('wf', AUDIENCE))).toMatchObject({ ok: false });
  });

  it('follows a key rotation: a token under a new kid is verified after one more read of the key set', async () => {
    // No cooldown here: the rotation comes moments after the first read (see the next test for the default).
    const source = new OidcIssuer(policy(), () => new Date(), 0);
    expect(await source.verify(await issuer.sign('a', AUDIENCE))).toMatchObject({ ok: true });
    const readsBefore = issuer.keySetReads();
    await issuer.rotate();
    expect(await source.verify(await issuer.sign('b', AUDIENCE))).toMatchObject({ ok: true, identity: { username: 'ci:b' } });
    expect(await source.verify(await issuer.sign('c', AUDIENCE))).toMatchObject({ ok: true });
    expect(issuer.keySetReads() - readsBefore).toBe(1);
  });

  it('tokens with made-up kids re-read the key set at most once per cooldown, and are refused', async () => {
    const source = new OidcIssuer(policy(), () => new Date());
    expect(await source.verify(await issuer.sign('a', AUDIENCE))).toMatchObject({ ok: true });
    const readsBefore = issuer.keySetReads();
    const forged = await Promise.all(Array.from({ length: 20 }, (_, i) => issuer.sign('a', AUDIENCE, {}, { kid: `made-up-${i}` })));
    for (const token of forged) {
      expect(await source.verify(token)).toEqual({ ok: false, reason: `token from ${issuer.url} refused: not signed by a key of the issuer` });
    }
    expect(issuer.keySetReads() - readsBefore).toBeLessThanOrEqual(1);
  });

  it('while the key set cannot be read, made-up kids read it at most once per cooldown too', async () => {
    const cooldownMs = 2000;
    const source = new OidcIssuer(policy(), () => new Date(), cooldownMs, 60_000);
    expect(await source.verify(await issuer.sign('a', AUDIENCE))).toMatchObject({ ok: true });
    // Past jose's own cooldown after that good read, the issuer starts failing.
    await new Promise((resolve) => setTimeout(resolve, cooldownMs + 100));
    issuer.failKeySet(true);
    try {
      const readsBefore = issuer.keySetReads();
      const forged = await Promise.all(Array.from({ length: 20 }, (_, i) => issuer.sign('a', AUDIENCE, {}, { kid: `failing-${i}` })));
      for (const token of forged) expect('unavailable' in (await source.verify(token))).toBe(true);
      // Before: 20 reads, one per forged token (jose starts its cooldown only after a read that succeeded).
      expect(issuer.keySetReads() - readsBefore).toBe(1);
    } finally {
      issuer.failKeySet(false);
    }
  });

  it('a failed read of the key set holds logins up for the retry interval only, not the cooldown', async () => {
    const source = new OidcIssuer(policy(), () => new Date(), 0, 1000);
    expect(await source.verify(await issuer.sign('a', AUDIENCE))).toMatchObject({ ok: true });
    issuer.failKeySet(true);
    await issuer.rotate();
    const rotated = await issuer.sign('b', AUDIENCE);
    expect('unavailable' in (await source.verify(rotated))).toBe(true);
    issuer.failKeySet(false);
    // Within the retry interval: not read again.
    expect('unavailable' in (await source.verify(rotated))).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await source.verify(rotated)).toMatchObject({ ok: true, identity: { username: 'ci:b' } });
  });

  it('refuses a token for another audience or from another issuer', async () => {
    const source = new OidcIssuer(policy(), () => new Date());
    expect(await source.verify(await issuer.sign('a', 'someone-else'))).toEqual({
      ok: false,
      reason: `token from ${issuer.url} refused: claim aud is not acceptable`,
    });
    expect(await source.verify(await issuer.sign('a', AUDIENCE, { iss: 'https://evil.example' }))).toMatchObject({ ok: false });
  });

  it('a discovery document naming another issuer, or an issuer that cannot be reached, is unavailable, never a grant', async () => {
    const lookalike = new OidcIssuer(policy({ issuer: 'https://issuer.example', discoveryURL: issuer.url }), () => new Date());
    const token = await issuer.sign('a', AUDIENCE, { iss: 'https://issuer.example' });
    const check = await lookalike.verify(token);
    expect('unavailable' in check && check.unavailable).toContain('discovery names issuer');
    const gone = new OidcIssuer(policy({ issuer: 'https://127.0.0.1:9', certificateAuthority: issuer.caPem }), () => new Date());
    const first = await gone.verify(token);
    expect('unavailable' in first).toBe(true);
    // Within the retry window a second login fails at once instead of asking the dead issuer again.
    const started = Date.now();
    expect(await gone.verify(token)).toEqual({ unavailable: `issuer https://127.0.0.1:9 could not be reached: discovery failed moments ago` });
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
