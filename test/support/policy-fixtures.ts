// The small registry policy the authorize and decision-cache table tests share: alice in team-a, bob in
// no group, carol disabled, and builders for the grants each row needs.
import type { Requester } from '../../policy/authorize.js';
import type { ResourceScope } from '../../policy/scope.js';
import type { Action, GrantEntry, RegistryPolicy, Subject, UserEntry } from '../../policy/types.js';

export function user(username: string, groups: string[] = [], disabled = false): UserEntry {
  return { username, groups, disabled, credentialRevision: 'rev', source: `registry/${username}` };
}
export function grant(source: string, subjects: Subject[], repositories: string[], actions: Action[], catalog = false): GrantEntry {
  return { source, subjects, repositories, actions, catalog };
}
export function policy(grants: GrantEntry[], users: UserEntry[] = [user('alice', ['team-a']), user('bob'), user('carol', [], true)]): RegistryPolicy {
  return { id: 'registry/main', service: 'registry.example.com', issuer: 'portcullis', tokenTTLSeconds: 300, signingAlgorithm: 'ES256', users, grants };
}
export const repo = (name: string, ...actions: string[]): ResourceScope => ({ type: 'repository', name, actions });
export const alice: Requester = { kind: 'user', username: 'alice', groups: ['team-a'] };
export const bob: Requester = { kind: 'user', username: 'bob', groups: [] };
export const carol: Requester = { kind: 'user', username: 'carol', groups: [] };
export const anonymous: Requester = { kind: 'anonymous' };
