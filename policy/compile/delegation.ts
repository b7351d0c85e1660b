// Delegation: which namespaces besides the Registry's own may attach users and grants, on which
// repository prefixes, and how far the identities they create reach.
//
// The rule (docs/security-model.md): nothing created in a delegated namespace grants or obtains access
// outside that namespace's delegated prefixes, to anyone. A grant there must stay within the prefixes
// (and may list the catalog only where an entry says `catalog: true`); a user there is confined to the
// prefixes, except where the Registry's delegation consents to one of its identities (a username or
// group pattern, or counting as Authenticated) — owner-side consent, as Gateway API's ReferenceGrant.

import type { DelegatedIdentities, Delegation, NamespaceInfo } from '../../crds/types.js';
import { NAMESPACE_VAR, patternWithin, substituteNamespace, validatePattern } from '../match.js';
import { Reasons } from '../reasons.js';
import { SELECTOR_OPERATORS, selectorMatches } from '../selector.js';
import type { GrantEntry, Tenancy } from '../types.js';
import { compareStrings, refuse, type Refusal } from './status.js';

/** The delegation entries admitting one namespace; the Registry's own namespace has none (unrestricted). */
export type Admission = { home: true } | { home: false; namespace: string; entries: Delegation[] };

function isNonEmptyString(x: unknown): x is string {
  return typeof x === 'string' && x.length > 0;
}

// An identity pattern with `*` and `${namespace}` must tell from a name alone which namespace it is for:
// namespace names contain '-', so with "${namespace}-*" namespace `team` matches `team-a-ci` and
// `team-a-devs`, the names `team-a`'s own pattern vouches for, and its users became them. The name
// determines the namespace when one `${namespace}` has only literal text before it (no `*`) and a character
// no namespace name contains right after it, or the mirror image: the namespace is then the run of
// namespace characters at a fixed offset from the start (or the end). `$`, `{` and `}` do not count as
// such a character, as they may belong to another `${namespace}`. The CRD's CEL rule is the same two
// regexes (crds/celRules.ts).
const NAMESPACE_FIRST = /^[^*]*\$\{namespace\}[^a-z0-9*${}-]/;
const NAMESPACE_LAST = /[^a-z0-9*${}-]\$\{namespace\}[^*]*$/;

/** Whether an identity pattern's matches each belong to one namespace (see NAMESPACE_FIRST). */
export function namespaceUnambiguous(p: string): boolean {
  return !p.includes('*') || !p.includes(NAMESPACE_VAR) || NAMESPACE_FIRST.test(p) || NAMESPACE_LAST.test(p);
}

/** Validates an identity pattern: `*` for any run of characters, `${namespace}`; no ':' or whitespace. */
export function validateIdentityPattern(p: unknown): string | undefined {
  if (!isNonEmptyString(p)) return 'pattern is empty';
  if (p.length > 253) return `pattern ${JSON.stringify(p.slice(0, 60))}… is longer than 253`;
  if (/[:\s]/.test(p)) return `pattern ${JSON.stringify(p)} must not contain ":" or whitespace`;
  if (!namespaceUnambiguous(p)) {
    return (
      `pattern ${JSON.stringify(p)} would let one namespace match another's names (namespace names contain '-'): ` +
      `with '*', put a character namespace names cannot contain next to \${namespace}, such as '.', '_' or '@' ("\${namespace}.*")`
    );
  }
  return undefined;
}

