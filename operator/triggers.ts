// Which Registry keys an event affects, for each controller. The work item is only the key; these
// decide who has to look again. For the Registry controller:
// - a RegistryUser or RepositoryGrant: its registryRef (before and after an edit that moved it), not
//   when only its status, labels or annotations changed;
// - a Secret: every Registry with a user whose passwordSecretRef names it (kept in SecretIndex, so a
//   Secret event costs a map lookup, not a scan of all users), and a Registry whose LDAP bind password it holds;
// - an owned ConfigMap/Secret (someone edited or deleted it): the Registry in its label;
// - not the echo of the Registry controller's own writes (its published objects, a Registry's status:
//   own-writes.ts), which would compile again and find nothing new;
// - a Namespace: every Registry whose delegation selects namespaces by label;
// - a Registry: all Registries, because a service conflict between two of them changes both statuses.
// For the keys controller: a Registry whose spec or rotate annotation changed, one of its key objects
// deleted, or a change of the Deployment it names.

import type { RegistryResource, RegistryUserResource, RepositoryGrantResource } from '../crds/types.js';
import type { Informer } from '../kube/informer.js';
import type { OperatorCaches } from './caches.js';
import type { OwnWrites } from './own-writes.js';
import { stableJson } from './writes/status.js';
import { Labels } from '../wire/labels.js';
import { DEFAULT_NAMESPACE, namespaceOf, objectKey, registryKeyOf } from '../policy/object-keys.js';

export class SecretIndex {
  /** user key -> [secret key, registry key] */
  private readonly byUser = new Map<string, [string, string]>();
  /**
   * secret key -> the Registries of the users naming it, with how many users each. A short list, not a
   * Map: a Secret almost always serves one user of one Registry, and 10,000 one-entry Maps held 9 MB.
   */
  private readonly bySecret = new Map<string, { registry: string; users: number }[]>();
  private passwordSecretEvents = 0;

  /**
   * Moves on every event of a Secret some user names (secretChanged): while it stays, no password Secret
   * changed. Finer than the Secret cache's resourceVersion, which the operator's own credentials and
   * hash-sources writes move too: at 100,000 users the first change after a first start made the hashes
   * pass look at every user again for them (password-hashes.ts).
   */
  get passwordSecretsVersion(): string {
    return String(this.passwordSecretEvents);
  }

  /** A Secret was added, changed or deleted: the Registries of the users naming it (counted when there are any). */
  secretChanged(secretKey: string): string[] {
    const registries = this.registriesFor(secretKey);
    if (registries.length > 0) this.passwordSecretEvents++;
    return registries;
  }

  setUser(user: RegistryUserResource): void {
    this.deleteUser(objectKey(user));
    const secret = `${namespaceOf(user)}/${user.spec?.passwordSecretRef?.name ?? ''}`;
    const registry = registryKeyOf(user);
    this.byUser.set(objectKey(user), [secret, registry]);
    const registries = this.bySecret.get(secret);
    const counted = registries?.find((r) => r.registry === registry);
    if (counted !== undefined) counted.users++;
    else if (registries !== undefined) registries.push({ registry, users: 1 });
    else this.bySecret.set(secret, [{ registry, users: 1 }]);
  }

  deleteUser(userKey: string): void {
    const entry = this.byUser.get(userKey);
    if (!entry) return;
    this.byUser.delete(userKey);
    const [secret, registry] = entry;
    const registries = this.bySecret.get(secret);
    const at = registries?.findIndex((r) => r.registry === registry) ?? -1;
    if (registries === undefined || at < 0) return;
    if (--(registries[at] as { users: number }).users <= 0) registries.splice(at, 1);
    if (registries.length === 0) this.bySecret.delete(secret);
  }

  registriesFor(secretKey: string): string[] {
    return (this.bySecret.get(secretKey) ?? []).map((r) => r.registry);
  }
}

/** The Registry an owned object belongs to, from its label; undefined for objects we do not own. */
export function ownerRegistryKey(object: { metadata: { namespace?: string; labels?: Record<string, string> } }): string | undefined {
  const name = object.metadata.labels?.[Labels.registry];
  return name ? `${object.metadata.namespace || DEFAULT_NAMESPACE}/${name}` : undefined;
}

export function selectsNamespacesByLabel(registry: RegistryResource): boolean {
  return (registry.spec?.delegation ?? []).some((d) => d.namespaces?.from === 'Selector');
}

/**
 * An update of a RegistryUser or RepositoryGrant that changes nothing the compile reads: the same
 * generation (the API server bumps it on every spec change) and deletionTimestamp. Its status, labels
 * and annotations are read by nothing that compiles (policy/compile/), so the operator's own status
 * writes and anyone's labelling cost no reconcile.
 */
