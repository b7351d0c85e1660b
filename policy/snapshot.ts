// compileSnapshot: Registry, RegistryUser and RepositoryGrant objects (+ resolved credentials and
// namespaces) -> one snapshot per Registry and a status for every object. Used by the operator and by
// the offline `portcullis compile`, so both produce the same bytes for the same input.
//
// Each object passes a chain of small checks; the first that fails becomes its Ready=False reason and
// message, and the object is left out. Everything is sorted so the output never depends on input order.

import { canonicalJson, sha256Hex } from './canonical.js';
import { parseDuration } from './duration.js';
import { patternWithin, substituteNamespace, validatePattern } from './match.js';
import { ConditionTypes, Reasons } from './reasons.js';
import {
  ACTIONS,
  CREDENTIALS_FORMAT,
  SNAPSHOT_FORMAT,
  type Action,
  type Credentials,
  type GrantEntry,
  type RegistryPolicy,
  type SigningAlgorithm,
  type Snapshot,
  type Subject,
  type SubjectKind,
  type UserEntry,
} from './types.js';
import type {
  Condition,
  Delegation,
  LabelSelector,
  NamespaceInfo,
  RegistryResource,
  RegistryUserResource,
  RepositoryGrantResource,
} from '../crds/types.js';

export type ResolvedCredential = { hash: string } | { reason: string; message: string };

export interface CompileInput {
  registries: RegistryResource[];
  users: RegistryUserResource[];
  grants: RepositoryGrantResource[];
  namespaces: NamespaceInfo[];
  /** key: `${namespace}/${name}` of the RegistryUser. */
  credentials: ReadonlyMap<string, ResolvedCredential>;
}

export interface ObjectStatus {
  kind: 'Registry' | 'RegistryUser' | 'RepositoryGrant';
  namespace: string;
  name: string;
  observedGeneration?: number;
  conditions: Condition[];
  counts?: { users: number; grants: number };
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

export const DEFAULT_ISSUER = 'portcullis';
export const DEFAULT_TOKEN_TTL = '5m';
export const DEFAULT_ALGORITHM: SigningAlgorithm = 'ES256';
export const MIN_TOKEN_TTL_SECONDS = 60;
export const MAX_TOKEN_TTL_SECONDS = 24 * 3600;
/** Objects without a namespace (manifests read by `compile`) are taken to be in this one, as kubectl does. */
export const DEFAULT_NAMESPACE = 'default';

const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = ['ES256', 'RS256'];
const SUBJECT_KINDS: readonly SubjectKind[] = ['User', 'Group', 'Anonymous', 'Authenticated'];
const KIND_ORDER = { Registry: 0, RegistryUser: 1, RepositoryGrant: 2 } as const;

/** A short digest identifying a credential without revealing it (never the hash itself). */
export function credentialRevision(hash: string): string {
  return sha256Hex(`portcullis credential revision\n${hash}`).slice(0, 16);
}

// ---- small helpers ---------------------------------------------------------------------------------

interface Meta {
  namespace: string;
  name: string;
  generation?: number;
}

function metaOf(obj: { metadata: { name: string; namespace?: string; generation?: number } }): Meta {
  const m: Meta = { namespace: obj.metadata.namespace ?? DEFAULT_NAMESPACE, name: obj.metadata.name };
  if (obj.metadata.generation !== undefined) m.generation = obj.metadata.generation;
  return m;
}

function keyOf(m: { namespace: string; name: string }): string {
  return `${m.namespace}/${m.name}`;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byKey<T extends { metadata: { name: string; namespace?: string } }>(items: readonly T[]): T[] {
  return [...items].sort((x, y) => compareStrings(keyOf(metaOf(x)), keyOf(metaOf(y))));
}

function status(kind: ObjectStatus['kind'], m: Meta, ready: boolean, reason: string, message: string): ObjectStatus {
  const condition: Condition = { type: ConditionTypes.Ready, status: ready ? 'True' : 'False', reason, message };
  if (m.generation !== undefined) condition.observedGeneration = m.generation;
  const s: ObjectStatus = { kind, namespace: m.namespace, name: m.name, conditions: [condition] };
  if (m.generation !== undefined) s.observedGeneration = m.generation;
  return s;
}

type Check = { reason: string; message: string } | undefined;
const fail = (reason: string, message: string): Check => ({ reason, message });

function pushTo<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [item]);
  else list.push(item);
}

