// Phase 2 of compileSnapshot: RegistryUsers. First admission — the registryRef names an accepted
// Registry whose delegation admits the user's namespace, and the spec is sound — then usernames are
// claimed: the Registry's own namespace first, then names the delegation consents to, then the oldest
// object; every loser reports UsernameConflict naming the winner. Only then are credentials looked at,
// so a Secret is never read (nor a password hashed) for a user that would be refused anyway.

import type { NamespaceInfo, RegistryUserResource } from '../../crds/types.js';
import { Reasons } from '../reasons.js';
import { credentialRevision } from '../revision.js';
import type { UserEntry } from '../types.js';
import { admissionOf, tenancyOf, usernameConsented, type Admission } from './delegation.js';
import type { AcceptedRegistry } from './registries.js';
import { byAge, byKey, compareStrings, isRefusal, metaOf, readyStatus, refuse, refusedStatus, type Meta, type ObjectStatus, type Refusal } from './status.js';

/** A password hash, or why the user has none. Keyed by the RegistryUser's `namespace/name`. */
export type ResolvedCredential = { hash: string } | { reason: string; message: string };

/** A user that won its username and now needs only its credential. */
export interface ClaimedUser {
  user: RegistryUserResource;
  meta: Meta;
  registryId: string;
  username: string;
  admission: Admission;
}

export interface AdmittedUsers {
  claimed: ClaimedUser[];
  statuses: ObjectStatus[];
}

function isNonEmptyString(x: unknown): x is string {
  return typeof x === 'string' && x.length > 0;
}

/**
 * A record keyed by username. Usernames are user input and `__proto__` is a valid one: on a plain object
 * its assignment sets the prototype instead, and the user's hash would be silently missing.
 */
export function usernameRecord(): Record<string, string> {
  return Object.create(null) as Record<string, string>;
}

export function usernameOf(u: RegistryUserResource): string {
  return u.spec?.username ?? u.metadata.name;
}

function checkUserSpec(u: RegistryUserResource): Refusal | undefined {
  const spec = u.spec;
  if (spec === undefined || spec === null) return refuse(Reasons.InvalidSpec, 'spec is required');
  const username = usernameOf(u);
  if (!isNonEmptyString(username)) return refuse(Reasons.InvalidSpec, 'spec.username must be a non-empty string');
  // Basic auth splits at the first ':'; such a name could never log in.
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (username.includes(':') || /[\x00-\x20\x7f]/.test(username)) {
    return refuse(Reasons.InvalidSpec, 'spec.username must not contain ":", spaces or control characters');
  }
  if (spec.groups !== undefined && (!Array.isArray(spec.groups) || !spec.groups.every(isNonEmptyString))) {
    return refuse(Reasons.InvalidSpec, 'spec.groups must be a list of non-empty strings');
  }
  if (spec.disabled !== undefined && typeof spec.disabled !== 'boolean') return refuse(Reasons.InvalidSpec, 'spec.disabled must be true or false');
  return undefined;
}

export interface RegistryLookup {
  accepted: ReadonlyMap<string, AcceptedRegistry>;
  /** Keys of Registries that exist but are refused. */
  refused: { has(key: string): boolean };
  namespaces: ReadonlyMap<string, NamespaceInfo>;
}

/**
 * The first two checks every user and grant goes through: its registryRef names an accepted Registry,
 * and that Registry's delegation admits the object's namespace.
 */
export function attachToRegistry(
  what: 'users' | 'grants',
  ref: { name?: string; namespace?: string } | undefined,
  meta: Meta,
  registries: RegistryLookup,
): { reg: AcceptedRegistry; admission: Admission } | Refusal {
  if (ref === undefined || !isNonEmptyString(ref.name)) return refuse(Reasons.InvalidSpec, 'spec.registryRef.name is required');
  const id = `${ref.namespace || meta.namespace}/${ref.name}`;
  const reg = registries.accepted.get(id);
  if (reg === undefined) {
    return registries.refused.has(id)
      ? refuse(Reasons.RegistryNotReady, `Registry ${id} is not ready`)
      : refuse(Reasons.RegistryNotFound, `Registry ${id} not found`);
  }
  const admission = admissionOf(reg.meta.namespace, reg.delegation, meta.namespace, registries.namespaces);
  if (admission === undefined) return refuse(Reasons.NamespaceNotAllowed, `Registry ${reg.id} does not admit ${what} from namespace ${meta.namespace}`);
  return { reg, admission };
}

/** Who wins a username: the Registry's own namespace, then a name the delegation consents to, then the oldest. */
function claimRank(c: ClaimedUser): number {
  if (c.admission.home) return 0;
  return usernameConsented(c.admission, c.username) ? 1 : 2;
}