export function compiledPartUnchanged(
  previous: { metadata: { generation?: number; deletionTimestamp?: string } },
  object: { metadata: { generation?: number; deletionTimestamp?: string } },
): boolean {
  const a = previous.metadata;
  const b = object.metadata;
  return a.generation !== undefined && a.generation === b.generation && a.deletionTimestamp === b.deletionTimestamp;
}

/** Where the triggers put keys: each controller's queue, or nowhere while this replica does not lead. */
export interface Queues {
  registry(key: string): void;
  keys(key: string): void;
}

/** Subscribes the controllers' triggers to the caches. */
export function wireTriggers(caches: OperatorCaches, queues: Queues, ownWrites?: OwnWrites, secretIndex = new SecretIndex()): void {
  const allRegistries = (): void => {
    for (const r of caches.registries.list()) queues.registry(objectKey(r));
  };
  caches.registries.on((e) => {
    if (e.type !== 'added' && e.type !== 'updated' && e.type !== 'deleted') return;
    if (
      e.type === 'updated' &&
      e.previous.metadata.generation === e.object.metadata.generation &&
      ownWrites?.isEcho('Registry', e, () => queues.registry(e.key))
    )
      return;
    // Every other change, status-only ones included: status.garbageCollection.phase is compiled into the
    // snapshot (a maintenance window refuses pushes at the token server).
    queues.registry(e.key);
    if (e.type !== 'updated' || e.object.metadata.generation !== e.previous.metadata.generation) allRegistries();
    // The keys controller's own status writes change only the status: it looks again on spec or annotation changes.
    if (e.type === 'deleted') return;
    if (
      e.type === 'updated' &&
      e.previous.metadata.generation === e.object.metadata.generation &&
      stableJson(e.previous.metadata.annotations) === stableJson(e.object.metadata.annotations)
    )
      return;
    queues.keys(e.key);
  });
  for (const informer of [caches.users, caches.grants] as Informer<RegistryUserResource | RepositoryGrantResource>[]) {
    informer.on((e) => {
      if (e.type !== 'added' && e.type !== 'updated' && e.type !== 'deleted') return;
      // The operator's own status writes: a first start makes one per object, and each would compile the
      // Registry again for nothing (the snapshot reads no user's or grant's status, labels or annotations).
      // A status someone else changed is put right at the next change or resync.
      if (e.type === 'updated' && compiledPartUnchanged(e.previous, e.object)) return;
      queues.registry(registryKeyOf(e.object));
      if (e.type === 'updated') queues.registry(registryKeyOf(e.previous));
    });
  }
  caches.users.on((e) => {
    if (e.type === 'added' || e.type === 'updated') secretIndex.setUser(e.object);
    else if (e.type === 'deleted') secretIndex.deleteUser(e.key);
  });
  caches.secretMetadata.on((e) => {
    if (e.type !== 'added' && e.type !== 'updated' && e.type !== 'deleted') return;
    for (const key of secretIndex.secretChanged(e.key)) queues.registry(key);
    // The LDAP bind password: few Registries, so a scan rather than another index.
    for (const r of caches.registries.list()) {
      const ref = r.spec?.authentication?.ldap?.bindPasswordSecretRef;
      if (ref !== undefined && `${namespaceOf(r)}/${ref.name}` === e.key) queues.registry(objectKey(r));
      // The storage credentials: the Deployment is wired only once they exist (controllers/storage.ts).
      const storageRef = r.spec?.storage?.s3?.credentialsSecretRef;
      if (storageRef !== undefined && `${namespaceOf(r)}/${storageRef.name}` === e.key) queues.keys(objectKey(r));
    }
  });
  for (const [kind, owned] of [
    ['Secret', caches.ownedSecrets],
    ['ConfigMap', caches.configMaps],
  ] as const) {
    owned.on((e) => {
      if (e.type !== 'added' && e.type !== 'updated' && e.type !== 'deleted') return;
      const owner = ownerRegistryKey(e.object);
      if (owner === undefined) return;
      const trigger = (): void => {
        queues.registry(owner);
        if (e.type === 'deleted') queues.keys(owner);
      };
      if (ownWrites?.isEcho(kind, e, trigger) !== true) trigger();
    });
  }
  caches.namespaces.on((e) => {
    if (e.type !== 'added' && e.type !== 'updated' && e.type !== 'deleted') return;
    for (const r of caches.registries.list()) if (selectsNamespacesByLabel(r)) queues.registry(objectKey(r));
  });
  caches.deployments.on((e) => {
    if (e.type !== 'added' && e.type !== 'updated' && e.type !== 'deleted') return;
    for (const r of caches.registries.list()) {
      if (namespaceOf(r) === namespaceOf(e.object) && r.spec.distribution?.deployment === e.object.metadata.name) queues.keys(objectKey(r));
    }
  });
}
