// From a RegistryUser's password Secret to the bcrypt hash the token server verifies against. Used by
// `portcullis compile` and by the operator. Hashing is slow on purpose, so a result carries a
// `sourceVersion` that identifies the Secret's content without revealing it; a caller that passes the
// previous result back gets the same hash (no bcrypt call) while the version is unchanged.
// Neither the password nor the hash ever appears in a message.

import bcrypt from 'bcrypt';
import { createHmac, randomBytes } from 'node:crypto';
import { checkBcryptHash, normaliseBcryptHash } from '../policy/password-hash.js';
import { namespaceOf } from '../policy/object-keys.js';
import { Reasons } from '../policy/reasons.js';
import { bindPasswordSecretRef, type ResolvedCredential, type ResolvedIdentitySecrets } from '../policy/snapshot.js';
import type { RegistryResource, RegistryUserResource, SecretResource } from '../crds/types.js';

export const DEFAULT_PASSWORD_KEY = 'password';
/** A Secret key with this name holds a bcrypt hash (or an htpasswd line) instead of a plain password. */
export const HTPASSWD_KEY = 'htpasswd';
export const DEFAULT_BCRYPT_COST = 10;
/** bcrypt ignores everything after 72 bytes; a longer password would silently be a shorter one. */
export const MAX_PASSWORD_BYTES = 72;

export interface ResolveOptions {
  /** bcrypt cost for plain passwords. Default 10. */
  cost?: number;
  /** The caller's last result for this user: reused, without hashing, while sourceVersion is unchanged. */
  previous?: { hash: string; sourceVersion: string };
  /**
   * Key for the HMAC that identifies a Secret value when the Secret has no uid/resourceVersion
   * (manifests). Default: a random key for this process, so versions are stable within one run only.
   */
  hmacKey?: Uint8Array | string;
  /**
   * A hash from an earlier run (e.g. the credentials.json `compile` wrote last time) to keep if the plain
   * password still matches it. Costs one bcrypt compare instead of one hash, and keeps output byte-identical
   * when nothing changed: a fresh salt would change every credentialRevision and so the snapshot generation.
   */
  reuseHash?: string;
}

export interface ResolveResult {
  credential: ResolvedCredential;
  /** Identifies the Secret content the credential came from; empty when there is no usable content. */
  sourceVersion: string;
}

const processHmacKey = randomBytes(32);

/** Describes a non-bcrypt htpasswd hash format for the refusal message (never echoing the hash). */
function htpasswdFormat(value: string): string {
  if (value.startsWith('$apr1$')) return 'an Apache MD5 ($apr1$) hash';
  if (value.startsWith('{SHA}')) return 'a SHA-1 ({SHA}) hash';
  if (value.startsWith('$1$')) return 'an MD5-crypt ($1$) hash';
  if (value.startsWith('$5$') || value.startsWith('$6$')) return 'a SHA-crypt hash';
  if (value.startsWith('$2x$')) return 'a $2x$ bcrypt hash (from a buggy implementation)';
  if (/^\$2[aby]\$/.test(value)) return 'a malformed bcrypt hash';
  return 'not a bcrypt hash (crypt or plain text?)';
}

/**
 * Parses an htpasswd value: a bcrypt hash, or one `user:hash` line. Returns the hash normalised to `$2b$`
 * (the same algorithm as `$2y$`/`$2a$`, and what native bcrypt compares correctly), or an error message.
 */
export function parseHtpasswdHash(value: string): { hash: string } | { message: string } {
  const lines = value
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines.length !== 1) {
    return { message: lines.length === 0 ? 'is empty' : `holds ${lines.length} lines; it must hold one bcrypt hash or one user:hash line` };
  }
  const line = lines[0] as string;
  const colon = line.indexOf(':');
  const hash = colon >= 0 ? line.slice(colon + 1) : line;
  const problem = checkBcryptHash(hash);
  if (problem === 'is not a bcrypt hash') {
    return { message: `holds ${htpasswdFormat(hash)}; only bcrypt ($2y$, $2a$, $2b$) is supported (htpasswd -B)` };
  }
  if (problem !== undefined) {
    return { message: `holds a hash that ${problem}: every login against it would take too long; hash it again with a lower cost (htpasswd -B -C 10)` };
  }
  return { hash: normaliseBcryptHash(hash) };
}

/** The value of `key` in a Secret: stringData wins over data, as the API server merges them. */
export function secretValue(secret: SecretResource, key: string): { value: string } | { missing: true } | { invalid: string } {
  const plain = secret.stringData?.[key];
  if (typeof plain === 'string') return { value: plain };
  const encoded = secret.data?.[key];
  if (typeof encoded !== 'string') return { missing: true };
  const compact = encoded.replace(/\s+/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact)) return { invalid: `data.${key} is not valid base64` };
  return { value: Buffer.from(compact, 'base64').toString('utf8') };
}

/**
 * The source version of a Secret read from the API server, from its metadata alone (uid and
 * resourceVersion), so a caller holding only metadata can tell whether its last hash still stands
 * without reading the Secret. Undefined for objects without them (manifests).
 */