function isNonEmptyString(x: unknown): x is string {
  return typeof x === 'string' && x.length > 0;
}

// ---- label selectors -------------------------------------------------------------------------------

/** Kubernetes label-selector semantics; an empty selector selects everything. */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  for (const expr of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, expr.key);
    const value = labels[expr.key];
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In':
        if (!has || !values.includes(value as string)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

// ---- registries ------------------------------------------------------------------------------------

interface AcceptedRegistry {
  meta: Meta;
  id: string;
  policy: Omit<RegistryPolicy, 'users' | 'grants'>;
  delegation: Delegation[];
}

function checkDuration(field: string, value: unknown): Check {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return fail(Reasons.InvalidSpec, `${field} must be a duration string such as 5m`);
  try {
    parseDuration(value);
    return undefined;
  } catch (e) {
    return fail(Reasons.InvalidSpec, `${field}: ${(e as Error).message}`);
  }
}

function checkDelegation(delegation: unknown): Check {
  if (delegation === undefined) return undefined;
  if (!Array.isArray(delegation)) return fail(Reasons.InvalidSpec, 'spec.delegation must be a list');
  for (const [i, entry] of (delegation as Delegation[]).entries()) {
    const at = `spec.delegation[${i}]`;
    const from = entry?.namespaces?.from;
    if (from !== 'Same' && from !== 'All' && from !== 'Selector') {
      return fail(Reasons.InvalidSpec, `${at}.namespaces.from must be Same, All or Selector`);
    }
    if (from === 'Selector' && (entry.namespaces.selector === undefined || entry.namespaces.selector === null)) {
      return fail(Reasons.InvalidSpec, `${at}.namespaces.selector is required when from is Selector`);
    }
    for (const expr of entry.namespaces.selector?.matchExpressions ?? []) {
      if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(expr.operator)) {
        return fail(Reasons.InvalidSpec, `${at}.namespaces.selector has unknown operator ${JSON.stringify(expr.operator)}`);
      }
    }
    if (!Array.isArray(entry.repositories) || entry.repositories.length === 0) {
      return fail(Reasons.InvalidSpec, `${at}.repositories must list at least one prefix`);
    }
    for (const p of entry.repositories) {
      const error = validatePattern(p, { allowNamespace: true });
      if (error !== undefined) return fail(Reasons.InvalidSpec, `${at}.repositories: ${error}`);
    }
  }
  return undefined;
}

