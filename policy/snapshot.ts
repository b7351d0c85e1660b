// compileSnapshot: Registry, RegistryUser and RepositoryGrant objects (+ resolved credentials and
// namespaces) -> one snapshot per Registry and a status for every object. Used by the operator and by
// the offline `portcullis compile`, so both produce the same bytes for the same input.
//
// Four phases, each in policy/compile/: Registries (validation, services claimed oldest first), users
// (admission, usernames claimed), grants (admission, delegation limits), then the per-registry snapshots.
// Each object passes a chain of small checks; the first that fails becomes its Ready=False reason and
// message, and the object is left out. Everything is sorted so the output never depends on input order.

import type { NamespaceInfo, RegistryResource, RegistryUserResource, RepositoryGrantResource } from '../crds/types.js';
import { admitGrants } from './compile/grants.js';
import {
  acceptedRegistryStatus,
  acceptRegistries,
  shippedHashes,
  type AcceptedRegistries,
  type ResolvedIdentitySecrets,
  type UnservedRegistries,
} from './compile/registries.js';
import { compareStrings, type ObjectStatus } from './compile/status.js';
import { admitUsers, userEntryOf, usernameRecord, type RegistryLookup, type ResolvedCredential } from './compile/users.js';
import { snapshotOf } from './snapshot-format.js';
import { CREDENTIALS_FORMAT, type Credentials, type RegistryPolicy, type Snapshot, type UserEntry } from './types.js';

export type { ObjectStatus } from './compile/status.js';
export type { ResolvedCredential } from './compile/users.js';
export { bindPasswordSecretRef, type ResolvedIdentitySecrets, type UnservedRegistries } from './compile/registries.js';

export interface CompileInput {
  registries: RegistryResource[];
  users: RegistryUserResource[];
  grants: RepositoryGrantResource[];
  namespaces: NamespaceInfo[];
  /**
   * key: `${namespace}/${name}` of the RegistryUser. Only users `usersNeedingCredentials` lists are read.
   * Not changed once handed to a compile: a new map for new credentials (the incremental compiler takes
   * the same map for the same credentials).
   */
  credentials: ReadonlyMap<string, ResolvedCredential>;
  /**
   * key: `namespace/name` of the Registry. Needed for every Registry that `bindPasswordSecretRef` names a
   * Secret for; such a Registry without an entry is refused (SecretNotFound).
   */
  identitySecrets?: ReadonlyMap<string, ResolvedIdentitySecrets>;
  /**
   * key: `namespace/name` of a Registry the caller cannot serve, with why: it is refused with that reason
   * (after claiming its service), and its users and grants are RegistryNotReady.
   */
  unservedRegistries?: UnservedRegistries;
}

export interface CompiledRegistry {
  id: string;
  snapshot: Snapshot;
  credentials: Credentials;
}

export interface CompileResult {
  registries: CompiledRegistry[];
  statuses: ObjectStatus[];
}

const KIND_ORDER = { Registry: 0, RegistryUser: 1, RepositoryGrant: 2 } as const;

function lookupOf(accepted: AcceptedRegistries, namespaces: readonly NamespaceInfo[]): RegistryLookup {
  return { accepted: accepted.accepted, refused: accepted.refused, namespaces: new Map(namespaces.map((n) => [n.name, n])) };
}

/**
 * The RegistryUsers (`namespace/name`) whose password Secret compileSnapshot will read: admitted by their
 * Registry and holding their username. Resolve credentials for these only: a user from a namespace the
 * Registry does not admit never costs a Secret read or a bcrypt hash.
 */
export function usersNeedingCredentials(input: Omit<CompileInput, 'credentials'>): Set<string> {
  const registries = acceptRegistries(input.registries, undefined, input.unservedRegistries);
  const { claimed } = admitUsers(input.users, lookupOf(registries, input.namespaces));
  return new Set(claimed.filter((c) => c.user.spec.disabled !== true).map((c) => c.meta.key));
}

/** Compiles objects into one snapshot per Registry plus a status for every object. Pure and deterministic. */
export function compileSnapshot(input: CompileInput): CompileResult {
  const registries = acceptRegistries(input.registries, input.identitySecrets ?? new Map(), input.unservedRegistries);
  const lookup = lookupOf(registries, input.namespaces);
  const users = admitUsers(input.users, lookup);
  const grants = admitGrants(input.grants, lookup);
  const statuses: ObjectStatus[] = [...registries.refused.values(), ...users.statuses, ...grants.statuses];

  const usersByRegistry = new Map<string, { entries: UserEntry[]; hashes: Record<string, string> }>();
  for (const c of users.claimed) {
    const result = userEntryOf(c, input.credentials.get(c.meta.key));
    statuses.push(result.status);
    if (!('entry' in result)) continue;
    const bucket = usersByRegistry.get(c.registryId) ?? { entries: [], hashes: usernameRecord() };
    bucket.entries.push(result.entry);
    if (result.hash !== undefined) bucket.hashes[c.username] = result.hash;
    usersByRegistry.set(c.registryId, bucket);
  }

  const compiled: CompiledRegistry[] = [];
  for (const reg of registries.accepted.values()) {
    const bucket = usersByRegistry.get(reg.id) ?? { entries: [], hashes: usernameRecord() };
    const userEntries = bucket.entries.sort((a, b) => compareStrings(a.username, b.username));
    const grantEntries = (grants.byRegistry.get(reg.id) ?? []).sort((a, b) => compareStrings(a.source, b.source));
    const policy: RegistryPolicy = { ...reg.policy, users: userEntries, grants: grantEntries };
    const sortedHashes = usernameRecord();
    for (const name of Object.keys(bucket.hashes).sort(compareStrings)) sortedHashes[name] = bucket.hashes[name] as string;
    const credentials: Credentials = { format: CREDENTIALS_FORMAT, registries: { [reg.id]: shippedHashes(reg, sortedHashes) } };
    if (reg.secrets?.ldapBindPassword !== undefined) credentials.identity = { [reg.id]: { ldapBindPassword: reg.secrets.ldapBindPassword } };
    compiled.push({ id: reg.id, snapshot: snapshotOf([policy]), credentials });
    statuses.push(acceptedRegistryStatus(reg, userEntries.length, grantEntries.length));
  }
  compiled.sort((a, b) => compareStrings(a.id, b.id));
  statuses.sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name));
  return { registries: compiled, statuses };
}
