// The snapshot and credentials files: deterministic bytes out, validated values in. The operator and
// `portcullis compile` write them; the token server reads them from ConfigMaps, Secrets or directories.

import { canonicalJson, sha256Hex } from './canonical.js';
import { validatePattern } from './match.js';
import {
  ACTIONS,
  CREDENTIALS_FORMAT,
  SNAPSHOT_FORMAT,
  type Action,
  type Credentials,
  type RegistryPolicy,
  type SigningAlgorithm,
  type Snapshot,
  type SubjectKind,
} from './types.js';

export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = ['ES256', 'RS256'];
export const SUBJECT_KINDS: readonly SubjectKind[] = ['User', 'Group', 'Anonymous', 'Authenticated', 'ServiceAccount'];

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A snapshot of these policies: sorted by service, with the content hash as its generation. */
export function snapshotOf(registries: readonly RegistryPolicy[]): Snapshot {
  const sorted = [...registries].sort((a, b) => compareStrings(a.service, b.service));
  return { format: SNAPSHOT_FORMAT, generation: sha256Hex(canonicalJson(sorted)), registries: sorted };
}

/** Joins per-registry parts into one snapshot and one credentials file. Throws on a service served twice. */
export function mergeSnapshots(parts: readonly { id: string; snapshot: Snapshot; credentials: Credentials }[]): {
  snapshot: Snapshot;
  credentials: Credentials;
} {
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
    for (const [id, secrets] of Object.entries(part.credentials.identity ?? {})) {
      credentials.identity = { ...(credentials.identity ?? {}), [id]: secrets };
    }
  }
  return { snapshot: snapshotOf(policies), credentials };
}

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

function isNonEmptyString(x: unknown): x is string {
  return typeof x === 'string' && x.length > 0;
}

function checkStringArray(x: unknown, path: string): void {
  expect(Array.isArray(x), path, 'a list of strings');
  for (const [i, v] of (x as unknown[]).entries()) expect(typeof v === 'string', `${path}[${i}]`, 'a string');
}

function checkPatterns(x: unknown, path: string): void {
  checkStringArray(x, path);
  for (const [j, pattern] of (x as string[]).entries()) {
    const error = validatePattern(pattern);
    expect(error === undefined, `${path}[${j}]`, `a valid pattern (${error ?? ''})`);
  }
}

function checkTenancy(t: unknown, at: string): void {
  expect(isObject(t), at, 'an object');
  const e = t as Record<string, unknown>;
  expect(isNonEmptyString(e.namespace), `${at}.namespace`, 'a non-empty string');
  checkPatterns(e.prefixes, `${at}.prefixes`);
  expect(typeof e.trustedUsername === 'boolean', `${at}.trustedUsername`, 'a boolean');
  checkStringArray(e.trustedGroups, `${at}.trustedGroups`);
  expect(typeof e.trustedAuthenticated === 'boolean', `${at}.trustedAuthenticated`, 'a boolean');
}

function checkBoolean(x: unknown, path: string): void {
  expect(typeof x === 'boolean', path, 'a boolean');
}

function checkSeconds(x: unknown, path: string): void {
  expect(Number.isInteger(x) && (x as number) >= 0, path, 'a whole number of seconds');
}

