// From admitted RegistryUsers to the bcrypt hashes the token server verifies against, reading as little
// as possible:
// - only users compileSnapshot will actually use (admitted by their Registry, holding their username) are
//   looked at, so a user from a namespace the Registry does not admit never costs a read or a hash;
// - Secrets are watched as metadata only, so the data of Secrets no user names never reaches this
//   process; a Secret whose uid and resourceVersion are unchanged since its last hash is not read at all;
//   a changed one is read with a GET of that one Secret. What was read is kept only for the pass that
//   read it (one htpasswd import puts thousands of users in one Secret: it is read once per pass, and not
//   at all while its version is unchanged), so a Secret's data, plain passwords included, does not outlive
//   the reconcile that needed it. A namespace whose every Secret is to be read (a first start, a
//   namespace holding only password Secrets) is read with one paginated LIST at exactly the version the
//   metadata watch has reached, so it returns those Secrets and no other (namespace-secrets-list.ts).
//   Other reads run 32 at a time (10,000 GETs took 13.6 s at 8 in flight, 7.5-7.8 s at 32), hashing 8
//   at a time (bcrypt's threads are 4).
// The record of which Secret version each hash came from (hash-sources) survives restarts in an
// operator-only Secret, so a new leader does not re-hash every password.

import type { Logger } from 'pino';
import { DEFAULT_BCRYPT_COST, DEFAULT_PASSWORD_KEY, metadataSourceVersion, resolveCredential } from '../../credentials/resolve.js';
import type { RegistryUserResource, SecretResource } from '../../crds/types.js';
import { isNotFound, objectPath, Resources, type KubeClient } from '../../kube/request.js';
import { sameVersions } from '../../policy/compile-memo.js';
import { namespaceOf, objectKey, splitKey } from '../../policy/object-keys.js';
import { Reasons } from '../../policy/reasons.js';
import type { ResolvedCredential } from '../../policy/snapshot.js';
import { forEachLimited, limiter } from './for-each-limited.js';
import { listSecretsAt } from './namespace-secrets-list.js';
import { servesNamespace } from '../served-namespaces.js';

/** What a hash came from: the Secret version (see credentials/resolve.ts) and the hash itself. */
export interface HashSource {
  sourceVersion: string;
  hash: string;
}

/** A Secret as the metadata-only watch sees it. */
export interface SecretMetadata {
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export interface PasswordHashesOptions {
  client: KubeClient;
  /** The metadata of a Secret (`namespace/name`) from the watch; undefined: it does not exist. */
  secretMetadata: (key: string) => SecretMetadata | undefined;
  log: Logger;
  bcryptCost?: number;
  /**
   * The namespace's Secrets as the metadata watch shows them, and the resourceVersion it has reached.
   * Given: a namespace whose every Secret is to be read is read with one LIST (bulkReadAt Secrets or more).
   */
  secretsIn?: (namespace: string) => { names: ReadonlySet<string>; resourceVersion: string };
  /** Default 100. */
  bulkReadAt?: number;
  /** Password Secrets read at once. Default 32. */
  readConcurrency?: number;
  /** Credentials resolved (bcrypt verified or hashed) at once. Default 8. */
  concurrency?: number;
  /**
   * A version that moves whenever a Secret some user names is added, changed or deleted (the operator's
   * SecretIndex; or the Secret watch's resourceVersion; '' turns this off). Given: a pass over the same
   * users as the last, from the sources it returned, with this unchanged, returns the last result
   * without looking at each user again.
   */
  secretsVersion?: () => string;
  /**
   * The only namespaces whose Secrets the operator may read (--secret-namespaces, with the Registries'
   * own); undefined: all in scope. A user elsewhere is refused (SecretNamespaceNotServed) without a read.
   */
  secretNamespaces?: readonly string[];
}

export interface ResolvedHashes {
  credentials: Map<string, ResolvedCredential>;
  /** Per user key, the source of each hash: what to persist. */
  sources: Map<string, HashSource>;
  /** How many reads this took: GETs of one Secret and LISTs of a whole namespace (for logs and tests). */
  reads: number;
}

/**
 * Why a user in `namespace` has no hash when the operator reads Secrets only in some namespaces: not that
 * its Secret is missing (it may well exist), but that the operator may not look, and what to change. The
 * list itself stays out: a tenant reads its users' statuses, and the other namespaces are others' names.
 */
export function secretNamespaceNotServed(namespace: string): ResolvedCredential {
  return {
    reason: Reasons.SecretNamespaceNotServed,
    message:
      `the operator reads Secrets only in the namespaces it is given (--secret-namespaces), and not in ${namespace}, ` +
      `so it cannot read this user's password Secret; add ${namespace} to operator.secretNamespaces`,
  };
}

/** How long a Secret read by `readSecret` (the LDAP bind password) is kept after it was last needed. */
const READ_CACHE_MS = 15 * 60_000;

type ReadCache = Map<string, { resourceVersion: string; secret: Promise<SecretResource | undefined>; usedAt: number }>;

export class PasswordHashes {
  /** Secrets `readSecret` read, by `namespace/name`: the version read and when it was last needed. */
  private readonly reads: ReadCache = new Map();

