import { describe, expect, it } from 'vitest';
import type { RegistryUserResource } from '../crds/types.js';
import { compiledPartUnchanged, SecretIndex } from './triggers.js';

const user = (name: string, secret: string, registry = 'main', namespace = 'registry'): RegistryUserResource => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'RegistryUser',
  metadata: { name, namespace },
  spec: { registryRef: { name: registry }, passwordSecretRef: { name: secret } },
});

describe('SecretIndex', () => {
  it('maps a Secret to the registries of the users that reference it', () => {
    const index = new SecretIndex();
    index.setUser(user('a', 's'));
    index.setUser(user('b', 's', 'other'));
    expect(index.registriesFor('registry/s').sort()).toEqual(['registry/main', 'registry/other']);
    expect(index.registriesFor('elsewhere/s')).toEqual([]);
  });

  it('forgets the old Secret when a user is edited to point elsewhere, and on delete', () => {
    const index = new SecretIndex();
    index.setUser(user('a', 's'));
    index.setUser(user('a', 't'));
    expect(index.registriesFor('registry/s')).toEqual([]);
    expect(index.registriesFor('registry/t')).toEqual(['registry/main']);
    index.deleteUser('registry/a');
    expect(index.registriesFor('registry/t')).toEqual([]);
  });

  it('keeps a registry while another user still references the Secret', () => {
    const index = new SecretIndex();
    index.setUser(user('a', 's'));
    index.setUser(user('b', 's'));
    index.deleteUser('registry/a');
    expect(index.registriesFor('registry/s')).toEqual(['registry/main']);
  });
  it('counts a user once however often it is updated; a registry goes with its last user, the others stay', () => {
    const index = new SecretIndex();
    index.setUser(user('a', 's'));
    index.setUser(user('a', 's'));
    index.setUser(user('b', 's', 'other'));
    index.setUser(user('c', 's', 'other'));
    index.deleteUser('registry/a');
    expect(index.registriesFor('registry/s')).toEqual(['registry/other']);
    index.deleteUser('registry/b');
    expect(index.registriesFor('registry/s')).toEqual(['registry/other']);
    index.deleteUser('registry/c');
    expect(index.registriesFor('registry/s')).toEqual([]);
    index.deleteUser('registry/c');
    expect(index.registriesFor('registry/s')).toEqual([]);
  });
});

describe('SecretIndex.passwordSecretsVersion', () => {
  it("moves on an event of a Secret a user names, also one that does not exist yet; not on the operator's own Secrets", () => {
    const index = new SecretIndex();
    index.setUser(user('a', 'a-password'));
    index.setUser(user('b', 'b-password-to-come'));
    const start = index.passwordSecretsVersion;
    expect(index.secretChanged('registry/portcullis-main-credentials')).toEqual([]);
    expect(index.secretChanged('registry/portcullis-main-hash-sources')).toEqual([]);
    expect(index.passwordSecretsVersion).toBe(start);
    expect(index.secretChanged('registry/a-password')).toEqual(['registry/main']);
    const afterA = index.passwordSecretsVersion;
    expect(afterA).not.toBe(start);
    // Created after the user named it (the pass found it missing): its creation moves the version too.
    expect(index.secretChanged('registry/b-password-to-come')).toEqual(['registry/main']);
    expect(index.passwordSecretsVersion).not.toBe(afterA);
  });
});

describe('compiledPartUnchanged', () => {
  const meta = (generation: number, extra: Record<string, unknown> = {}) => ({
    metadata: { generation, labels: { a: '1' }, annotations: { b: '2' }, ...extra },
  });

  it('is true for a status write, a label change or an annotation change (none is compiled)', () => {
    expect(compiledPartUnchanged(meta(3), meta(3))).toBe(true);
    expect(compiledPartUnchanged(meta(3), meta(3, { labels: { a: '2' } }))).toBe(true);
    expect(compiledPartUnchanged(meta(3), meta(3, { annotations: {} }))).toBe(true);
  });

  it('is false for a spec change or a deletion', () => {
    expect(compiledPartUnchanged(meta(3), meta(4))).toBe(false);
    expect(compiledPartUnchanged(meta(3), meta(3, { deletionTimestamp: '2025-01-01T00:00:00Z' }))).toBe(false);
  });

  it('is false when the generation is unknown', () => {
    expect(compiledPartUnchanged({ metadata: {} }, { metadata: {} })).toBe(false);
  });
});
