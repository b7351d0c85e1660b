import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { RegistryUserResource, SecretResource } from '../../crds/types.js';
import type { KubeClient } from '../../kube/request.js';
import { PasswordHashes } from './password-hashes.js';

const user = (name: string): RegistryUserResource => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'RegistryUser',
  metadata: { name, namespace: 'team' },
  spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: 'shared', key: 'password' } },
});

function hashesReading(secret: SecretResource): { hashes: PasswordHashes; gets: string[] } {
  const gets: string[] = [];
  const client = {
    get: async (path: string) => {
      gets.push(path);
      return secret;
    },
  } as unknown as KubeClient;
  const hashes = new PasswordHashes({
    client,
    secretMetadata: (key) => (key === 'team/shared' ? { metadata: { name: 'shared', namespace: 'team', uid: 'uid-1', resourceVersion: '7' } } : undefined),
    log: pino({ level: 'silent' }),
    bcryptCost: 4,
  });
  return { hashes, gets };
}

describe('PasswordHashes', () => {
  it('reads a Secret many users name once per pass, not at all while its version is unchanged, and keeps no data between passes', async () => {
    const secret: SecretResource = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'shared', namespace: 'team', uid: 'uid-1', resourceVersion: '7' },
      data: { password: Buffer.from('correct horse battery').toString('base64') },
    };
    const { hashes, gets } = hashesReading(secret);
    const users = ['a', 'b', 'c'].map(user);

    const first = await hashes.resolve('team/main', users, new Map());
    expect(first.reads).toBe(1);
    expect([...first.credentials.values()].every((c) => 'hash' in c)).toBe(true);

    // Every hash recorded against the Secret's version: nothing to read.
    const second = await hashes.resolve('team/main', users, first.sources);
    expect(second.reads).toBe(0);

    // Without the record (a new Registry naming the same users), the Secret is read again: its data
    // did not outlive the pass that read it.
    const third = await hashes.resolve('team/other', users, new Map());
    expect(third.reads).toBe(1);
    expect(gets).toEqual(['/api/v1/namespaces/team/secrets/shared', '/api/v1/namespaces/team/secrets/shared']);
  });
});
