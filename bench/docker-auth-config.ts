// cesanta/docker_auth's configuration for the peer bench, generated from the same fixture the token
// server gets: the same users and passwords (static users with the very bcrypt hashes the token server
// holds, groups as a `group` label), and the grants as a static ACL, in the fixture's order (docker_auth
// stops at the first matching entry, as a token server must find every grant that applies).
//
// One ACL entry per (grant, subject, repository pattern): a Group subject matches on the `group` label,
// a User on the account, Anonymous on the empty account. Portcullis' `*` (one path segment) is
// docker_auth's glob `*` (path.Match: no `/`); `**` (any depth) has no glob, so it becomes a regex.
// The file is JSON, which docker_auth's YAML parser reads as it is.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../local/process.js';
import type { BenchPolicy } from './fixture.js';

export const DOCKER_AUTH_ISSUER = 'bench-docker-auth';

interface AclEntry {
  match: { account?: string; type: string; name: string; labels?: Record<string, string> };
  actions: string[];
  comment: string;
}

interface StaticUser {
  password?: string;
  labels?: Record<string, string[]>;
}

export interface DockerAuthConfig {
  file: string;
  /** PEM of the token signing certificate: the bench verifies docker_auth's tokens against it. */
  certificatePem: string;
  aclEntries: number;
}

/** A Portcullis repository pattern as a docker_auth name pattern. */
export function namePattern(pattern: string): string {
  if (!pattern.includes('**')) return pattern;
  const regex = pattern
    .split('**')
    .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&').replace(/\*/g, '[^/]*'))
    .join('.*');
  return `/^${regex}$/`;
}

/** The static ACL equivalent to the fixture's grants, in their order. */
export function aclOf(policy: BenchPolicy): AclEntry[] {
  const acl: AclEntry[] = [];
  for (const grant of policy.grants) {
    for (const subject of grant.spec.subjects) {
      let who: Pick<AclEntry['match'], 'account' | 'labels'>;
      if (subject.kind === 'Group' && subject.name !== undefined) who = { labels: { group: subject.name } };
      else if (subject.kind === 'User' && subject.name !== undefined) who = { account: subject.name };
      else if (subject.kind === 'Anonymous') who = { account: '' };
      else throw new Error(`grant ${grant.metadata.name}: no docker_auth equivalent for subject kind ${subject.kind}`);
      for (const repository of grant.spec.repositories) {
        acl.push({ match: { ...who, type: 'repository', name: namePattern(repository) }, actions: [...grant.spec.actions], comment: grant.metadata.name });
      }
    }
  }
  return acl;
}

/** Static users: each fixture user with `hashes`' bcrypt hash and its groups; the empty user lets anonymous requests through to the ACL. */
export function usersOf(policy: BenchPolicy, hashes: Map<string, string>): Record<string, StaticUser> {
  const users: Record<string, StaticUser> = { '': {} };
  for (const user of policy.users) {
    const name = user.spec.username ?? user.metadata.name;
    const hash = hashes.get(name);
    if (hash === undefined) throw new Error(`no hash for bench user ${name}`);
    users[name] = { password: hash, labels: { group: [...(user.spec.groups ?? [])] } };
  }
  return users;
}

/** Writes an ES256 (P-256) token key and certificate and the configuration file into `dir`. */
export async function writeDockerAuthConfig(dir: string, policy: BenchPolicy, hashes: Map<string, string>, port: number): Promise<DockerAuthConfig> {
  const key = join(dir, 'docker-auth-token.key');
  const certificate = join(dir, 'docker-auth-token.crt');
  const made = await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    certificate,
    '-days',
    '2',
    '-subj',
    `/CN=${DOCKER_AUTH_ISSUER}`,
  ]);
  if (made.code !== 0) throw new Error(`openssl could not make docker_auth's token key: ${made.stderr}`);
  const acl = aclOf(policy);
  const config = {
    server: { addr: `127.0.0.1:${port}` },
    token: { issuer: DOCKER_AUTH_ISSUER, expiration: 300, certificate, key },
    users: usersOf(policy, hashes),
    acl,
  };
  const file = join(dir, 'docker-auth.yml');
  await writeFile(file, JSON.stringify(config), { mode: 0o600 });
  return { file, certificatePem: await readFile(certificate, 'utf8'), aclEntries: acl.length };
}
