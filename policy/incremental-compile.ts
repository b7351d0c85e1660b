// compileSnapshot for a process that compiles the same objects again and again (the operator): each
// object's admission, entry and status are remembered by the object's uid and resourceVersion, so after
// one grant changes a compile re-checks that grant and re-assembles the lists from remembered pieces,
// and the generation is hashed from remembered entry JSON (snapshot-json.ts). The output is exactly
// compileSnapshot's for the same input (incremental-compile.test.ts compares them after random edits).
//
// What an object's result depends on besides the object: the accepted Registries (id, namespace,
// delegation), the refused ones, the namespaces and their labels, and for a user its resolved credential.
// The first three form the context; when it changes every remembered result is dropped. The credential
// is part of a user entry's key.

import type { NamespaceInfo, RegistryResource, RegistryUserResource, RepositoryGrantResource } from '../crds/types.js';
import { canonicalJson } from './canonical.js';
import { admitGrant } from './compile/grants.js';
import { acceptedRegistryStatus, acceptRegistries, shippedHashes, type AcceptedRegistries } from './compile/registries.js';
import { compareStrings, type ObjectStatus } from './compile/status.js';
import { attachUser, claimUsernames, userEntryOf, usernameRecord, type ClaimedUser, type RegistryLookup, type ResolvedCredential } from './compile/users.js';
import { Memo, sameVersions, type Change } from './compile-memo.js';
import { sameElements } from './same-elements.js';
import { EntryJson, generationOf } from './snapshot-json.js';
import type { CompiledRegistry, CompileInput, CompileResult } from './snapshot.js';
import { CREDENTIALS_FORMAT, SNAPSHOT_FORMAT, type Credentials, type GrantEntry, type RegistryPolicy, type UserEntry } from './types.js';

type Attached = { status: ObjectStatus } | { candidate: ClaimedUser };
type UserResult = ReturnType<typeof userEntryOf>;
type GrantResult = ReturnType<typeof admitGrant>;

/** The part of the accepted Registries and namespaces every object's result depends on. */
function contextOf(registries: AcceptedRegistries, namespaces: readonly NamespaceInfo[]): string {
  const accepted = [...registries.accepted.values()].map((r) => [r.id, r.meta.namespace, r.delegation]);
  return canonicalJson({
    accepted,
    refused: [...registries.refused.keys()].sort(),
    namespaces: [...namespaces].sort((a, b) => compareStrings(a.name, b.name)),
  });
}

function lookupOf(registries: AcceptedRegistries, namespaces: readonly NamespaceInfo[]): RegistryLookup {
  return { accepted: registries.accepted, refused: registries.refused, namespaces: new Map(namespaces.map((n) => [n.name, n])) };
}

/** Users' admissions under one context. usersNeedingCredentials and compile accept Registries differently (bind secrets), so each has its own. */
class Admissions {
  private context: string | undefined;
  readonly users = new Memo<Attached>();
  /** The last claim, kept while no user's admission changed. */
  private claim: ReturnType<typeof claimUsernames> | undefined;
  /**
   * The users and statuses of the last admission. The same users in the same order, each at the version
   * the memo would reuse (sameVersions), under the same context admit as they did: a grant change then
   * skips every user's memo lookup (at 100,000 users, about 0.15 s of each compile's 0.3 s in the
   * in-process bench's profile), and so does the first change after a first start's status writes,
   * which gave every user a new object.
   */
  private last: { users: readonly RegistryUserResource[]; statuses: ObjectStatus[] } | undefined;

  /** Enters the context of these Registries and namespaces, dropping what was remembered under another. */
  enter(registries: AcceptedRegistries, namespaces: readonly NamespaceInfo[]): RegistryLookup {
    const context = contextOf(registries, namespaces);
    if (context !== this.context) {
      this.context = context;
      this.clear();
    }
    return lookupOf(registries, namespaces);
  }

  protected clear(): void {
    this.users.clear();
    this.last = undefined;
  }

  /** Admits and claims; `changed` says whether anything differs from the last call. */
  admit(
    users: readonly RegistryUserResource[],
    lookup: RegistryLookup,
  ): { statuses: ObjectStatus[]; claim: ReturnType<typeof claimUsernames>; changed: boolean } {
    if (this.last !== undefined && this.claim !== undefined && sameVersions(this.last.users, users)) {
      return { statuses: this.last.statuses, claim: this.claim, changed: false };
    }
    const statuses: ObjectStatus[] = [];
    const candidates: ClaimedUser[] = [];
    const attach = (u: RegistryUserResource): Attached => attachUser(u, lookup);
    for (const u of users) {
      const attached = this.users.get(u, attach);
      if ('status' in attached) statuses.push(attached.status);
      else candidates.push(attached.candidate);
    }
    const changes = this.users.settle();
    const changed = changes === 'all' || changes.length > 0 || this.claim === undefined;
    if (changed) this.claim = claimUsernames(candidates);
    // A copy: a caller may edit its list in place between compiles.
    this.last = { users: [...users], statuses };
    return { statuses, claim: this.claim as ReturnType<typeof claimUsernames>, changed };
  }
}