  /** Per Registry, failures by user key and source version: a broken Secret is read again only once it changes. */
  private readonly failures = new Map<string, Map<string, { sourceVersion: string; credential: ResolvedCredential }>>();

  /** Per Registry, the last pass, for `secretsVersion`'s shortcut. */
  private readonly lastPass = new Map<string, { users: readonly RegistryUserResource[]; secretsVersion: string; result: ResolvedHashes }>();

  constructor(private readonly options: PasswordHashesOptions) {}

  /** Hashes for `users` of the Registry `registryKey`; `previous` is what the last run recorded. */
  async resolve(registryKey: string, users: readonly RegistryUserResource[], previous: ReadonlyMap<string, HashSource>): Promise<ResolvedHashes> {
    // A grant change reconciles every user again. When no user's spec (sameVersions: a status write is no
    // change), no Secret and no recorded source changed, the pass would find what it found last time: at
    // 100,000 users, 0.35 s of string building and lookups per change, skipped; 0.6 s on the first change
    // after a first start's status writes, which gave every user a new object (bench:operator).
    const secretsVersion = this.options.secretsVersion?.() ?? '';
    const last = this.lastPass.get(registryKey);
    if (
      last !== undefined &&
      secretsVersion !== '' &&
      last.secretsVersion === secretsVersion &&
      last.result.sources === previous &&
      sameVersions(last.users, users)
    ) {
      return { ...last.result, reads: 0 };
    }
    const result = await this.resolveEach(registryKey, users, previous);
    if (secretsVersion !== '') this.lastPass.set(registryKey, { users, secretsVersion, result });
    return result;
  }

  private async resolveEach(registryKey: string, users: readonly RegistryUserResource[], previous: ReadonlyMap<string, HashSource>): Promise<ResolvedHashes> {
    const cost = this.options.bcryptCost ?? DEFAULT_BCRYPT_COST;
    const knownFailures = this.failures.get(registryKey) ?? new Map<string, { sourceVersion: string; credential: ResolvedCredential }>();
    const failures = new Map<string, { sourceVersion: string; credential: ResolvedCredential }>();
    const credentials = new Map<string, ResolvedCredential>();
    const sources = new Map<string, HashSource>();
    let reads = 0;
    const readThisPass: ReadCache = new Map();
    const resolving = limiter(this.options.concurrency ?? 8);
    const toRead: { user: RegistryUserResource; userKey: string; secretKey: string; meta: SecretMetadata; version: string | undefined; before?: HashSource }[] =
      [];
    for (const user of users) {
      const userKey = objectKey(user);
      const secretName = user.spec?.passwordSecretRef?.name ?? '';
      const secretKey = `${namespaceOf(user)}/${secretName}`;
      if (!servesNamespace(this.options.secretNamespaces, namespaceOf(user))) {
        credentials.set(userKey, secretNamespaceNotServed(namespaceOf(user)));
        continue;
      }
      const meta = this.options.secretMetadata(secretKey);
      if (meta === undefined) {
        credentials.set(userKey, { reason: Reasons.SecretNotFound, message: `Secret ${secretKey} was not found` });
        continue;
      }
      const version = metadataSourceVersion(meta.metadata, user.spec.passwordSecretRef?.key ?? DEFAULT_PASSWORD_KEY, cost);
      const before = previous.get(userKey);
      if (version !== undefined && before?.sourceVersion === version) {
        credentials.set(userKey, { hash: before.hash });
        sources.set(userKey, before);
        continue;
      }
      const failed = knownFailures.get(userKey);
      if (version !== undefined && failed?.sourceVersion === version) {
        credentials.set(userKey, failed.credential);
        failures.set(userKey, failed);
        continue;
      }
      toRead.push({ user, userKey, secretKey, meta, version, ...(before ? { before } : {}) });
    }
    reads += await this.readWholeNamespaces(
      toRead.map((r) => r.secretKey),
      readThisPass,
    );
    await forEachLimited(toRead, this.options.readConcurrency ?? 32, async ({ user, userKey, secretKey, meta, version, before }) => {
      const secret = await this.read(readThisPass, secretKey, meta, () => reads++);
      const resolved = await resolving(() => resolveCredential(user, secret, { cost, ...(before ? { previous: before } : {}) }));
      credentials.set(userKey, resolved.credential);
      if ('hash' in resolved.credential && resolved.sourceVersion !== '') {
        sources.set(userKey, { sourceVersion: resolved.sourceVersion, hash: resolved.credential.hash });
      } else if (version !== undefined) {
        failures.set(userKey, { sourceVersion: version, credential: resolved.credential });
      }
    });
    this.failures.set(registryKey, failures);
    const now = Date.now();
    for (const [key, entry] of this.reads) if (entry.usedAt + READ_CACHE_MS < now) this.reads.delete(key);
    return { credentials, sources, reads };
  }