/** Whether `value` matches an identity pattern after `${namespace}` is replaced. */
export function identityMatches(pattern: string, namespace: string, value: string): boolean {
  const text = pattern.split(NAMESPACE_VAR).join(namespace);
  const pieces = text.split('*');
  if (pieces.length === 1) return value === text;
  const first = pieces[0] as string;
  const last = pieces[pieces.length - 1] as string;
  if (value.length < first.length + last.length || !value.startsWith(first) || !value.endsWith(last)) return false;
  // Greedy left-to-right placement of the middle pieces between the fixed ends is exact for `*` globs.
  let at = first.length;
  const end = value.length - last.length;
  for (const piece of pieces.slice(1, -1)) {
    const found = value.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}

function checkIdentities(identities: DelegatedIdentities | undefined, at: string): Refusal | undefined {
  if (identities === undefined) return undefined;
  if (typeof identities !== 'object' || identities === null) return refuse(Reasons.InvalidSpec, `${at} must be an object`);
  for (const field of ['usernames', 'groups'] as const) {
    const list = identities[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) return refuse(Reasons.InvalidSpec, `${at}.${field} must be a list`);
    for (const p of list) {
      const error = validateIdentityPattern(p);
      if (error !== undefined) return refuse(Reasons.InvalidSpec, `${at}.${field}: ${error}`);
    }
  }
  if (identities.authenticated !== undefined && typeof identities.authenticated !== 'boolean') {
    return refuse(Reasons.InvalidSpec, `${at}.authenticated must be true or false`);
  }
  return undefined;
}

/** Validates `spec.delegation` as the CRD schema would, for objects that did not come through it. */
export function checkDelegation(delegation: unknown): Refusal | undefined {
  if (delegation === undefined) return undefined;
  if (!Array.isArray(delegation)) return refuse(Reasons.InvalidSpec, 'spec.delegation must be a list');
  for (const [i, entry] of (delegation as Delegation[]).entries()) {
    const at = `spec.delegation[${i}]`;
    const from = entry?.namespaces?.from;
    if (from !== 'Same' && from !== 'All' && from !== 'Selector') {
      return refuse(Reasons.InvalidSpec, `${at}.namespaces.from must be Same, All or Selector`);
    }
    if (from === 'Selector' && (entry.namespaces.selector === undefined || entry.namespaces.selector === null)) {
      return refuse(Reasons.InvalidSpec, `${at}.namespaces.selector is required when from is Selector`);
    }
    for (const expr of entry.namespaces.selector?.matchExpressions ?? []) {
      if (!(SELECTOR_OPERATORS as readonly string[]).includes(expr.operator)) {
        return refuse(Reasons.InvalidSpec, `${at}.namespaces.selector has unknown operator ${JSON.stringify(expr.operator)}`);
      }
    }
    if (!Array.isArray(entry.repositories) || entry.repositories.length === 0) {
      return refuse(Reasons.InvalidSpec, `${at}.repositories must list at least one prefix`);
    }
    for (const p of entry.repositories) {
      const error = validatePattern(p, { allowNamespace: true });
      if (error !== undefined) return refuse(Reasons.InvalidSpec, `${at}.repositories: ${error}`);
    }
    const bad = checkIdentities(entry.identities, `${at}.identities`);
    if (bad !== undefined) return bad;
    if (entry.catalog !== undefined && typeof entry.catalog !== 'boolean') return refuse(Reasons.InvalidSpec, `${at}.catalog must be true or false`);
  }
  return undefined;
}

/**
 * The label the API server sets on every namespace to its name (and nobody can change): selectors may
 * pick namespaces by name with it. Objects compiled offline come without it, and any other value is not
 * the API server's, so it is always the name here.
 */
const NAME_LABEL = 'kubernetes.io/metadata.name';

function admits(entry: Delegation, registryNamespace: string, ns: string, labels: Readonly<Record<string, string>>): boolean {
  switch (entry.namespaces.from) {
    case 'Same':
      return ns === registryNamespace;
    case 'All':
      return true;
    case 'Selector':
      return selectorMatches(entry.namespaces.selector ?? {}, labels[NAME_LABEL] === ns ? labels : { ...labels, [NAME_LABEL]: ns });
    default:
      return false;
  }
}

/** How a Registry in `registryNamespace` with `delegation` admits objects from `ns`; undefined: not at all. */
export function admissionOf(
  registryNamespace: string,
  delegation: readonly Delegation[],
  ns: string,
  namespaces: ReadonlyMap<string, NamespaceInfo>,
): Admission | undefined {
  if (ns === registryNamespace) return { home: true };
  const labels = namespaces.get(ns)?.labels ?? {};
  const entries = delegation.filter((entry) => admits(entry, registryNamespace, ns, labels));
  return entries.length === 0 ? undefined : { home: false, namespace: ns, entries };
}

/** The prefixes a delegated namespace may reach: every admitting entry's patterns, `${namespace}` replaced. */
export function prefixesOf(admission: Admission & { home: false }): string[] {
  const prefixes = admission.entries.flatMap((e) => e.repositories.map((p) => substituteNamespace(p, admission.namespace)));
  return [...new Set(prefixes)].sort(compareStrings);
}

/** Whether an admitting entry consents to `username` as a registry-wide name. */
export function usernameConsented(admission: Admission & { home: false }, username: string): boolean {
  return admission.entries.some((e) => (e.identities?.usernames ?? []).some((p) => identityMatches(p, admission.namespace, username)));
}

/** How far a user from a delegated namespace reaches: its prefixes and which of its identities are consented. */
export function tenancyOf(admission: Admission & { home: false }, username: string, groups: readonly string[]): Tenancy {
  const groupPatterns = admission.entries.flatMap((e) => e.identities?.groups ?? []);
  return {
    namespace: admission.namespace,
    prefixes: prefixesOf(admission),
    trustedUsername: usernameConsented(admission, username),
    trustedGroups: groups.filter((g) => groupPatterns.some((p) => identityMatches(p, admission.namespace, g))),
    trustedAuthenticated: admission.entries.some((e) => e.identities?.authenticated === true),
  };
}

/** The namespace of a ServiceAccount's username (`system:serviceaccount:NS:NAME`), or undefined for any other name. */
function serviceAccountNamespace(name: string | undefined): string | undefined {
  const prefix = 'system:serviceaccount:';
  if (name === undefined || !name.startsWith(prefix)) return undefined;
  return name.slice(prefix.length).split(':')[0];
}

/** A grant from a delegated namespace stays within its prefixes, and lists the catalog only with consent. */
export function checkDelegatedGrant(grant: GrantEntry, admission: Admission & { home: false }): Refusal | undefined {
  const prefixes = prefixesOf(admission);
  for (const pattern of grant.repositories) {
    if (!prefixes.some((prefix) => patternWithin(pattern, prefix))) {
      return refuse(
        Reasons.OutsideDelegatedPrefix,
        `repository pattern ${JSON.stringify(pattern)} is outside the prefixes delegated to namespace ${admission.namespace}: ` +
          prefixes.map((p) => JSON.stringify(p)).join(', '),
      );
    }
  }
  const foreign = grant.subjects.find((s) => s.kind === 'ServiceAccount' && s.namespace !== admission.namespace);
  if (foreign !== undefined) {
    return refuse(
      Reasons.ForeignServiceAccount,
      `a grant in delegated namespace ${admission.namespace} may name only that namespace's ServiceAccounts, not ${foreign.namespace}/${foreign.name ?? '*'}`,
    );
  }
  // A ServiceAccount's identity is also the user `system:serviceaccount:NS:NAME`: the same rule holds
  // for that spelling (review: a User subject named so reached another namespace's account).
  const foreignUser = grant.subjects.find(
    (s) => s.kind === 'User' && serviceAccountNamespace(s.name) !== undefined && serviceAccountNamespace(s.name) !== admission.namespace,
  );
  if (foreignUser !== undefined) {
    return refuse(
      Reasons.ForeignServiceAccount,
      `a grant in delegated namespace ${admission.namespace} may name only that namespace's ServiceAccounts, not the user ${JSON.stringify(foreignUser.name)}`,
    );
  }
  if (grant.catalog && !admission.entries.some((e) => e.catalog === true)) {
    return refuse(
      Reasons.CatalogNotDelegated,
      `catalog: true lists every repository in the registry, beyond the prefixes delegated to namespace ${admission.namespace}; ` +
        "the Registry's delegation does not allow it (catalog: true on the entry)",
    );
  }
  return undefined;
}