function acceptRegistry(r: RegistryResource): AcceptedRegistry | { reason: string; message: string } {
  const meta = metaOf(r);
  const spec = r.spec ?? ({} as RegistryResource['spec']);
  if (!isNonEmptyString(spec.service)) return { reason: Reasons.InvalidSpec, message: 'spec.service is required' };
  if (spec.issuer !== undefined && !isNonEmptyString(spec.issuer)) {
    return { reason: Reasons.InvalidSpec, message: 'spec.issuer must be a non-empty string' };
  }
  if (spec.realm !== undefined && !isNonEmptyString(spec.realm)) {
    return { reason: Reasons.InvalidSpec, message: 'spec.realm must be a non-empty string' };
  }
  const ttlText = spec.tokenTTL ?? DEFAULT_TOKEN_TTL;
  let ttl: number;
  try {
    ttl = parseDuration(ttlText);
  } catch (e) {
    return { reason: Reasons.InvalidSpec, message: `spec.tokenTTL: ${(e as Error).message}` };
  }
  if (ttl < MIN_TOKEN_TTL_SECONDS || ttl > MAX_TOKEN_TTL_SECONDS) {
    return { reason: Reasons.InvalidSpec, message: `spec.tokenTTL ${JSON.stringify(ttlText)} is outside the allowed range 60s..24h` };
  }
  const algorithm = spec.signing?.algorithm ?? DEFAULT_ALGORITHM;
  if (!SIGNING_ALGORITHMS.includes(algorithm)) {
    return { reason: Reasons.InvalidSpec, message: `spec.signing.algorithm must be ES256 or RS256` };
  }
  for (const field of ['rotateEvery', 'certificateLifetime', 'caLifetime', 'caRotateBefore'] as const) {
    const bad = checkDuration(`spec.signing.${field}`, spec.signing?.[field]);
    if (bad !== undefined) return bad;
  }
  const badDelegation = checkDelegation(spec.delegation);
  if (badDelegation !== undefined) return badDelegation;
  const id = keyOf(meta);
  const policy: Omit<RegistryPolicy, 'users' | 'grants'> = {
    id,
    service: spec.service,
    issuer: spec.issuer ?? DEFAULT_ISSUER,
    tokenTTLSeconds: ttl,
    signingAlgorithm: algorithm,
  };
  if (spec.realm !== undefined) policy.realm = spec.realm;
  return { meta, id, policy, delegation: spec.delegation ?? [] };
}

// ---- delegation ------------------------------------------------------------------------------------

function admits(entry: Delegation, registryNamespace: string, ns: string, labels: Readonly<Record<string, string>>): boolean {
  switch (entry.namespaces.from) {
    case 'Same':
      return ns === registryNamespace;
    case 'All':
      return true;
    case 'Selector':
      return selectorMatches(entry.namespaces.selector ?? {}, labels);
    default:
      return false;
  }
}

/** The delegation entries that admit objects from `ns`; undefined means unrestricted (the registry's own namespace). */
function admittingEntries(reg: AcceptedRegistry, ns: string, namespaces: ReadonlyMap<string, NamespaceInfo>): Delegation[] | undefined {
  if (ns === reg.meta.namespace) return undefined;
  const labels = namespaces.get(ns)?.labels ?? {};
  return reg.delegation.filter((entry) => admits(entry, reg.meta.namespace, ns, labels));
}

// ---- users -----------------------------------------------------------------------------------------

function resolveRegistry(
  ref: { name?: string; namespace?: string } | undefined,
  own: string,
  accepted: ReadonlyMap<string, AcceptedRegistry>,
  rejected: ReadonlySet<string>,
): AcceptedRegistry | { reason: string; message: string } {
  if (ref === undefined || !isNonEmptyString(ref.name)) return { reason: Reasons.InvalidSpec, message: 'spec.registryRef.name is required' };
  const id = `${ref.namespace ?? own}/${ref.name}`;
  const reg = accepted.get(id);
  if (reg !== undefined) return reg;
  if (rejected.has(id)) return { reason: Reasons.RegistryNotReady, message: `Registry ${id} is not ready` };
  return { reason: Reasons.RegistryNotFound, message: `Registry ${id} not found` };
}

function checkUserSpec(u: RegistryUserResource): Check {
  const spec = u.spec;
  if (spec === undefined || spec === null) return fail(Reasons.InvalidSpec, 'spec is required');
  const username = spec.username ?? u.metadata.name;
  if (!isNonEmptyString(username)) return fail(Reasons.InvalidSpec, 'spec.username must be a non-empty string');
  // Basic auth splits at the first ':'; such a name could never log in.
  if (username.includes(':') || /[\x00-\x20\x7f]/.test(username)) {
    return fail(Reasons.InvalidSpec, 'spec.username must not contain ":", spaces or control characters');
  }
  if (spec.groups !== undefined && (!Array.isArray(spec.groups) || !spec.groups.every(isNonEmptyString))) {
    return fail(Reasons.InvalidSpec, 'spec.groups must be a list of non-empty strings');
  }
  if (spec.disabled !== undefined && typeof spec.disabled !== 'boolean') {
    return fail(Reasons.InvalidSpec, 'spec.disabled must be true or false');
  }
  return undefined;
}

