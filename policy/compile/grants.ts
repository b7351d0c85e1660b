// Phase 3 of compileSnapshot: RepositoryGrants. Admission as for users; then the spec is normalised
// (sorted, de-duplicated, `*` standing alone) and a grant from a delegated namespace is held to its
// prefixes and to the catalog consent.

import type { RepositoryGrantResource } from '../../crds/types.js';
import { validatePattern } from '../match.js';
import { namespaceOf } from '../object-keys.js';
import { Reasons } from '../reasons.js';
import { SUBJECT_KINDS } from '../snapshot-format.js';
import { ACTIONS, type Action, type GrantEntry, type Subject } from '../types.js';
import { checkDelegatedGrant } from './delegation.js';
import { attachToRegistry, type RegistryLookup } from './users.js';
import { byKey, compareStrings, isRefusal, metaOf, readyStatus, refuse, refusedStatus, type ObjectStatus, type Refusal } from './status.js';

function isNonEmptyString(x: unknown): x is string {
  return typeof x === 'string' && x.length > 0;
}

function compareSubjects(a: Subject, b: Subject): number {
  return compareStrings(a.kind, b.kind) || compareStrings(a.namespace ?? '', b.namespace ?? '') || compareStrings(a.name ?? '', b.name ?? '');
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A ServiceAccount subject, its namespace defaulting to the grant's; `name` absent: all of the namespace's. */
function serviceAccountSubject(s: { name?: unknown; namespace?: unknown }, grantNamespace: string, at: string): Subject | Refusal {
  const namespace = s.namespace ?? grantNamespace;
  if (typeof namespace !== 'string' || namespace.length > 63 || !DNS1123_LABEL.test(namespace)) {
    return refuse(Reasons.InvalidSpec, `${at}.namespace must be a namespace name`);
  }
  if (s.name === undefined) return { kind: 'ServiceAccount', namespace };
  if (typeof s.name !== 'string' || s.name.length > 253 || !DNS1123_SUBDOMAIN.test(s.name)) {
    return refuse(Reasons.InvalidSpec, `${at}.name must be a ServiceAccount name`);
  }
  return { kind: 'ServiceAccount', namespace, name: s.name };
}

export function normaliseGrant(source: string, g: RepositoryGrantResource): GrantEntry | Refusal {
  const spec = g.spec;
  if (spec === undefined || spec === null) return refuse(Reasons.InvalidSpec, 'spec is required');
  if (!Array.isArray(spec.subjects) || spec.subjects.length === 0) return refuse(Reasons.InvalidSpec, 'spec.subjects must list at least one subject');
  const subjects = new Map<string, Subject>();
  for (const [i, s] of spec.subjects.entries()) {
    if (!SUBJECT_KINDS.includes(s?.kind)) return refuse(Reasons.InvalidSpec, `spec.subjects[${i}].kind must be one of ${SUBJECT_KINDS.join(', ')}`);
    if (s.kind !== 'ServiceAccount' && s.namespace !== undefined)
      return refuse(Reasons.InvalidSpec, `spec.subjects[${i}]: only ServiceAccount subjects take a namespace`);
    if (s.kind === 'ServiceAccount') {
      const subject = serviceAccountSubject(s, namespaceOf(g), `spec.subjects[${i}]`);
      if (isRefusal(subject)) return subject;
      subjects.set(`ServiceAccount/${subject.namespace}/${subject.name ?? ''}`, subject);
    } else if (s.kind === 'User' || s.kind === 'Group') {
      if (!isNonEmptyString(s.name)) return refuse(Reasons.InvalidSpec, `spec.subjects[${i}]: kind ${s.kind} needs a name`);
      subjects.set(`${s.kind}/${s.name}`, { kind: s.kind, name: s.name });
    } else {
      if (s.name !== undefined) return refuse(Reasons.InvalidSpec, `spec.subjects[${i}]: kind ${s.kind} takes no name`);
      subjects.set(s.kind, { kind: s.kind });
    }
  }
  if (!Array.isArray(spec.repositories) || spec.repositories.length === 0)
    return refuse(Reasons.InvalidSpec, 'spec.repositories must list at least one pattern');
  for (const p of spec.repositories) {
    const error = validatePattern(p);
    if (error !== undefined) return refuse(Reasons.InvalidSpec, `spec.repositories: ${error}`);
  }
  if (!Array.isArray(spec.actions) || spec.actions.length === 0) return refuse(Reasons.InvalidSpec, 'spec.actions must list at least one action');
  for (const a of spec.actions) {
    if (!ACTIONS.includes(a)) return refuse(Reasons.InvalidSpec, `spec.actions: unknown action ${JSON.stringify(a)} (pull, push, delete or *)`);
  }
  if (spec.catalog !== undefined && typeof spec.catalog !== 'boolean') return refuse(Reasons.InvalidSpec, 'spec.catalog must be true or false');
  const actions: Action[] = spec.actions.includes('*') ? ['*'] : [...new Set(spec.actions)].sort(compareStrings);
  return {
    source,
    subjects: [...subjects.values()].sort(compareSubjects),
    repositories: [...new Set(spec.repositories)].sort(compareStrings),
    actions,
    catalog: spec.catalog === true,
  };
}

/** One grant's admission: its status, and its snapshot entry and Registry when admitted. Depends only on the grant and `registries`. */
export function admitGrant(g: RepositoryGrantResource, registries: RegistryLookup): { status: ObjectStatus; registryId?: string; entry?: GrantEntry } {
  const meta = metaOf(g);
  const attached = attachToRegistry('grants', g.spec?.registryRef, meta, registries);
  if (isRefusal(attached)) return { status: refusedStatus('RepositoryGrant', meta, attached) };
  const grant = normaliseGrant(meta.key, g);
  const bad = isRefusal(grant) ? grant : attached.admission.home ? undefined : checkDelegatedGrant(grant, attached.admission);
  if (bad !== undefined) return { status: refusedStatus('RepositoryGrant', meta, bad) };
  const status = readyStatus('RepositoryGrant', meta, true, Reasons.Compiled, `grant is in Registry ${attached.reg.id}`);
  return { status, registryId: attached.reg.id, entry: grant as GrantEntry };
}

export function admitGrants(
  grants: readonly RepositoryGrantResource[],
  registries: RegistryLookup,
): { byRegistry: Map<string, GrantEntry[]>; statuses: ObjectStatus[] } {
  const byRegistry = new Map<string, GrantEntry[]>();
  const statuses: ObjectStatus[] = [];
  for (const g of byKey(grants)) {
    const admitted = admitGrant(g, registries);
    statuses.push(admitted.status);
    if (admitted.entry === undefined || admitted.registryId === undefined) continue;
    const list = byRegistry.get(admitted.registryId) ?? [];
    list.push(admitted.entry);
    byRegistry.set(admitted.registryId, list);
  }
  return { byRegistry, statuses };
}
