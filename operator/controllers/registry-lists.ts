// A Registry's users and grants, out of the informers' caches. A grant change reconciles the whole
// Registry; making its lists again meant filtering both caches and building a key for every object (at
// 100,000 users and grants, tens of milliseconds per reconcile, and new lists that the compile and the
// status pass then compare element by element). A list is kept while its cache's content has not moved
// (Informer.changeCount), so a grant change hands over the very same users list as the last reconcile.

import type { RegistryUserResource } from '../../crds/types.js';
import type { Informer, KubeObject } from '../../kube/informer.js';
import { objectKey, refersToRegistry, splitKey } from '../../policy/object-keys.js';

type Referring = KubeObject & { metadata: { name: string }; spec?: { registryRef?: { name?: string; namespace?: string } } };

interface Kept<T> {
  changeCount: number;
  list: T[];
}

export class RegistryLists {
  private readonly kept = new Map<string, Map<Informer<Referring>, Kept<Referring>>>();
  private readonly needed = new Map<string, { users: RegistryUserResource[]; keys: ReadonlySet<string>; list: RegistryUserResource[] }>();

  /** The objects in `informer`'s cache that name the Registry `registryKey`, in cache order. */
  of<T extends Referring>(registryKey: string, informer: Informer<T>): T[] {
    let byInformer = this.kept.get(registryKey);
    if (byInformer === undefined) this.kept.set(registryKey, (byInformer = new Map<Informer<Referring>, Kept<Referring>>()));
    const kept = byInformer.get(informer as unknown as Informer<Referring>) as Kept<T> | undefined;
    if (kept !== undefined && kept.changeCount === informer.changeCount) return kept.list;
    const registry = splitKey(registryKey);
    const list = informer.list().filter((o) => refersToRegistry(o, registry));
    byInformer.set(informer as unknown as Informer<Referring>, { changeCount: informer.changeCount, list });
    return list;
  }

  /** `users` whose keys are in `keys`: the last answer while both are the ones it was made from. */
  neededOf(registryKey: string, users: RegistryUserResource[], keys: ReadonlySet<string>): RegistryUserResource[] {
    const last = this.needed.get(registryKey);
    if (last !== undefined && last.users === users && last.keys === keys) return last.list;
    const list = users.filter((u) => keys.has(objectKey(u)));
    this.needed.set(registryKey, { users, keys, list });
    return list;
  }

  /** The Registry is gone. */
  forget(registryKey: string): void {
    this.kept.delete(registryKey);
    this.needed.delete(registryKey);
  }
}