// ---- grants ----------------------------------------------------------------------------------------

function compareSubjects(a: Subject, b: Subject): number {
  return compareStrings(a.kind, b.kind) || compareStrings(a.name ?? '', b.name ?? '');
}

function normaliseGrant(source: string, g: RepositoryGrantResource): GrantEntry | { reason: string; message: string } {
  const spec = g.spec;
  if (spec === undefined || spec === null) return { reason: Reasons.InvalidSpec, message: 'spec is required' };
  if (!Array.isArray(spec.subjects) || spec.subjects.length === 0) {
    return { reason: Reasons.InvalidSpec, message: 'spec.subjects must list at least one subject' };
  }
  const subjects = new Map<string, Subject>();
  for (const [i, s] of spec.subjects.entries()) {
    if (!SUBJECT_KINDS.includes(s?.kind)) {
      return { reason: Reasons.InvalidSpec, message: `spec.subjects[${i}].kind must be User, Group, Anonymous or Authenticated` };
    }
    if (s.kind === 'User' || s.kind === 'Group') {
      if (!isNonEmptyString(s.name)) return { reason: Reasons.InvalidSpec, message: `spec.subjects[${i}]: kind ${s.kind} needs a name` };
      subjects.set(`${s.kind}/${s.name}`, { kind: s.kind, name: s.name });
    } else {
      if (s.name !== undefined) return { reason: Reasons.InvalidSpec, message: `spec.subjects[${i}]: kind ${s.kind} takes no name` };
      subjects.set(s.kind, { kind: s.kind });
    }
  }
  if (!Array.isArray(spec.repositories) || spec.repositories.length === 0) {
    return { reason: Reasons.InvalidSpec, message: 'spec.repositories must list at least one pattern' };
  }
  for (const p of spec.repositories) {
    const error = validatePattern(p);
    if (error !== undefined) return { reason: Reasons.InvalidSpec, message: `spec.repositories: ${error}` };
  }
  if (!Array.isArray(spec.actions) || spec.actions.length === 0) {
    return { reason: Reasons.InvalidSpec, message: 'spec.actions must list at least one action' };
  }
  for (const a of spec.actions) {
    if (!ACTIONS.includes(a)) return { reason: Reasons.InvalidSpec, message: `spec.actions: unknown action ${JSON.stringify(a)} (pull, push, delete or *)` };
  }
  if (spec.catalog !== undefined && typeof spec.catalog !== 'boolean') {
    return { reason: Reasons.InvalidSpec, message: 'spec.catalog must be true or false' };
  }
  const actions: Action[] = spec.actions.includes('*') ? ['*'] : [...new Set(spec.actions)].sort(compareStrings);
  return {
    source,
    subjects: [...subjects.values()].sort(compareSubjects),
    repositories: [...new Set(spec.repositories)].sort(compareStrings),
    actions,
    catalog: spec.catalog === true,
  };
}

function checkPrefixes(grant: GrantEntry, ns: string, entries: readonly Delegation[]): Check {
  const prefixes = entries.flatMap((e) => e.repositories.map((p) => substituteNamespace(p, ns)));
  for (const pattern of grant.repositories) {
    if (!prefixes.some((prefix) => patternWithin(pattern, prefix))) {
      return fail(
        Reasons.OutsideDelegatedPrefix,
        `repository pattern ${JSON.stringify(pattern)} is outside the prefixes delegated to namespace ${ns}: ${prefixes.map((p) => JSON.stringify(p)).join(', ')}`,
      );
    }
  }
  return undefined;
}

// ---- compile ---------------------------------------------------------------------------------------