export function metadataSourceVersion(meta: { uid?: string | undefined; resourceVersion?: string | undefined }, key: string, cost: number): string | undefined {
  // The key and cost are part of the version: switching `password` to `htpasswd`, or raising the cost,
  // must produce a new hash even though the Secret itself did not change.
  const { uid, resourceVersion } = meta;
  if (uid === undefined || uid === '' || resourceVersion === undefined || resourceVersion === '') return undefined;
  return `rv:${uid}:${resourceVersion}:${key}:${cost}`;
}

function sourceVersionOf(secret: SecretResource, key: string, value: string, cost: number, hmacKey: Uint8Array | string): string {
  const fromMetadata = metadataSourceVersion(secret.metadata, key, cost);
  if (fromMetadata !== undefined) return fromMetadata;
  const mac = createHmac('sha256', hmacKey).update(`${key}\0${cost}\0`).update(value, 'utf8').digest('base64url');
  return `hmac:${mac}`;
}

function refused(reason: string, message: string): ResolveResult {
  return { credential: { reason, message }, sourceVersion: '' };
}

/** Resolves a RegistryUser's password Secret to a bcrypt hash, or to a reason and message why not. */
export async function resolveCredential(user: RegistryUserResource, secret: SecretResource | undefined, options: ResolveOptions = {}): Promise<ResolveResult> {
  const ref = user.spec.passwordSecretRef;
  const secretName = ref?.name ?? '';
  const key = ref?.key ?? DEFAULT_PASSWORD_KEY;
  const namespace = namespaceOf(user);
  if (secret === undefined) {
    return refused(Reasons.SecretNotFound, `Secret ${namespace}/${secretName} was not found`);
  }
  const found = secretValue(secret, key);
  if ('missing' in found) {
    return refused(Reasons.SecretKeyNotFound, `Secret ${namespace}/${secretName} has no key ${JSON.stringify(key)}`);
  }
  if ('invalid' in found) {
    return refused(Reasons.InvalidCredential, `Secret ${namespace}/${secretName}: ${found.invalid}`);
  }
  const cost = options.cost ?? DEFAULT_BCRYPT_COST;
  const sourceVersion = sourceVersionOf(secret, key, found.value, cost, options.hmacKey ?? processHmacKey);
  if (options.previous !== undefined && options.previous.sourceVersion === sourceVersion) {
    return { credential: { hash: options.previous.hash }, sourceVersion };
  }

  if (key === HTPASSWD_KEY) {
    const parsed = parseHtpasswdHash(found.value);
    if ('message' in parsed) return refused(Reasons.InvalidCredential, `Secret ${namespace}/${secretName} key ${JSON.stringify(key)} ${parsed.message}`);
    return { credential: { hash: parsed.hash }, sourceVersion };
  }

  if (found.value.length === 0) {
    return refused(Reasons.InvalidCredential, `Secret ${namespace}/${secretName} key ${JSON.stringify(key)} is empty`);
  }
  if (Buffer.byteLength(found.value, 'utf8') > MAX_PASSWORD_BYTES) {
    return refused(
      Reasons.InvalidCredential,
      `Secret ${namespace}/${secretName} key ${JSON.stringify(key)} is longer than ${MAX_PASSWORD_BYTES} bytes, ` +
        'which bcrypt cannot tell apart; use a shorter password',
    );
  }
  if (options.reuseHash !== undefined && (await bcryptMatches(found.value, options.reuseHash))) {
    return { credential: { hash: options.reuseHash }, sourceVersion };
  }
  const hash = await bcrypt.hash(found.value, cost);
  return { credential: { hash }, sourceVersion };
}

/** bcrypt.compare that accepts `$2y$` (which native bcrypt refuses) and never throws on a malformed hash. */
export async function bcryptMatches(password: string, hash: string): Promise<boolean> {
  if (checkBcryptHash(hash) !== undefined) return false;
  try {
    return await bcrypt.compare(password, normaliseBcryptHash(hash));
  } catch {
    return false;
  }
}

/**
 * Resolves the LDAP bind password a Registry's `spec.authentication.ldap.bindPasswordSecretRef` names, or
 * why it cannot. The token server needs the password itself (it binds with it), so it is copied, never hashed.
 */
export function resolveBindPassword(registry: RegistryResource, secret: SecretResource | undefined): ResolvedIdentitySecrets {
  const ref = bindPasswordSecretRef(registry);
  if (ref === undefined) return {};
  const where = `Secret ${namespaceOf(registry)}/${ref.name}`;
  if (secret === undefined) return { reason: Reasons.SecretNotFound, message: `${where} (the LDAP bind password) was not found` };
  const key = ref.key ?? DEFAULT_PASSWORD_KEY;
  const found = secretValue(secret, key);
  if ('missing' in found) return { reason: Reasons.SecretKeyNotFound, message: `${where} has no key ${JSON.stringify(key)} (the LDAP bind password)` };
  if ('invalid' in found) return { reason: Reasons.InvalidCredential, message: `${where}: ${found.invalid}` };
  if (found.value === '') return { reason: Reasons.InvalidCredential, message: `${where} key ${JSON.stringify(key)} is empty (the LDAP bind password)` };
  return { ldapBindPassword: found.value };
}
