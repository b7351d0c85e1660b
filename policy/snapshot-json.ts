// The canonical JSON of a snapshot built from the canonical JSON of its entries, each written once and
// remembered: between two compiles all but the changed users and grants are the same objects, so the
// generation (sha256 of the registries' canonical JSON) and the shard files cost a concatenation, not a
// serialisation of every entry. Same bytes as canonicalJson of the whole (the tests compare them).

import { createHash, type Hash } from 'node:crypto';
import { canonicalJson } from './canonical.js';
import { sameElements } from './same-elements.js';
import type { GrantEntry, RegistryPolicy, UserEntry } from './types.js';

/** Entries per block of a list's remembered JSON: a change rewrites one block's text. */
const BLOCK = 256;

/** Canonical JSON per entry object, kept as long as the object lives. Entries must not be mutated once written. */
export class EntryJson {
  private readonly cache = new WeakMap<object, string>();
  /** Per list name: the last list's blocks, their entries and joined JSON. */
  private readonly lists = new Map<string, { entries: readonly (UserEntry | GrantEntry)[]; text: string }[]>();

  /** The list's entries' JSON joined with commas, in texts of up to BLOCK entries; a block of the same objects as last time keeps its text. */
  blocks(name: string, entries: readonly (UserEntry | GrantEntry)[]): string[] {
    const last = this.lists.get(name) ?? [];
    const next: { entries: readonly (UserEntry | GrantEntry)[]; text: string }[] = [];
    for (let start = 0, b = 0; start < entries.length; start += BLOCK, b++) {
      const block = entries.slice(start, start + BLOCK);
      const kept = last[b];
      const same = kept !== undefined && sameElements(kept.entries, block);
      next.push(same ? kept : { entries: block, text: block.map(this.of).join(',') });
    }
    this.lists.set(name, next);
    return next.map((b) => b.text);
  }

  readonly of = (entry: UserEntry | GrantEntry): string => {
    let json = this.cache.get(entry);
    if (json === undefined) {
      json = canonicalJson(entry);
      this.cache.set(entry, json);
    }
    return json;
  };

  /** Per snapshot (its policies' ids): the texts last hashed, in order, and the hash's state after each long one. */
  private readonly hashed = new Map<string, { pieces: readonly string[]; states: (Hash | undefined)[] }>();
  /** How many of the last sha256 call's pieces were hashed (the rest were resumed from a state): for tests. */
  lastHashedPieces = 0;

  /**
   * sha256Hex of the pieces joined, resumed from the state after the longest run of pieces equal to the
   * last call's for the same `key`. Blocks (snapshot-json.ts) are the same strings while their entries are
   * the same objects, so an edit hashes only from its block on: in canonical order the grants come before
   * the users, so a user change hashes the users from its block, a grant change its grants and every user.
   * Re-hashing 38 MB took 30 ms of each change at 100,000 users and grants (in-process profile, 18 %).
   */
  sha256(key: string, pieces: readonly string[]): string {
    const last = this.hashed.get(key);
    let same = 0;
    if (last !== undefined) {
      const n = Math.min(last.pieces.length, pieces.length);
      while (same < n && last.pieces[same] === pieces[same]) same++;
    }
    const states: (Hash | undefined)[] = last === undefined ? [] : last.states.slice(0, same);
    let from = same;
    while (from > 0 && states[from - 1] === undefined) from--;
    states.length = from;
    const hash = from === 0 ? createHash('sha256') : (states[from - 1] as Hash).copy();
    for (let i = from; i < pieces.length; i++) {
      const piece = pieces[i] as string;
      hash.update(piece, 'utf8');
      // A state per long piece (a block): copying one per separator would cost more than it saves.
      states.push(piece.length >= RESUME_FROM_LENGTH ? hash.copy() : undefined);
    }
    this.lastHashedPieces = pieces.length - from;
    this.hashed.set(key, { pieces, states });
    return hash.digest('hex');
  }
}

/** Pieces at least this long get a resumable hash state after them. */
const RESUME_FROM_LENGTH = 1024;

// Placeholders for the two lists: a JSON string can hold `"users":"…"` only escaped (`\"users\":`), so the
// unescaped pattern is the policy's own member, unless a nested object has the same key and value.
const USERS_MARK = '"users":"\\u0000portcullis-users\\u0000"';
const GRANTS_MARK = '"grants":"\\u0000portcullis-grants\\u0000"';

/** The policy's canonical JSON as pieces around its users and grants, or undefined if the marks are ambiguous. */
function policyPieces(policy: RegistryPolicy): { before: string; between: string; after: string; usersFirst: boolean } | undefined {
  const text = canonicalJson({ ...policy, users: '\u0000portcullis-users\u0000', grants: '\u0000portcullis-grants\u0000' });
  const u = text.indexOf(USERS_MARK);
  const g = text.indexOf(GRANTS_MARK);
  if (u < 0 || g < 0 || u !== text.lastIndexOf(USERS_MARK) || g !== text.lastIndexOf(GRANTS_MARK)) return undefined;
  const [first, firstMark, second, secondMark] = g < u ? [g, GRANTS_MARK, u, USERS_MARK] : [u, USERS_MARK, g, GRANTS_MARK];
  const firstKey = firstMark.slice(0, firstMark.indexOf(':') + 1);
  const secondKey = secondMark.slice(0, secondMark.indexOf(':') + 1);
  return {
    before: text.slice(0, first) + firstKey,
    between: text.slice(first + firstMark.length, second) + secondKey,
    after: text.slice(second + secondMark.length),
    usersFirst: u < g,
  };
}

/** Whether generationOf hashes this policy from remembered entries (else it serialises the whole policy). */
export function hashedFromEntries(policy: RegistryPolicy): boolean {
  return policyPieces(policy) !== undefined;
}

/**
 * sha256Hex(canonicalJson(policies)) for policies already sorted as snapshotOf sorts them, fed to the
 * hash piece by piece from `json`'s remembered entries, from the first piece that changed since the last
 * call for the same policies (EntryJson.sha256).
 */
export function generationOf(policies: readonly RegistryPolicy[], json: EntryJson): string {
  // A list's blocks go to the hash one by one (tens of kilobytes each): joined into larger texts first,
  // the copying cost more than the hashing; one update per entry would cost more again.
  const pieces: string[] = ['['];
  const list = (name: string, entries: readonly (UserEntry | GrantEntry)[]): void => {
    pieces.push('[');
    for (const [i, text] of json.blocks(name, entries).entries()) {
      if (i > 0) pieces.push(',');
      pieces.push(text);
    }
    pieces.push(']');
  };
  for (const [i, policy] of policies.entries()) {
    if (i > 0) pieces.push(',');
    const parts = policyPieces(policy);
    if (parts === undefined) {
      pieces.push(canonicalJson(policy));
      continue;
    }
    pieces.push(parts.before);
    const [first, second] = parts.usersFirst ? (['users', 'grants'] as const) : (['grants', 'users'] as const);
    list(`${policy.id}\n${first}`, policy[first]);
    pieces.push(parts.between);
    list(`${policy.id}\n${second}`, policy[second]);
    pieces.push(parts.after);
  }
  pieces.push(']');
  return json.sha256(policies.map((p) => p.id).join('\n'), pieces);
}

/** canonicalJson(entries) from remembered entries. */
export function entriesJson(entries: readonly (UserEntry | GrantEntry)[], json: EntryJson): string {
  const parts = new Array<string>(entries.length);
  for (let i = 0; i < entries.length; i++) parts[i] = json.of(entries[i] as UserEntry | GrantEntry);
  return `[${parts.join(',')}]`;
}