function snapshotOf(registries: RegistryPolicy[]): Snapshot {
  const sorted = [...registries].sort((a, b) => compareStrings(a.service, b.service));
  return { format: SNAPSHOT_FORMAT, generation: sha256Hex(canonicalJson(sorted)), registries: sorted };
}

/** Compiles objects into one snapshot per Registry plus a status for every object. Pure and deterministic. */
/**
 * The first two checks every user and grant goes through: its registryRef names an accepted Registry,
 * and that Registry's delegation admits the object's namespace. On failure the refusal is the status.
 */
function attachToRegistry(
  kind: 'RegistryUser' | 'RepositoryGrant',
  ref: { name?: string; namespace?: string } | undefined,
  meta: Meta,
  accepted: ReadonlyMap<string, AcceptedRegistry>,
  rejected: ReadonlySet<string>,
  namespaces: ReadonlyMap<string, NamespaceInfo>,
): { reg: AcceptedRegistry; entries: Delegation[] | undefined } | { refused: ObjectStatus } {
  const reg = resolveRegistry(ref, meta.namespace, accepted, rejected);
  if (!('policy' in reg)) return { refused: status(kind, meta, false, reg.reason, reg.message) };
  const entries = admittingEntries(reg, meta.namespace, namespaces);
  if (entries !== undefined && entries.length === 0) {
    const what = kind === 'RegistryUser' ? 'users' : 'grants';
    return { refused: status(kind, meta, false, Reasons.NamespaceNotAllowed, `Registry ${reg.id} does not admit ${what} from namespace ${meta.namespace}`) };
  }
  return { reg, entries };
}