function describeClaim(c: ClaimedUser): string {
  if (c.admission.home) return `RegistryUser ${c.meta.key} in the Registry's own namespace, which always wins`;
  return claimRank(c) === 1 ? `RegistryUser ${c.meta.key}, whose name the Registry's delegation consents to` : `RegistryUser ${c.meta.key}, which is older`;
}

/** One user's admission: refused (with its status), or a candidate for its username. Depends only on the user and `registries`. */
export function attachUser(u: RegistryUserResource, registries: RegistryLookup): { status: ObjectStatus } | { candidate: ClaimedUser } {
  const meta = metaOf(u);
  const attached = attachToRegistry('users', u.spec?.registryRef, meta, registries);
  const bad = isRefusal(attached) ? attached : checkUserSpec(u);
  if (bad !== undefined) return { status: refusedStatus('RegistryUser', meta, bad) };
  const { reg, admission } = attached as Exclude<typeof attached, Refusal>;
  return { candidate: { user: u, meta, registryId: reg.id, username: usernameOf(u), admission } };
}

/** Hands each username to one candidate (see claimRank); every loser gets a UsernameConflict status. Any input order. */
export function claimUsernames(candidates: readonly ClaimedUser[]): AdmittedUsers {
  const statuses: ObjectStatus[] = [];
  const byRegistry = new Map<string, ClaimedUser[]>();
  for (const c of candidates) {
    const list = byRegistry.get(c.registryId);
    if (list === undefined) byRegistry.set(c.registryId, [c]);
    else list.push(c);
  }
  const claimed: ClaimedUser[] = [];
  for (const [registryId, list] of byRegistry) {
    list.sort((x, y) => claimRank(x) - claimRank(y) || byAge(x.meta, y.meta));
    const owners = new Map<string, ClaimedUser>();
    for (const c of list) {
      const owner = owners.get(c.username);
      if (owner !== undefined) {
        const message = `username ${JSON.stringify(c.username)} in Registry ${registryId} belongs to ${describeClaim(owner)}`;
        statuses.push(readyStatus('RegistryUser', c.meta, false, Reasons.UsernameConflict, message));
        continue;
      }
      owners.set(c.username, c);
      claimed.push(c);
    }
  }
  return { claimed, statuses };
}

export function admitUsers(users: readonly RegistryUserResource[], registries: RegistryLookup): AdmittedUsers {
  const statuses: ObjectStatus[] = [];
  const candidates: ClaimedUser[] = [];
  for (const u of byKey(users)) {
    const attached = attachUser(u, registries);
    if ('status' in attached) statuses.push(attached.status);
    else candidates.push(attached.candidate);
  }
  const admitted = claimUsernames(candidates);
  return { claimed: admitted.claimed, statuses: [...statuses, ...admitted.statuses] };
}

/** The snapshot entry of a claimed user, or the refusal its credential leads to. */
export function userEntryOf(
  c: ClaimedUser,
  credential: ResolvedCredential | undefined,
): { entry: UserEntry; hash?: string; status: ObjectStatus } | { status: ObjectStatus } {
  const { user: u, meta, username, registryId } = c;
  const groups = [...new Set(u.spec.groups ?? [])].sort(compareStrings);
  const disabled = u.spec.disabled === true;
  const entry: UserEntry = { username, groups, disabled, credentialRevision: '', source: meta.key };
  if (meta.uid !== undefined) entry.objectRevision = `${meta.uid}:${meta.generation ?? 0}`;
  if (!c.admission.home) entry.tenancy = tenancyOf(c.admission, username, groups);
  if (disabled) {
    // A disabled user needs no password: it stays listed so the token server can say why it refuses.
    return { entry, status: readyStatus('RegistryUser', meta, true, Reasons.UserDisabled, `user ${JSON.stringify(username)} is disabled`) };
  }
  if (credential === undefined) {
    const secret = JSON.stringify(u.spec.passwordSecretRef?.name ?? '');
    return { status: readyStatus('RegistryUser', meta, false, Reasons.SecretNotFound, `the password Secret ${secret} was not found`) };
  }
  if (!('hash' in credential)) return { status: refusedStatus('RegistryUser', meta, { refused: credential }) };
  entry.credentialRevision = credentialRevision(credential.hash);
  const scope = entry.tenancy === undefined ? '' : `, confined to namespace ${entry.tenancy.namespace}'s prefixes ${entry.tenancy.prefixes.join(', ')}`;
  return {
    entry,
    hash: credential.hash,
    status: readyStatus('RegistryUser', meta, true, Reasons.Compiled, `user ${JSON.stringify(username)} is in Registry ${registryId}${scope}`),
  };
}
