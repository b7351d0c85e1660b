// The identity sources of every registry the token server serves, built from the snapshot and rebuilt only
// when a registry's authentication (or its bind password) changes, plus one cache of verified identities.
//
// Which source checks a login is decided by the password: a JWT goes to the OIDC issuer its `iss` names, or
// to the cluster when it is a ServiceAccount token; anything else is a password, checked against the
// RegistryUsers first and then LDAP. A RegistryUser of the Registry's own namespace is never also looked up
// in the directory: the owner may shadow a directory name. One from a delegated namespace may not: a
// tenant could otherwise lock any directory user out by creating a RegistryUser with that name, so a
// password its hash rejects goes on to the directory (shared-name-login.ts). With `registryUsers: false`
// a RegistryUser's name is like any other: LDAP's if there is a directory, else refused as an unknown name.
// The cache is keyed by an HMAC under a per-process key of (registry, configuration, username, password),
// as the password cache is, so it never holds a password or a token; an entry lives until the identity's
// `reuseUntil` (the source's TTL, never past a token's expiry).

import { createHash, createHmac, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { canonicalJson } from '../../policy/canonical.js';
import type { KubeClient } from '../../kube/request.js';
import type { AuthenticationPolicy, UserEntry } from '../../policy/types.js';
import { BoundedMap } from '../../policy/bounded-map.js';
import { registryUserPasswords } from '../../policy/compile/authentication.js';
import type { LoadedRegistry } from '../sources/types.js';
import { AnswerTime } from './answer-time.js';
import { peekJwt, type UnverifiedJwt } from './jwt-shape.js';
import { LdapDirectory } from './ldap.js';
import { OidcIssuer } from './oidc.js';
import { looksLikeServiceAccountToken, ServiceAccountReviewer } from './service-accounts.js';
import { refused, type IdentityCheck, type VerifiedIdentity } from './types.js';

/** How a login is checked. `password` is the RegistryUser (bcrypt) path. */
export type LoginRoute =
  | { kind: 'password' }
  /** A name a delegated namespace's RegistryUser holds: its password, and failing that the directory. */
  | { kind: 'password-or-ldap' }
  | { kind: 'ldap' }
  | { kind: 'oidc'; issuer: OidcIssuer }
  | { kind: 'serviceaccount'; jwt: UnverifiedJwt }
  /** A JWT no configured source accepts: refused without a check. */
  | { kind: 'unroutable'; reason: string };

/** The routes a source checks by itself. */
export type IdentityRoute = Exclude<LoginRoute, { kind: 'password' | 'password-or-ldap' }>;

/** How a cached verification is keyed: a directory login by name and password, a token by itself. */
export type CredentialKind = 'ldap' | 'token';

interface RegistrySources {
  revision: string;
  ldap?: LdapDirectory;
  oidc: Map<string, OidcIssuer>;
  /** When the directory last failed to answer (ms), 0 if it answered since. */
  ldapFailedAt: number;
  /** How long the directory takes to log someone in: every failed login of the Registry is padded past it. */
  ldapLogins: AnswerTime;
}

export interface IdentitySourcesOptions {
  now: () => Date;
  /** The cluster, for TokenReviews; resolves undefined when this token server has none. */
  kubeClient: () => Promise<KubeClient | undefined>;
  maxCacheEntries?: number;
}

/**
 * The most a directory adds to a failed login's wait. Every failure of the Registry waits it out, each one
 * holding its request open: a directory taking seconds (deep nested groups, answers near the timeout) must
 * not hold every wrong password for as long. A failure's own directory work (a search, a bind) is shorter
 * than a login's, so only a directory slower than this at failing shows its time.
 */
export const MAX_DIRECTORY_PADDING_MS = 2_000;

/** A directory that failed within this window is considered down for password logins that fail elsewhere. */
const DOWN_WINDOW_MS = 30_000;

/** Per loaded registry (a new policy state makes new objects), so a login never hashes the configuration. */
const revisions = new WeakMap<LoadedRegistry, string>();

function revisionOf(registry: LoadedRegistry): string {
  let revision = revisions.get(registry);
  if (revision === undefined) {
    revision = computeRevision(registry);
    revisions.set(registry, revision);
  }
  return revision;
}

function computeRevision(registry: LoadedRegistry): string {
  const secret = registry.identitySecrets?.ldapBindPassword;
  const secretDigest = secret === undefined ? '' : createHash('sha256').update(secret).digest('base64url');
  return createHash('sha256')
    .update(canonicalJson(registry.policy.authentication ?? null))
    .update('\0')
    .update(secretDigest)
    .digest('base64url');
}

/**
 * The RegistryUser holding `username` when it is from a delegated namespace and the Registry also has a
 * directory: a name the tenant shares with the directory rather than takes from it.
 */
function sharedWithDirectory(registry: LoadedRegistry, username: string): UserEntry | undefined {
  if (registry.policy.authentication?.ldap === undefined || !registryUserPasswords(registry.policy)) return undefined;
  const user = registry.index.users.get(username);
  return user?.tenancy === undefined ? undefined : user;
}

/**
 * Whether the directory logged in, under a name other than the one typed (a directory matches `FAY` or an
 * e-mail alias to uid `fay`), an entry whose name a RegistryUser holds: the RegistryUser shadows that
 * directory user, and routing by the typed name alone let another spelling through to the directory (with
 * an empty usernamePrefix, to the RegistryUser's own grants, even disabled; review, Medium).
 */
function heldUnderAnotherSpelling(registry: LoadedRegistry, typed: string, identityName: string): boolean {
  const prefix = registry.policy.authentication?.ldap?.usernamePrefix ?? '';
  const name = identityName.startsWith(prefix) ? identityName.slice(prefix.length) : identityName;
  // The names route() gives their RegistryUser's password: held, and not shared by a tenant (a tenant's
  // RegistryUser must not lock the directory user out, docs/identity-sources.md), under any spelling.
  return name !== typed && registryUserPasswords(registry.policy) && registry.index.users.has(name) && sharedWithDirectory(registry, name) === undefined;
}

/**
 * For a shared name the directory is asked only when the RegistryUser's hash rejected the password, so a
 * directory success remembered for it holds only while that hash (and the user's state) stays the same:
 * once the tenant's password is this very one, an uncached login would be the RegistryUser's.
 */
function checkedBefore(registry: LoadedRegistry, username: string): string {
  const user = sharedWithDirectory(registry, username);
  if (user === undefined) return '';
  return `${registry.credentials.get(username)?.revision ?? 'none'}:${user.disabled ? 'disabled' : 'enabled'}`;
}

export class IdentitySources {
  private readonly cacheKeySecret = randomBytes(32);
  private readonly cache: BoundedMap<VerifiedIdentity>;
  private readonly registries = new Map<string, RegistrySources>();
  /** Per registry id, the revision of the policy last prepared: what the current policy's logins use. */
  private readonly current = new Map<string, string>();
  private readonly reviewer: ServiceAccountReviewer;

  constructor(private readonly options: IdentitySourcesOptions) {
    this.cache = new BoundedMap(options.maxCacheEntries ?? 10_000);
    this.reviewer = new ServiceAccountReviewer(options.kubeClient, options.now);
  }

  /** Builds the sources of a new policy; sources whose configuration did not change are kept (with their connections and key sets). */
  prepare(registries: Iterable<LoadedRegistry>): void {
    const live = new Set<string>();
    this.current.clear();
    for (const registry of registries) {
      const id = registry.policy.id;
      live.add(id);
      this.current.set(id, revisionOf(registry));
      this.sourcesOf(registry);
    }
    for (const [id, sources] of this.registries) {
      if (live.has(id)) continue;
      this.registries.delete(id);
      void this.closeSources(sources);
    }
  }

  private build(registry: LoadedRegistry, revision: string): RegistrySources {
    const auth = registry.policy.authentication;
    const sources: RegistrySources = { revision, oidc: new Map(), ldapFailedAt: 0, ldapLogins: new AnswerTime() };
    if (auth?.ldap !== undefined) sources.ldap = new LdapDirectory(auth.ldap, registry.identitySecrets?.ldapBindPassword, this.options.now);
    for (const issuer of auth?.oidc ?? []) sources.oidc.set(issuer.issuer, new OidcIssuer(issuer, this.options.now));
    return sources;
  }

  /** The registry's sources; built here if a login arrives before `prepare` saw this policy. */
  private sourcesOf(registry: LoadedRegistry): RegistrySources {
    const revision = revisionOf(registry);
    const existing = this.registries.get(registry.policy.id);
    if (existing?.revision === revision) return existing;
    // A login that began under the policy before (waiting for its turn while the authentication settings
    // changed) uses the current sources: rebuilding its old ones would close the current connections, the
    // next login would rebuild those again, and each flip would forget the directory's answer time.
    if (existing !== undefined && this.current.get(registry.policy.id) === existing.revision) return existing;
    if (existing !== undefined) void this.closeSources(existing);
    const sources = this.build(registry, revision);
    this.registries.set(registry.policy.id, sources);
    return sources;
  }

  /** Which check a login needs. */
  route(registry: LoadedRegistry, username: string, password: string): LoginRoute {
    const auth: AuthenticationPolicy | undefined = registry.policy.authentication;
    if (auth === undefined) return { kind: 'password' };
    if (auth.oidc.length > 0 || auth.serviceAccounts !== undefined) {
      const jwt = peekJwt(password);
      if (jwt !== undefined) {
        const issuer = typeof jwt.claims.iss === 'string' ? this.sourcesOf(registry).oidc.get(jwt.claims.iss) : undefined;
        if (issuer !== undefined) return { kind: 'oidc', issuer };
        if (auth.serviceAccounts !== undefined && looksLikeServiceAccountToken(jwt)) return { kind: 'serviceaccount', jwt };
        return { kind: 'unroutable', reason: 'the token is from no issuer this registry trusts' };
      }
    }
    if (registryUserPasswords(registry.policy) && registry.index.users.has(username)) {
      return sharedWithDirectory(registry, username) === undefined ? { kind: 'password' } : { kind: 'password-or-ldap' };
    }
    if (auth.ldap !== undefined) return { kind: 'ldap' };
    // Also with registryUsers: false: the password check then treats every name as unknown (dummy hash,
    // same padding), so a RegistryUser's name and password are refused as a wrong password is.
    return { kind: 'password' };
  }

  /**
   * A verification still within its reuse time, or the key to remember one under. A token is the whole
   * credential: the username a client sends beside it does not change who it is, and which source verified
   * it follows from the token and the configuration (the revision), so a token is found before routing.
   */
  lookup(registry: LoadedRegistry, kind: CredentialKind, username: string, password: string): VerifiedIdentity | { miss: string } {
    const name = kind === 'ldap' ? `${username}\0${checkedBefore(registry, username)}` : '';
    const key = createHmac('sha256', this.cacheKeySecret)
      .update(`${registry.policy.id}\0${this.sourcesOf(registry).revision}\0${kind}\0${name}\0${password}`)
      .digest('base64url');
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      if (hit.reuseUntil > this.options.now().getTime()) return hit;
      this.cache.delete(key);
    }
    return { miss: key };
  }

  /** Checks with the source; a success is remembered under `key` (from `lookup`). */
  async verify(registry: LoadedRegistry, username: string, password: string, route: IdentityRoute, key: string): Promise<IdentityCheck> {
    const sources = this.sourcesOf(registry);
    let check: IdentityCheck;
    switch (route.kind) {
      case 'oidc':
        check = await route.issuer.verify(password);
        break;
      case 'serviceaccount':
        check = await this.reviewer.verify(
          password,
          route.jwt,
          registry.policy.authentication?.serviceAccounts ?? { audiences: [], cacheTTLSeconds: 0, authenticated: false },
        );
        break;
      case 'ldap': {
        if (sources.ldap === undefined) return refused('no directory configured');
        const started = performance.now();
        check = await sources.ldap.login(username, password);
        sources.ldapFailedAt = 'unavailable' in check ? this.options.now().getTime() : 0;
        if ('ok' in check && check.ok && heldUnderAnotherSpelling(registry, username, check.identity.username)) {
          check = refused("the directory entry's name is a RegistryUser's");
          break;
        }
        // Successes only: a login's search, bind and group search is the longest path, so padding to it
        // covers every failure's; and refusals, which anyone can send (an empty password is refused before
        // the directory is asked), must not be able to pull the expectation down.
        if ('ok' in check && check.ok) sources.ldapLogins.observe(performance.now() - started);
        break;
      }
      case 'unroutable':
        return refused(route.reason);
    }
    if ('ok' in check && check.ok && check.identity.reuseUntil > this.options.now().getTime()) this.cache.set(key, check.identity);
    return check;
  }

  /** Whether the registry's directory failed to answer recently (so a failed password login may be its fault). */
  directoryDown(registry: LoadedRegistry): boolean {
    const failedAt = this.registries.get(registry.policy.id)?.ldapFailedAt ?? 0;
    return failedAt !== 0 && this.options.now().getTime() - failedAt < DOWN_WINDOW_MS;
  }

  /**
   * How long the registry's directory takes to log someone in (ms), at most MAX_DIRECTORY_PADDING_MS; 0
   * without a directory. Before its first success since the process started or the directory's settings
   * changed, nothing says how slow it is, so the most: padded to 0 then, the failures right after a
   * rollout showed each path's own time, which is what the padding hides.
   */
  expectedDirectoryMs(registry: LoadedRegistry): number {
    if (registry.policy.authentication?.ldap === undefined) return 0;
    return Math.min(MAX_DIRECTORY_PADDING_MS, this.sourcesOf(registry).ldapLogins.expectedMs ?? MAX_DIRECTORY_PADDING_MS);
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  private async closeSources(sources: RegistrySources): Promise<void> {
    await sources.ldap?.close();
  }

  async close(): Promise<void> {
    const all = [...this.registries.values()];
    this.registries.clear();
    await Promise.all(all.map((s) => this.closeSources(s)));
  }
}