  /**
   * A Secret other than a password Secret that compilation needs (the LDAP bind password), read the same
   * way: undefined when the watch shows none, and a GET only when its version changed.
   */
  async readSecret(key: string): Promise<SecretResource | undefined> {
    const meta = this.options.secretMetadata(key);
    if (meta === undefined) return undefined;
    return this.read(this.reads, key, meta, () => undefined);
  }

  /**
   * For each namespace where `secretKeys` name every Secret the watch shows (at least bulkReadAt of them):
   * one paginated LIST at exactly the watch's resourceVersion, put in `cache`. Returns the LISTs made. A
   * LIST that fails (410: that version left etcd's window) leaves those Secrets to their own GETs.
   */
  private async readWholeNamespaces(secretKeys: readonly string[], cache: ReadCache): Promise<number> {
    const secretsIn = this.options.secretsIn;
    if (secretsIn === undefined) return 0;
    const wanted = new Map<string, Set<string>>();
    for (const key of secretKeys) {
      const { namespace, name } = splitKey(key);
      let names = wanted.get(namespace);
      if (names === undefined) wanted.set(namespace, (names = new Set()));
      names.add(name);
    }
    let lists = 0;
    for (const [namespace, names] of wanted) {
      if (names.size < (this.options.bulkReadAt ?? 100)) continue;
      const watched = secretsIn(namespace);
      if (watched.resourceVersion === '' || watched.names.size !== names.size || [...watched.names].some((n) => !names.has(n))) continue;
      try {
        lists++;
        for (const secret of await listSecretsAt(this.options.client, namespace, watched.resourceVersion)) {
          // At that exact version the LIST holds the watched names only; anything else is dropped unread.
          if (!names.has(secret.metadata.name)) continue;
          const found = Promise.resolve(secret);
          cache.set(`${namespace}/${secret.metadata.name}`, { resourceVersion: secret.metadata.resourceVersion ?? '', secret: found, usedAt: Date.now() });
        }
      } catch (error) {
        this.options.log.debug({ namespace, err: (error as Error).message }, 'listing password Secrets failed; reading them one by one');
      }
    }
    return lists;
  }

  /** Drops what is remembered about a Registry that is gone. */
  forget(registryKey: string): void {
    this.failures.delete(registryKey);
    this.lastPass.delete(registryKey);
  }

  /** The Secret at the version its metadata shows: read once per version, however many users name it. */
  private read(cache: ReadCache, key: string, meta: SecretMetadata, counted: () => void): Promise<SecretResource | undefined> {
    const version = meta.metadata.resourceVersion ?? '';
    const cached = cache.get(key);
    if (cached !== undefined && cached.resourceVersion === version && version !== '') {
      cached.usedAt = Date.now();
      return cached.secret;
    }
    counted();
    const { namespace, name } = splitKey(key);
    const secret = this.options.client.get<SecretResource>(objectPath(Resources.secrets, namespace, name)).catch((error: unknown) => {
      if (isNotFound(error)) return undefined;
      cache.delete(key);
      throw error;
    });
    cache.set(key, { resourceVersion: version, secret, usedAt: Date.now() });
    return secret;
  }
}