export function compileSnapshot(input: CompileInput): CompileResult {
  const statuses: ObjectStatus[] = [];
  const namespaces = new Map(input.namespaces.map((n) => [n.name, n]));

  // Registries: validate, then the first (by namespace/name) to claim a service keeps it.
  const accepted = new Map<string, AcceptedRegistry>();
  const rejected = new Set<string>();
  const serviceOwner = new Map<string, string>();
  for (const r of byKey(input.registries)) {
    const result = acceptRegistry(r);
    const meta = metaOf(r);
    if (!('policy' in result)) {
      rejected.add(keyOf(meta));
      statuses.push(status('Registry', meta, false, result.reason, result.message));
      continue;
    }
    const owner = serviceOwner.get(result.policy.service);
    if (owner !== undefined) {
      rejected.add(result.id);
      statuses.push(status('Registry', meta, false, Reasons.ServiceConflict, `service ${JSON.stringify(result.policy.service)} is already served by Registry ${owner}`));
      continue;
    }
    serviceOwner.set(result.policy.service, result.id);
    accepted.set(result.id, result);
  }

  // Users: reference, delegation and spec first; then usernames are claimed among the admitted ones,
  // before credentials are looked at, so a broken Secret never hands a username to someone else.
  const usersByRegistry = new Map<string, UserEntry[]>();
  const hashes = new Map<string, Record<string, string>>();
  const candidates = new Map<string, { u: RegistryUserResource; meta: Meta; username: string }[]>();
  for (const u of byKey(input.users)) {
    const meta = metaOf(u);
    const attached = attachToRegistry('RegistryUser', u.spec?.registryRef, meta, accepted, rejected, namespaces);
    if ('refused' in attached) {
      statuses.push(attached.refused);
      continue;
    }
    const { reg } = attached;
    const bad = checkUserSpec(u);
    if (bad !== undefined) {
      statuses.push(status('RegistryUser', meta, false, bad.reason, bad.message));
      continue;
    }
    pushTo(candidates, reg.id, { u, meta, username: u.spec.username ?? u.metadata.name });
  }
  for (const [registryId, list] of candidates) {
    // Oldest first; objects without a creationTimestamp (manifests) sort after dated ones, then by key.
    list.sort(
      (x, y) =>
        compareStrings(x.u.metadata.creationTimestamp ?? '\uffff', y.u.metadata.creationTimestamp ?? '\uffff') ||
        compareStrings(keyOf(x.meta), keyOf(y.meta)),
    );
    const owners = new Map<string, string>();
    for (const { u, meta, username } of list) {
      const owner = owners.get(username);
      if (owner !== undefined) {
        statuses.push(status('RegistryUser', meta, false, Reasons.UsernameConflict, `username ${JSON.stringify(username)} is already taken in Registry ${registryId} by RegistryUser ${owner}`));
        continue;
      }
      owners.set(username, keyOf(meta));
      const groups = [...new Set(u.spec.groups ?? [])].sort(compareStrings);
      const disabled = u.spec.disabled === true;
      if (disabled) {
        // A disabled user needs no password: it stays listed so the token server can say why it refuses.
        const entry: UserEntry = { username, groups, disabled, credentialRevision: '', source: keyOf(meta) };
        pushTo(usersByRegistry, registryId, entry);
        statuses.push(status('RegistryUser', meta, true, Reasons.UserDisabled, `user ${JSON.stringify(username)} is disabled`));
        continue;
      }
      const credential = input.credentials.get(keyOf(meta));
      if (credential === undefined) {
        const secret = JSON.stringify(u.spec.passwordSecretRef?.name ?? '');
        statuses.push(status('RegistryUser', meta, false, Reasons.SecretNotFound, `the password Secret ${secret} was not found`));
        continue;
      }
      if (!('hash' in credential)) {
        statuses.push(status('RegistryUser', meta, false, credential.reason, credential.message));
        continue;
      }
      const entry: UserEntry = { username, groups, disabled, credentialRevision: credentialRevision(credential.hash), source: keyOf(meta) };
      pushTo(usersByRegistry, registryId, entry);
      const h = hashes.get(registryId) ?? {};
      h[username] = credential.hash;
      hashes.set(registryId, h);
      statuses.push(status('RegistryUser', meta, true, Reasons.Compiled, `user ${JSON.stringify(username)} is in Registry ${registryId}`));
    }
  }

  // Grants.
  const grantsByRegistry = new Map<string, GrantEntry[]>();
  for (const g of byKey(input.grants)) {
    const meta = metaOf(g);
    const attached = attachToRegistry('RepositoryGrant', g.spec?.registryRef, meta, accepted, rejected, namespaces);
    if ('refused' in attached) {
      statuses.push(attached.refused);
      continue;
    }
    const { reg, entries } = attached;
    const grant = normaliseGrant(keyOf(meta), g);
    if (!('source' in grant)) {
      statuses.push(status('RepositoryGrant', meta, false, grant.reason, grant.message));
      continue;
    }
    if (entries !== undefined) {
      const outside = checkPrefixes(grant, meta.namespace, entries);
      if (outside !== undefined) {
        statuses.push(status('RepositoryGrant', meta, false, outside.reason, outside.message));
        continue;
      }
    }
    pushTo(grantsByRegistry, reg.id, grant);
    statuses.push(status('RepositoryGrant', meta, true, Reasons.Compiled, `grant is in Registry ${reg.id}`));
  }

  // Per-registry snapshots and Registry statuses.
  const registries: CompiledRegistry[] = [];
  for (const reg of accepted.values()) {
    const users = (usersByRegistry.get(reg.id) ?? []).sort((a, b) => compareStrings(a.username, b.username));
    const grants = (grantsByRegistry.get(reg.id) ?? []).sort((a, b) => compareStrings(a.source, b.source));
    const policy: RegistryPolicy = { ...reg.policy, users, grants };
    const sortedHashes: Record<string, string> = {};
    const h = hashes.get(reg.id) ?? {};
    for (const name of Object.keys(h).sort(compareStrings)) sortedHashes[name] = h[name] as string;
    registries.push({
      id: reg.id,
      snapshot: snapshotOf([policy]),
      credentials: { format: CREDENTIALS_FORMAT, registries: { [reg.id]: sortedHashes } },
    });
    const s = status('Registry', reg.meta, true, Reasons.Compiled, `${users.length} users and ${grants.length} grants compiled`);
    s.counts = { users: users.length, grants: grants.length };
    statuses.push(s);
  }
  registries.sort((a, b) => compareStrings(a.id, b.id));
  statuses.sort(
    (a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name),
  );
  return { registries, statuses };
}