function checkAuthentication(a: unknown, at: string): void {
  expect(isObject(a), at, 'an object');
  const e = a as Record<string, unknown>;
  checkBoolean(e.registryUsers, `${at}.registryUsers`);
  if (e.ldap !== undefined) {
    expect(isObject(e.ldap), `${at}.ldap`, 'an object');
    const l = e.ldap as Record<string, unknown>;
    expect(typeof l.url === 'string' && /^ldaps?:\/\/[^/]+$/.test(l.url), `${at}.ldap.url`, 'an ldap:// or ldaps:// URL');
    for (const f of ['startTLS', 'insecureNoTLS', 'authenticated'] as const) checkBoolean(l[f], `${at}.ldap.${f}`);
    for (const f of ['usernamePrefix', 'groupPrefix'] as const) expect(typeof l[f] === 'string', `${at}.ldap.${f}`, 'a string');
    checkSeconds(l.cacheTTLSeconds, `${at}.ldap.cacheTTLSeconds`);
    checkSeconds(l.timeoutSeconds, `${at}.ldap.timeoutSeconds`);
    const users = l.userSearch as Record<string, unknown> | undefined;
    expect(isObject(users) && isNonEmptyString(users.baseDN) && typeof users.filter === 'string', `${at}.ldap.userSearch`, 'a search with baseDN and filter');
    if (l.groupSearch !== undefined) {
      const g = l.groupSearch as Record<string, unknown>;
      expect(
        isObject(g) && isNonEmptyString(g.baseDN) && isNonEmptyString(g.nameAttribute),
        `${at}.ldap.groupSearch`,
        'a search with baseDN and nameAttribute',
      );
    }
  }
  expect(Array.isArray(e.oidc), `${at}.oidc`, 'a list');
  for (const [i, o] of (e.oidc as unknown[]).entries()) {
    const p = `${at}.oidc[${i}]`;
    expect(isObject(o), p, 'an object');
    const issuer = o as Record<string, unknown>;
    expect(typeof issuer.issuer === 'string' && issuer.issuer.startsWith('https://'), `${p}.issuer`, 'an https:// URL');
    checkStringArray(issuer.audiences, `${p}.audiences`);
    checkStringArray(issuer.algorithms, `${p}.algorithms`);
    expect(!(issuer.algorithms as string[]).some((x) => x === 'none' || x.startsWith('HS')), `${p}.algorithms`, 'asymmetric algorithms only');
    expect(isObject(issuer.username) && typeof issuer.username.claim === 'string', `${p}.username`, 'a claim and prefix');
    expect(Array.isArray(issuer.conditions), `${p}.conditions`, 'a list');
    checkBoolean(issuer.authenticated, `${p}.authenticated`);
  }
  if (e.serviceAccounts !== undefined) {
    const sa = e.serviceAccounts as Record<string, unknown>;
    expect(isObject(sa), `${at}.serviceAccounts`, 'an object');
    checkStringArray(sa.audiences, `${at}.serviceAccounts.audiences`);
    checkSeconds(sa.cacheTTLSeconds, `${at}.serviceAccounts.cacheTTLSeconds`);
    checkBoolean(sa.authenticated, `${at}.serviceAccounts.authenticated`);
  }
}

function checkMaintenance(m: unknown, at: string): void {
  expect(isObject(m), at, 'an object');
  const e = m as Record<string, unknown>;
  checkBoolean(e.readOnly, `${at}.readOnly`);
  expect(e.since === undefined || (typeof e.since === 'string' && !Number.isNaN(Date.parse(e.since))), `${at}.since`, 'an RFC 3339 time');
}

function checkPolicy(r: unknown, path: string): void {
  checkPolicyHead(r, path);
  const p = r as Record<string, unknown>;
  expect(Array.isArray(p.users), `${path}.users`, 'a list');
  checkUserEntries(p.users as unknown[], `${path}.users`);
  expect(Array.isArray(p.grants), `${path}.grants`, 'a list');
  checkGrantEntries(p.grants as unknown[], `${path}.grants`);
}

/** The range of spec.tokenTTL, which the compiler enforces and a reader checks again. */
export const MIN_TOKEN_TTL_SECONDS = 60;
export const MAX_TOKEN_TTL_SECONDS = 24 * 3600;

/** Everything of a registry's policy but its users and grants. */
function checkPolicyHead(r: unknown, path: string): void {
  expect(isObject(r), path, 'an object');
  const p = r as Record<string, unknown>;
  expect(isNonEmptyString(p.id), `${path}.id`, 'a non-empty string');
  expect(isNonEmptyString(p.service), `${path}.service`, 'a non-empty string');
  expect(isNonEmptyString(p.issuer), `${path}.issuer`, 'a non-empty string');
  expect(p.realm === undefined || typeof p.realm === 'string', `${path}.realm`, 'a string');
  // The compiler's range, held by the reader too: a snapshot written by anyone but the compiler must not
  // make tokens that outlive a key's rotation.
  const ttl = p.tokenTTLSeconds as number;
  expect(
    Number.isInteger(ttl) && ttl >= MIN_TOKEN_TTL_SECONDS && ttl <= MAX_TOKEN_TTL_SECONDS,
    `${path}.tokenTTLSeconds`,
    `an integer from ${MIN_TOKEN_TTL_SECONDS} to ${MAX_TOKEN_TTL_SECONDS}`,
  );
  expect(SIGNING_ALGORITHMS.includes(p.signingAlgorithm as SigningAlgorithm), `${path}.signingAlgorithm`, 'ES256 or RS256');
  if (p.authentication !== undefined) checkAuthentication(p.authentication, `${path}.authentication`);
  if (p.maintenance !== undefined) checkMaintenance(p.maintenance, `${path}.maintenance`);
}

function checkUserEntries(users: unknown[], path: string): void {
  for (const [i, u] of users.entries()) {
    const at = `${path}[${i}]`;
    expect(isObject(u), at, 'an object');
    const e = u as Record<string, unknown>;
    expect(isNonEmptyString(e.username), `${at}.username`, 'a non-empty string');
    checkStringArray(e.groups, `${at}.groups`);
    expect(typeof e.disabled === 'boolean', `${at}.disabled`, 'a boolean');
    expect(typeof e.credentialRevision === 'string', `${at}.credentialRevision`, 'a string');
    expect(typeof e.source === 'string', `${at}.source`, 'a string');
    expect(e.objectRevision === undefined || typeof e.objectRevision === 'string', `${at}.objectRevision`, 'a string');
    if (e.tenancy !== undefined) checkTenancy(e.tenancy, `${at}.tenancy`);
  }
}

