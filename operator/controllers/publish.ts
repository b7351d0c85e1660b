// Publishes a set of files as a chunked main object + parts (see wire/chunked.ts) as ConfigMaps or
// Secrets owned by a Registry: parts first, the main object (with the manifest) last, stale parts
// deleted after. Nothing is written when the cached objects already hold the planned content. Parts
// named by generation are immutable; fixed slots are rewritten in place.

import {
  PART_KEY,
  partBytes,
  mainValues,
  planChunks,
  sha256Hex,
  type ChunkLimits,
  type ChunkOptions,
  type ChunkPlan,
  type PartSlots,
  type StoreKind,
  type StoredObject,
} from '../../wire/chunked.js';
import { Labels, MANAGED_BY } from '../../wire/labels.js';
import { applyObject, deleteObject, type AppliedObject, type OwnerReference } from '../writes/apply.js';
import { Resources, type KubeClient } from '../../kube/request.js';
import { forEachLimited } from './for-each-limited.js';
import type { OwnWrites } from '../own-writes.js';

export interface PublishTarget {
  kind: StoreKind;
  namespace: string;
  /** Name of the main object; parts are named after it. */
  name: string;
  registryName: string;
  owner: OwnerReference;
  /** Where the writes are remembered, so their watch events do not queue the Registry again. */
  ownWrites?: OwnWrites;
  /** Fixed part names (for Secrets read by name); default: parts named by generation. */
  slots?: PartSlots;
}

function owned(object: StoredObject | undefined, target: PublishTarget): boolean {
  return (object?.metadata.ownerReferences ?? []).some((r) => r.uid === target.owner.uid) && object?.metadata.labels?.[Labels.registry] === target.registryName;
}

/**
 * The sha256 of a cached part's bytes, by the cached object: the informer hands out a new object when a
 * part changes, so an unchanged part is decoded from base64 and hashed once, not on every publish (at
 * 100,000 users the credentials parts alone are several MB).
 */
const partHashes = new WeakMap<StoredObject, string | undefined>();

function storedPartHash(kind: StoreKind, object: StoredObject): string | undefined {
  if (partHashes.has(object)) return partHashes.get(object);
  const bytes = partBytes(kind, object);
  const hash = bytes === undefined ? undefined : sha256Hex(bytes);
  partHashes.set(object, hash);
  return hash;
}

export interface PublishResult {
  plan: ChunkPlan;
  /** False when the cached objects already held this content. */
  wrote: boolean;
}

export async function publishChunked(
  client: KubeClient,
  target: PublishTarget,
  generation: string,
  files: Record<string, string>,
  cached: { main: StoredObject | undefined; parts: StoredObject[] },
  limits?: ChunkLimits,
  options?: ChunkOptions,
): Promise<PublishResult> {
  const plan = planChunks(target.name, generation, files, limits, target.slots, options);
  const cachedParts = new Map(cached.parts.map((p) => [p.metadata.name, p]));
  const planned = new Map<string, string>();
  for (const file of Object.values(plan.manifest.files)) for (const part of file.parts) planned.set(part.name, part.sha256);
  const partUpToDate = (name: string, bytes: Buffer): boolean => {
    const existing = cachedParts.get(name);
    if (existing === undefined || !owned(existing, target)) return false;
    const have = storedPartHash(target.kind, existing);
    return have !== undefined && have === (planned.get(name) ?? sha256Hex(bytes));
  };
  const mainUpToDate =
    cached.main !== undefined &&
    owned(cached.main, target) &&
    Object.keys(mainValues(target.kind, cached.main)).length === Object.keys(plan.main).length &&
    Object.entries(plan.main).every(([k, v]) => mainValues(target.kind, cached.main!)[k] === v);
  const stale = cached.parts.filter((p) => !plan.parts.some((q) => q.name === p.metadata.name));
  if (mainUpToDate && stale.length === 0 && plan.parts.every((p) => partUpToDate(p.name, p.bytes))) return { plan, wrote: false };

  const resource = target.kind === 'Secret' ? Resources.secrets : Resources.configMaps;
  const remembered = <T extends { metadata: { name: string } } | void>(name: string, write: () => Promise<T>): Promise<T> =>
    target.ownWrites === undefined ? write() : target.ownWrites.write(target.kind, target.namespace, name, write);
  const apply = (object: AppliedObject): Promise<AppliedObject> => remembered(object.metadata.name, () => applyObject<AppliedObject>(client, resource, object));
  const meta = (name: string, part: boolean): AppliedObject['metadata'] => ({
    name,
    namespace: target.namespace,
    labels: {
      [Labels.managedBy]: MANAGED_BY,
      [Labels.registry]: target.registryName,
      ...(part ? { [Labels.partOf]: target.name } : {}),
    },
    ownerReferences: [target.owner],
  });
  // Parts are independent of each other (only the manifest orders them): written a few at a time, as a
  // sharded snapshot's first publish writes hundreds.
  await forEachLimited(
    plan.parts.filter((part) => !partUpToDate(part.name, part.bytes)),
    PART_WRITE_CONCURRENCY,
    async (part) => {
      const base64 = part.bytes.toString('base64');
      await apply({
        apiVersion: 'v1',
        kind: target.kind,
        metadata: meta(part.name, true),
        ...(target.kind === 'Secret' ? { type: 'Opaque', data: { [PART_KEY]: base64 } } : { binaryData: { [PART_KEY]: base64 } }),
        ...(target.slots === undefined ? { immutable: true } : {}),
      });
    },
  );
  if (!mainUpToDate) {
    const data =
      target.kind === 'Secret' ? Object.fromEntries(Object.entries(plan.main).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])) : plan.main;
    // Apply owns the whole `data` map, so inline files of an older generation that are now split
    // into parts disappear from the main object in the same write as the new manifest.
    await apply({
      apiVersion: 'v1',
      kind: target.kind,
      metadata: meta(target.name, false),
      ...(target.kind === 'Secret' ? { type: 'Opaque' } : {}),
      data,
    });
  }
  await forEachLimited(stale, PART_WRITE_CONCURRENCY, (part) =>
    remembered(part.metadata.name, () => deleteObject(client, resource, target.namespace, part.metadata.name)),
  );
  return { plan, wrote: true };
}

const PART_WRITE_CONCURRENCY = 8;