/** Joins per-registry parts into one snapshot and one credentials file. Throws on a service served twice. */
export function mergeSnapshots(parts: CompiledRegistry[]): { snapshot: Snapshot; credentials: Credentials } {
  const services = new Map<string, string>();
  const policies: RegistryPolicy[] = [];
  const credentials: Credentials = { format: CREDENTIALS_FORMAT, registries: {} };
  for (const part of [...parts].sort((a, b) => compareStrings(a.id, b.id))) {
    for (const policy of part.snapshot.registries) {
      const owner = services.get(policy.service);
      if (owner !== undefined) {
        throw new Error(`service ${JSON.stringify(policy.service)} is served by both ${owner} and ${policy.id}`);
      }
      services.set(policy.service, policy.id);
      policies.push(policy);
    }
    for (const [id, users] of Object.entries(part.credentials.registries)) {
      credentials.registries[id] = { ...(credentials.registries[id] ?? {}), ...users };
    }
  }
  return { snapshot: snapshotOf(policies), credentials };
}

// ---- (de)serialisation -----------------------------------------------------------------------------

/** Deterministic bytes: canonical JSON plus a trailing newline. */
export function serializeSnapshot(s: Snapshot): string {
  return `${canonicalJson(s)}\n`;
}

/** Deterministic bytes for a credentials file. */
export function serializeCredentials(c: Credentials): string {
  return `${canonicalJson(c)}\n`;
}

class ShapeError extends Error {}

