// Builds the benchmark's policy: a snapshot directory (through compileSnapshot, as `compile` and the
// operator do) and a keys directory (through `keys init`'s code).
import bcrypt from 'bcrypt';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RegistryResource, RegistryUserResource, RepositoryGrantResource } from '../crds/types.js';
import { initKeysDir } from '../pki/init.js';
import { compileSnapshot, type ResolvedCredential } from '../policy/snapshot.js';
import { mergeSnapshots, serializeCredentials, serializeSnapshot } from '../policy/snapshot-format.js';

export const SERVICE = 'bench.registry';
export const NAMESPACE = 'bench';

export interface BenchPolicy {
  registries: RegistryResource[];
  users: RegistryUserResource[];
  grants: RepositoryGrantResource[];
  credentials: Map<string, ResolvedCredential>;
  /** username -> password */
  passwords: Map<string, string>;
}

const meta = (name: string) => ({ name, namespace: NAMESPACE, generation: 1, creationTimestamp: '2026-01-01T00:00:00Z' });

/**
 * `userCount` users `user-N` in group `team-(N % 100)`; `grantCount` grants: grant i gives group
 * `team-(i % 100)` (and, for every tenth, one user) push+pull on `team-(i % 100)/app-i/*`; one `team/app`
 * grant for `solo`; anonymous pull on `public/**`. Hashes use bcrypt cost 4: the benchmark measures
 * token issuing with a warm credential cache, and 1,000 hashes at cost 10 would take a minute.
 */
export async function benchPolicy(userCount: number, grantCount: number): Promise<BenchPolicy> {
  const registries: RegistryResource[] = [
    { apiVersion: 'portcullis.dev/v1alpha1', kind: 'Registry', metadata: meta('main'), spec: { service: SERVICE, tokenTTL: '5m' } },
  ];
  const users: RegistryUserResource[] = [];
  const credentials = new Map<string, ResolvedCredential>();
  const passwords = new Map<string, string>();
  const addUser = async (username: string, groups: string[]): Promise<void> => {
    const password = `pw-${username}-secret`;
    passwords.set(username, password);
    users.push({
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'RegistryUser',
      metadata: meta(username),
      spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: `${username}-pw` }, groups },
    });
    credentials.set(`${NAMESPACE}/${username}`, { hash: await bcrypt.hash(password, 4) });
  };
  await addUser('solo', ['solo-team']);
  for (let i = 0; i < userCount; i++) await addUser(`user-${i}`, [`team-${i % 100}`]);
  const grants: RepositoryGrantResource[] = [
    {
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'RepositoryGrant',
      metadata: meta('solo-team-app'),
      spec: { registryRef: { name: 'main' }, subjects: [{ kind: 'Group', name: 'solo-team' }], repositories: ['team/*'], actions: ['pull', 'push'] },
    },
    {
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'RepositoryGrant',
      metadata: meta('public-pull'),
      spec: { registryRef: { name: 'main' }, subjects: [{ kind: 'Anonymous' }], repositories: ['public/**'], actions: ['pull'] },
    },
  ];
  for (let i = 0; i < grantCount; i++) {
    const team = i % 100;
    // every tenth grant also names one user directly, so the user index is exercised too
    const subjects = [
      { kind: 'Group' as const, name: `team-${team}` },
      ...(i % 10 === 0 ? [{ kind: 'User' as const, name: `user-${i % Math.max(userCount, 1)}` }] : []),
    ];
    grants.push({
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'RepositoryGrant',
      metadata: meta(`grant-${i}`),
      spec: { registryRef: { name: 'main' }, subjects, repositories: [`team-${team}/app-${i}/*`, `team-${team}/app-${i}`], actions: ['pull', 'push'] },
    });
  }
  return { registries, users, grants, credentials, passwords };
}

/** Writes snapshot.json, credentials.json and a keys directory under `dir`. */
export async function writeBenchDirs(dir: string, policy: BenchPolicy): Promise<{ policyDir: string; keysDir: string }> {
  const result = compileSnapshot({ ...policy, namespaces: [{ name: NAMESPACE, labels: {} }] });
  const notReady = result.statuses.filter((s) => s.conditions.some((c) => c.type === 'Ready' && c.status !== 'True'));
  if (notReady.length > 0) throw new Error(`bench policy does not compile: ${JSON.stringify(notReady[0])}`);
  const { snapshot, credentials } = mergeSnapshots(result.registries);
  const policyDir = join(dir, 'policy');
  const keysDir = join(dir, 'keys');
  await mkdir(policyDir, { recursive: true });
  await writeFile(join(policyDir, 'snapshot.json'), serializeSnapshot(snapshot));
  await writeFile(join(policyDir, 'credentials.json'), serializeCredentials(credentials), { mode: 0o600 });
  await initKeysDir(keysDir, { algorithm: 'ES256', now: new Date(Date.now() - 60_000) });
  return { policyDir, keysDir };
}