class CompileMemo extends Admissions {
  readonly entries = new Memo<UserResult>();
  readonly grants = new Memo<GrantResult>();

  protected override clear(): void {
    super.clear();
    this.entries.clear();
    this.grants.clear();
  }
}

function credentialKey(credential: ResolvedCredential | undefined): string {
  if (credential === undefined) return '\u0000';
  // The hash itself, not a string built from it: most compiles compare the same string again.
  return 'hash' in credential ? credential.hash : `\u0000${credential.reason}:${credential.message}`;
}

const byObject = (a: ObjectStatus, b: ObjectStatus): number => compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name);

/** The users' part of a compile: per Registry its sorted entries and hashes, and the users' statuses, sorted. */
interface UsersOutcome {
  byRegistry: Map<string, { entries: UserEntry[]; hashes: Record<string, string> }>;
  statuses: ObjectStatus[];
}

/** The grants' part, sorted, with where each entry and status sits (to patch them in place next time). */
interface GrantsOutcome {
  byRegistry: Map<string, GrantEntry[]>;
  statuses: ObjectStatus[];
  entryAt: Map<GrantEntry, number>;
  statusAt: Map<ObjectStatus, number>;
}

/** Whether these changes leave every grant where it was: no grant came, went, or entered or left a Registry's list. */
function patchable(changes: Change<GrantResult>[]): boolean {
  return changes.every(
    (c) =>
      c.before !== undefined &&
      c.after !== undefined &&
      c.before.registryId === c.after.registryId &&
      (c.before.entry === undefined) === (c.after.entry === undefined),
  );
}

export class IncrementalCompiler {
  private readonly needing = new Admissions();
  private readonly memo = new CompileMemo();
  private readonly json = new EntryJson();
  private users: UsersOutcome | undefined;
  private grants: GrantsOutcome | undefined;
  /** The last answer of usersNeedingCredentials, for the claim it was made from (kept while no admission changes). */
  private needed: { claim: ReturnType<typeof claimUsernames>; keys: ReadonlySet<string> } | undefined;
  /** The credentials map of the last users pass. */
  private credentialsMap: CompileInput['credentials'] | undefined;
  /** The claimed users' credential keys of the last users pass (credentialKeysOf). */
  private credentialKeys: string[] | undefined;

  /** usersNeedingCredentials (policy/snapshot.ts), remembering each user's admission. */
  usersNeedingCredentials(
    input: Pick<CompileInput, 'unservedRegistries'> & { registries: RegistryResource[]; users: RegistryUserResource[]; namespaces: NamespaceInfo[] },
  ): ReadonlySet<string> {
    const lookup = this.needing.enter(acceptRegistries(input.registries, undefined, input.unservedRegistries), input.namespaces);
    const { claim } = this.needing.admit(input.users, lookup);
    if (this.needed?.claim !== claim) this.needed = { claim, keys: new Set(claim.claimed.filter((c) => c.user.spec.disabled !== true).map((c) => c.meta.key)) };
    return this.needed.keys;
  }

  /** Each claimed user's credential as the entries memo keys it, in claim order. */
  private credentialKeysOf(claimed: readonly ClaimedUser[], credentials: CompileInput['credentials']): string[] {
    return claimed.map((c) => credentialKey(credentials.get(c.meta.key)));
  }

  private compileUsers(input: CompileInput, lookup: RegistryLookup): UsersOutcome {
    const admitted = this.memo.admit(input.users, lookup);
    // The same claim and the very same credentials map (not changed once handed over: CompileInput).
    if (!admitted.changed && this.users !== undefined && input.credentials === this.credentialsMap) return this.users;
    this.credentialsMap = input.credentials;
    // No admission changed and every claimed user's credential is the one last used: the entries are too.
    const credentialKeys = this.credentialKeysOf(admitted.claim.claimed, input.credentials);
    if (!admitted.changed && this.users !== undefined && this.credentialKeys !== undefined && sameElements(this.credentialKeys, credentialKeys))
      return this.users;
    this.credentialKeys = credentialKeys;
    const results: UserResult[] = [];
    const entryOf = (c: ClaimedUser): UserResult => userEntryOf(c, input.credentials.get(c.meta.key));
    for (const [i, c] of admitted.claim.claimed.entries()) results.push(this.memo.entries.get(c.user, entryOf, credentialKeys[i] as string, c));
    const changes = this.memo.entries.settle();
    if (!admitted.changed && changes !== 'all' && changes.length === 0 && this.users !== undefined) return this.users;
    const statuses: ObjectStatus[] = [...admitted.statuses, ...admitted.claim.statuses];
    const buckets = new Map<string, { entries: UserEntry[]; hashes: Map<string, string> }>();
    for (const [i, c] of admitted.claim.claimed.entries()) {
      const result = results[i] as UserResult;
      statuses.push(result.status);
      if (!('entry' in result)) continue;
      let bucket = buckets.get(c.registryId);
      if (bucket === undefined) buckets.set(c.registryId, (bucket = { entries: [], hashes: new Map() }));
      bucket.entries.push(result.entry);
      if (result.hash !== undefined) bucket.hashes.set(c.username, result.hash);
    }
    const byRegistry: UsersOutcome['byRegistry'] = new Map();
    for (const [id, bucket] of buckets) {
      const hashes = usernameRecord();
      for (const name of [...bucket.hashes.keys()].sort(compareStrings)) hashes[name] = bucket.hashes.get(name) as string;
      byRegistry.set(id, { entries: bucket.entries.sort((a, b) => compareStrings(a.username, b.username)), hashes });
    }
    this.users = { byRegistry, statuses: statuses.sort(byObject) };
    return this.users;
  }

