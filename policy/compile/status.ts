// What compilation says about each object: one refusal shape for every check, and the status (Ready
// condition, plus Conflicted where two objects claim one thing) each object ends up with.

import type { Condition } from '../../crds/types.js';
import { namespaceOf, objectKey } from '../object-keys.js';
import { ConditionTypes } from '../reasons.js';

/** Why an object is left out: a CamelCase reason and a sentence. Every check returns this or nothing. */
export interface Refusal {
  refused: { reason: string; message: string };
}

export function refuse(reason: string, message: string): Refusal {
  return { refused: { reason, message } };
}

export function isRefusal(x: unknown): x is Refusal {
  return typeof x === 'object' && x !== null && 'refused' in x;
}

export type ObjectKind = 'Registry' | 'RegistryUser' | 'RepositoryGrant';

export interface ObjectStatus {
  kind: ObjectKind;
  namespace: string;
  name: string;
  observedGeneration?: number;
  conditions: Condition[];
  counts?: { users: number; grants: number };
}

/** The identity of an object being compiled. */
export interface Meta {
  namespace: string;
  name: string;
  key: string;
  generation?: number;
  uid?: string;
  creationTimestamp?: string;
}

export function metaOf(obj: { metadata: { name: string; namespace?: string; generation?: number; uid?: string; creationTimestamp?: string } }): Meta {
  const m: Meta = { namespace: namespaceOf(obj), name: obj.metadata.name, key: objectKey(obj) };
  if (obj.metadata.generation !== undefined) m.generation = obj.metadata.generation;
  if (obj.metadata.uid !== undefined && obj.metadata.uid !== '') m.uid = obj.metadata.uid;
  if (obj.metadata.creationTimestamp !== undefined) m.creationTimestamp = obj.metadata.creationTimestamp;
  return m;
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Oldest first; objects without a creationTimestamp (manifests) after dated ones; then by key. */
export function byAge(a: Meta, b: Meta): number {
  return compareStrings(a.creationTimestamp ?? '\uffff', b.creationTimestamp ?? '\uffff') || compareStrings(a.key, b.key);
}

export function byKey<T extends { metadata: { name: string; namespace?: string } }>(items: readonly T[]): T[] {
  return [...items].sort((x, y) => compareStrings(objectKey(x), objectKey(y)));
}

function condition(type: string, m: Meta, status: boolean, reason: string, message: string): Condition {
  const c: Condition = { type, status: status ? 'True' : 'False', reason, message };
  if (m.generation !== undefined) c.observedGeneration = m.generation;
  return c;
}

export function readyStatus(kind: ObjectKind, m: Meta, ready: boolean, reason: string, message: string): ObjectStatus {
  const s: ObjectStatus = { kind, namespace: m.namespace, name: m.name, conditions: [condition(ConditionTypes.Ready, m, ready, reason, message)] };
  if (m.generation !== undefined) s.observedGeneration = m.generation;
  return s;
}

export function refusedStatus(kind: ObjectKind, m: Meta, refusal: Refusal): ObjectStatus {
  return readyStatus(kind, m, false, refusal.refused.reason, refusal.refused.message);
}

/** Adds `Conflicted=True`: this object keeps what it claims, but another object claims it too. */
export function withConflict(s: ObjectStatus, m: Meta, reason: string, message: string): ObjectStatus {
  return { ...s, conditions: [...s.conditions, condition(ConditionTypes.Conflicted, m, true, reason, message)] };
}