function expect(cond: boolean, path: string, what: string): void {
  if (!cond) throw new ShapeError(`${path} must be ${what}`);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function checkStringArray(x: unknown, path: string): void {
  expect(Array.isArray(x), path, 'a list of strings');
  for (const [i, v] of (x as unknown[]).entries()) expect(typeof v === 'string', `${path}[${i}]`, 'a string');
}

function checkPolicy(r: unknown, path: string): void {
  expect(isObject(r), path, 'an object');
  const p = r as Record<string, unknown>;
  expect(isNonEmptyString(p.id), `${path}.id`, 'a non-empty string');
  expect(isNonEmptyString(p.service), `${path}.service`, 'a non-empty string');
  expect(isNonEmptyString(p.issuer), `${path}.issuer`, 'a non-empty string');
  expect(p.realm === undefined || typeof p.realm === 'string', `${path}.realm`, 'a string');
  expect(Number.isInteger(p.tokenTTLSeconds) && (p.tokenTTLSeconds as number) > 0, `${path}.tokenTTLSeconds`, 'a positive integer');
  expect(SIGNING_ALGORITHMS.includes(p.signingAlgorithm as SigningAlgorithm), `${path}.signingAlgorithm`, 'ES256 or RS256');
  expect(Array.isArray(p.users), `${path}.users`, 'a list');
  for (const [i, u] of (p.users as unknown[]).entries()) {
    const at = `${path}.users[${i}]`;
    expect(isObject(u), at, 'an object');
    const e = u as Record<string, unknown>;
    expect(isNonEmptyString(e.username), `${at}.username`, 'a non-empty string');
    checkStringArray(e.groups, `${at}.groups`);
    expect(typeof e.disabled === 'boolean', `${at}.disabled`, 'a boolean');
    expect(typeof e.credentialRevision === 'string', `${at}.credentialRevision`, 'a string');
    expect(typeof e.source === 'string', `${at}.source`, 'a string');
  }
  expect(Array.isArray(p.grants), `${path}.grants`, 'a list');
  for (const [i, g] of (p.grants as unknown[]).entries()) {
    const at = `${path}.grants[${i}]`;
    expect(isObject(g), at, 'an object');
    const e = g as Record<string, unknown>;
    expect(typeof e.source === 'string', `${at}.source`, 'a string');
    expect(Array.isArray(e.subjects), `${at}.subjects`, 'a list');
    for (const [j, s] of (e.subjects as unknown[]).entries()) {
      expect(isObject(s) && SUBJECT_KINDS.includes((s as Record<string, unknown>).kind as SubjectKind), `${at}.subjects[${j}].kind`, 'User, Group, Anonymous or Authenticated');
      const name = (s as Record<string, unknown>).name;
      expect(name === undefined || typeof name === 'string', `${at}.subjects[${j}].name`, 'a string');
    }
    checkStringArray(e.repositories, `${at}.repositories`);
    for (const [j, pattern] of (e.repositories as string[]).entries()) {
      const error = validatePattern(pattern);
      expect(error === undefined, `${at}.repositories[${j}]`, `a valid pattern (${error ?? ''})`);
    }
    expect(Array.isArray(e.actions) && (e.actions as unknown[]).every((a) => ACTIONS.includes(a as Action)), `${at}.actions`, 'a list of pull, push, delete, *');
    expect(typeof e.catalog === 'boolean', `${at}.catalog`, 'a boolean');
  }
}

/** Parses and validates a snapshot file. Throws an Error saying what is wrong and where. */
export function parseSnapshot(text: string): Snapshot {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`snapshot is not valid JSON: ${(e as Error).message}`);
  }
  try {
    expect(isObject(value), 'snapshot', 'a JSON object');
    const s = value as Record<string, unknown>;
    expect(s.format === SNAPSHOT_FORMAT, 'snapshot.format', JSON.stringify(SNAPSHOT_FORMAT));
    expect(typeof s.generation === 'string' && /^[0-9a-f]{64}$/.test(s.generation), 'snapshot.generation', 'a hex sha256');
    expect(Array.isArray(s.registries), 'snapshot.registries', 'a list');
    const services = new Set<string>();
    for (const [i, r] of (s.registries as unknown[]).entries()) {
      checkPolicy(r, `snapshot.registries[${i}]`);
      const service = (r as RegistryPolicy).service;
      expect(!services.has(service), `snapshot.registries[${i}].service`, 'unique in the snapshot');
      services.add(service);
    }
    const snapshot = value as Snapshot;
    const generation = sha256Hex(canonicalJson(snapshot.registries));
    expect(generation === snapshot.generation, 'snapshot.generation', 'the sha256 of its registries (the file is corrupt or was edited)');
    return snapshot;
  } catch (e) {
    if (e instanceof ShapeError) throw new Error(`invalid snapshot: ${e.message}`);
    throw e;
  }
}

/** Parses and validates a credentials file. Error messages never quote hashes. */
export function parseCredentials(text: string): Credentials {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The JSON parser's message may quote the text, which holds password hashes.
    throw new Error('credentials file is not valid JSON');
  }
  if (!isObject(value)) throw new Error('invalid credentials: not a JSON object');
  if (value.format !== CREDENTIALS_FORMAT) throw new Error(`invalid credentials: format must be ${JSON.stringify(CREDENTIALS_FORMAT)}`);
  if (!isObject(value.registries)) throw new Error('invalid credentials: registries must be an object');
  for (const [id, users] of Object.entries(value.registries)) {
    if (!isObject(users)) throw new Error(`invalid credentials: registries[${JSON.stringify(id)}] must be an object`);
    for (const [username, hash] of Object.entries(users)) {
      if (typeof hash !== 'string' || hash.length === 0) {
        throw new Error(`invalid credentials: the hash of ${JSON.stringify(username)} in ${JSON.stringify(id)} must be a non-empty string`);
      }
    }
  }
  return value as unknown as Credentials;
}