  private compileGrants(input: CompileInput, lookup: RegistryLookup): GrantsOutcome {
    const results = this.memo.grants.getList(input.grants, (g: RepositoryGrantResource): GrantResult => admitGrant(g, lookup));
    const changes = this.memo.grants.settle();
    const last = this.grants;
    if (last !== undefined && changes !== 'all' && patchable(changes)) {
      if (changes.length === 0) return last;
      // Same objects in the same places: put each changed grant's entry and status where its old one was.
      const byRegistry = new Map([...last.byRegistry].map(([id, list]) => [id, [...list]]));
      const statuses = [...last.statuses];
      for (const { before, after } of changes as Required<Change<GrantResult>>[]) {
        const at = last.statusAt.get(before.status) as number;
        statuses[at] = after.status;
        last.statusAt.delete(before.status);
        last.statusAt.set(after.status, at);
        if (before.entry === undefined || after.entry === undefined) continue;
        const index = last.entryAt.get(before.entry) as number;
        (byRegistry.get(after.registryId as string) as GrantEntry[])[index] = after.entry;
        last.entryAt.delete(before.entry);
        last.entryAt.set(after.entry, index);
      }
      this.grants = { byRegistry, statuses, entryAt: last.entryAt, statusAt: last.statusAt };
      return this.grants;
    }
    const byRegistry = new Map<string, GrantEntry[]>();
    const statuses: ObjectStatus[] = [];
    for (const admitted of results) {
      statuses.push(admitted.status);
      if (admitted.entry === undefined || admitted.registryId === undefined) continue;
      const list = byRegistry.get(admitted.registryId);
      if (list === undefined) byRegistry.set(admitted.registryId, [admitted.entry]);
      else list.push(admitted.entry);
    }
    const entryAt = new Map<GrantEntry, number>();
    for (const list of byRegistry.values()) {
      list.sort((a, b) => compareStrings(a.source, b.source));
      for (const [i, e] of list.entries()) entryAt.set(e, i);
    }
    statuses.sort(byObject);
    this.grants = { byRegistry, statuses, entryAt, statusAt: new Map(statuses.map((st, i) => [st, i])) };
    return this.grants;
  }

  /** compileSnapshot (policy/snapshot.ts), re-checking only objects whose version or credential changed. */
  compile(input: CompileInput): CompileResult {
    const registries = acceptRegistries(input.registries, input.identitySecrets ?? new Map(), input.unservedRegistries);
    const lookup = this.memo.enter(registries, input.namespaces);
    const users = this.compileUsers(input, lookup);
    const grants = this.compileGrants(input, lookup);
    const registryStatuses: ObjectStatus[] = [...registries.refused.values()];
    const compiled: CompiledRegistry[] = [];
    for (const reg of registries.accepted.values()) {
      const bucket = users.byRegistry.get(reg.id);
      const userEntries = bucket?.entries ?? [];
      const grantEntries = grants.byRegistry.get(reg.id) ?? [];
      const policy: RegistryPolicy = { ...reg.policy, users: userEntries, grants: grantEntries };
      const credentials: Credentials = { format: CREDENTIALS_FORMAT, registries: { [reg.id]: shippedHashes(reg, bucket?.hashes ?? {}) } };
      if (reg.secrets?.ldapBindPassword !== undefined) credentials.identity = { [reg.id]: { ldapBindPassword: reg.secrets.ldapBindPassword } };
      const snapshot = { format: SNAPSHOT_FORMAT, generation: generationOf([policy], this.json), registries: [policy] };
      compiled.push({ id: reg.id, snapshot, credentials });
      registryStatuses.push(acceptedRegistryStatus(reg, userEntries.length, grantEntries.length));
    }
    compiled.sort((a, b) => compareStrings(a.id, b.id));
    return { registries: compiled, statuses: [...registryStatuses.sort(byObject), ...users.statuses, ...grants.statuses] };
  }

  /** Canonical JSON of the entries this compiler made, remembered (for the shard files). */
  get entryJson(): EntryJson {
    return this.json;
  }
}