function checkGrantEntries(grants: unknown[], path: string): void {
  for (const [i, g] of grants.entries()) {
    const at = `${path}[${i}]`;
    expect(isObject(g), at, 'an object');
    const e = g as Record<string, unknown>;
    expect(typeof e.source === 'string', `${at}.source`, 'a string');
    expect(Array.isArray(e.subjects), `${at}.subjects`, 'a list');
    for (const [j, s] of (e.subjects as unknown[]).entries()) {
      expect(isObject(s) && SUBJECT_KINDS.includes(s.kind as SubjectKind), `${at}.subjects[${j}].kind`, SUBJECT_KINDS.join(', '));
      const { name, namespace, kind } = s as Record<string, unknown>;
      expect(name === undefined || typeof name === 'string', `${at}.subjects[${j}].name`, 'a string');
      expect(
        kind === 'ServiceAccount' ? isNonEmptyString(namespace) : namespace === undefined,
        `${at}.subjects[${j}].namespace`,
        'set for ServiceAccount only',
      );
    }
    checkPatterns(e.repositories, `${at}.repositories`);
    expect(
      Array.isArray(e.actions) && (e.actions as unknown[]).every((a) => ACTIONS.includes(a as Action)),
      `${at}.actions`,
      'a list of pull, push, delete, *',
    );
    expect(typeof e.catalog === 'boolean', `${at}.catalog`, 'a boolean');
  }
}

/**
 * Validates one piece of a snapshot split into shards (policy/snapshot-shards.ts) as parseSnapshot
 * validates the whole: a registry's policy without users and grants, or a list of users or grants.
 * Throws an Error saying what is wrong and where.
 */
export function checkSnapshotPiece(piece: 'head' | 'users' | 'grants', value: unknown, path: string): void {
  try {
    if (piece === 'head') return checkPolicyHead(value, path);
    expect(Array.isArray(value), path, 'a list');
    if (piece === 'users') checkUserEntries(value as unknown[], path);
    else checkGrantEntries(value as unknown[], path);
  } catch (e) {
    if (e instanceof ShapeError) throw new Error(`invalid snapshot: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * The registries' canonical JSON as serializeSnapshot wrote it: the text after the format and generation
 * members (canonical order puts them first) up to the closing brace. Its hash is the generation, so a
 * file as written is checked without a canonical copy of what was just parsed (at 100,000 users and grants:
 * a 31 MB string made and dropped, 0.2 s of the token server's load). A text laid out otherwise (edited,
 * reformatted, a member after the registries) gives another span, whose hash does not match, and is then
 * checked the long way: it passes only if its registries are the ones the generation names.
 */
function writtenRegistries(text: string, snapshot: Snapshot): string | undefined {
  const head = `{"format":${JSON.stringify(snapshot.format)},"generation":${JSON.stringify(snapshot.generation)},"registries":`;
  if (!text.startsWith(head)) return undefined;
  const end = text.endsWith('}\n') ? text.length - 2 : text.endsWith('}') ? text.length - 1 : -1;
  return end > head.length ? text.slice(head.length, end) : undefined;
}

/** Parses and validates a snapshot file. Throws an Error saying what is wrong and where. */
export function parseSnapshot(text: string): Snapshot {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`snapshot is not valid JSON: ${(e as Error).message}`, { cause: e });
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
    const written = writtenRegistries(text, snapshot);
    const generation =
      written !== undefined && sha256Hex(written) === snapshot.generation ? snapshot.generation : sha256Hex(canonicalJson(snapshot.registries));
    expect(generation === snapshot.generation, 'snapshot.generation', 'the sha256 of its registries (the file is corrupt or was edited)');
    return snapshot;
  } catch (e) {
    if (e instanceof ShapeError) throw new Error(`invalid snapshot: ${e.message}`, { cause: e });
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
  if (value.identity !== undefined) {
    if (!isObject(value.identity)) throw new Error('invalid credentials: identity must be an object');
    for (const [id, secrets] of Object.entries(value.identity)) {
      if (!isObject(secrets) || (secrets.ldapBindPassword !== undefined && typeof secrets.ldapBindPassword !== 'string')) {
        throw new Error(`invalid credentials: identity[${JSON.stringify(id)}] must be an object of strings`);
      }
    }
  }
  return value as unknown as Credentials;
}
