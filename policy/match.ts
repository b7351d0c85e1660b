// Repository patterns, as grants and delegation prefixes write them. A pattern is `/`-separated
// segments, each one of:
//   literal      `team-a`, a path component (the first segment may also be a `host:port` domain)
//   `*`          exactly one segment
//   `**`         one or more segments, at any position. `team/**` matches `team/a` and `team/a/b` but
//                NOT `team` itself: a grant on "everything under team" should not also hand out the
//                repository called `team`, which is usually someone else's. Write both to get both.
//   `${user}`    the requesting user's name, as one segment (never matches for anonymous requests)
//   `${namespace}` the grant's namespace; only in delegation prefixes, where it is replaced before use.
// Wildcards stand for whole segments only: `team-*` is refused rather than guessed at.

import { BoundedMap } from './bounded-map.js';
import { isDomain, isPathComponent, DEFAULT_MAX_NAME_LENGTH } from './scope.js';

export const USER_VAR = '${user}';
export const NAMESPACE_VAR = '${namespace}';

export type Segment = { kind: 'literal'; value: string } | { kind: 'one' } | { kind: 'many' } | { kind: 'user' } | { kind: 'namespace' };

export interface CompiledPattern {
  readonly source: string;
  readonly segments: readonly Segment[];
  /** The first segment when it is a literal: what authorize indexes on. */
  readonly literalPrefix?: string;
}

/**
 * Returns an error message for an invalid pattern, or undefined if it is valid.
 * `${namespace}` is accepted only when `allowNamespace` is set (delegation prefixes).
 */
export function validatePattern(p: string, options?: { allowNamespace?: boolean }): string | undefined {
  if (typeof p !== 'string' || p.length === 0) return 'pattern is empty';
  if (p.length > DEFAULT_MAX_NAME_LENGTH) return `pattern ${JSON.stringify(p.slice(0, 60))}… is longer than ${DEFAULT_MAX_NAME_LENGTH}`;
  const segments = p.split('/');
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i] as string;
    if (seg === '') return `pattern ${JSON.stringify(p)} has an empty segment`;
    if (seg === '*' || seg === '**' || seg === USER_VAR) continue;
    if (seg === NAMESPACE_VAR) {
      if (options?.allowNamespace === true) continue;
      return `pattern ${JSON.stringify(p)}: \${namespace} is only allowed in delegation prefixes`;
    }
    if (seg.includes('*') || seg.includes('${')) {
      return `pattern ${JSON.stringify(p)}: segment ${JSON.stringify(seg)} mixes text with a wildcard or variable; use whole segments (*, **, \${user})`;
    }
    if (isPathComponent(seg)) continue;
    if (i === 0 && segments.length > 1 && isDomain(seg)) continue;
    return `pattern ${JSON.stringify(p)}: segment ${JSON.stringify(seg)} is not a valid repository name component`;
  }
  return undefined;
}

/** Compiles a pattern (validate it first: this throws on an invalid one). */
export function compilePattern(p: string): CompiledPattern {
  const error = validatePattern(p, { allowNamespace: true });
  if (error !== undefined) throw new Error(error);
  const segments: Segment[] = p.split('/').map((seg): Segment => {
    if (seg === '*') return { kind: 'one' };
    if (seg === '**') return { kind: 'many' };
    if (seg === USER_VAR) return { kind: 'user' };
    if (seg === NAMESPACE_VAR) return { kind: 'namespace' };
    return { kind: 'literal', value: seg };
  });
  const first = segments[0];
  return first !== undefined && first.kind === 'literal' ? { source: p, segments, literalPrefix: first.value } : { source: p, segments };
}

/** Replaces `${namespace}` segments with a namespace name (delegation prefixes). */
export function substituteNamespace(p: string, namespace: string): string {
  return p
    .split('/')
    .map((seg) => (seg === NAMESPACE_VAR ? namespace : seg))
    .join('/');
}

function segmentMatches(seg: Segment, part: string, user: string | undefined): boolean {
  switch (seg.kind) {
    case 'literal':
      return seg.value === part;
    case 'one':
    case 'many':
      return true;
    case 'user':
      return user !== undefined && user === part;
    case 'namespace':
      return false; // an unsubstituted ${namespace} matches nothing
  }
}

/**
 * Whether the `/`-split parts of a name match: the hot path of authorize, which splits once and needs no
 * sentence. Runs an NFA over the segments: O(segments × parts), no backtracking blow-up.
 */
export function matchesParts(pattern: CompiledPattern, parts: readonly string[], user: string | undefined): boolean {
  const segs = pattern.segments;
  let states = new Uint8Array(segs.length + 1);
  states[0] = 1;
  for (const part of parts) {
    if (part === '') return false;
    const next = new Uint8Array(segs.length + 1);
    let any = false;
    for (let i = 0; i < segs.length; i++) {
      if (states[i] === 1 && segmentMatches(segs[i] as Segment, part, user)) {
        next[i + 1] = 1;
        any = true;
      }
    }
    // `**` keeps consuming: a position just after a `many` that was reached stays reachable.
    for (let i = 1; i <= segs.length; i++) {
      if (states[i] === 1 && (segs[i - 1] as Segment).kind === 'many') {
        next[i] = 1;
        any = true;
      }
    }
    if (!any) return false;
    states = next;
  }
  return states[segs.length] === 1;
}

/** Whether `name` matches `pattern`, and a sentence saying why (or why not). */
export function matchRepository(pattern: CompiledPattern, name: string, vars: { user?: string }): { matched: boolean; why: string } {
  const parts = name.split('/');
  if (parts.includes('')) return { matched: false, why: `${JSON.stringify(name)} has an empty path segment` };
  if (matchesParts(pattern, parts, vars.user)) {
    return { matched: true, why: `${JSON.stringify(name)} matches pattern ${JSON.stringify(pattern.source)}` };
  }
  return { matched: false, why: explainMismatch(pattern, name, vars) };
}

function explainMismatch(pattern: CompiledPattern, name: string, vars: { user?: string }): string {
  const base = `${JSON.stringify(name)} does not match pattern ${JSON.stringify(pattern.source)}`;
  if (pattern.segments.some((s) => s.kind === 'user') && vars.user === undefined) {
    return `${base}: \${user} needs a signed-in user`;
  }
  const first = pattern.segments[0];
  if (first?.kind === 'literal' && name.split('/')[0] !== first.value) {
    return `${base}: the first segment must be ${JSON.stringify(first.value)}`;
  }
  return base;
}

// ---- Inclusion -------------------------------------------------------------------------------------
// patternWithin decides language inclusion of two segment patterns exactly, by a product of the
// inner NFA with the subset construction of the outer one, over a finite alphabet: every literal that
// appears in either pattern, one symbol standing for "any other segment", and one standing for the
// requesting user's name. Inner `${user}` may be anybody, so it is that user symbol, which outer
// literals never match (as if it were `*`); only outer `*`, `**` or `${user}` cover it.

const OTHER = '\u0000other';
const USER = '\u0000user';

function symbolMatches(seg: Segment, symbol: string): boolean {
  switch (seg.kind) {
    case 'literal':
      return seg.value === symbol;
    case 'one':
    case 'many':
      return true;
    case 'user':
      return symbol === USER;
    case 'namespace':
      return symbol === NAMESPACE_VAR;
  }
}

function step(segs: readonly Segment[], states: ReadonlySet<number>, symbol: string): Set<number> {
  const next = new Set<number>();
  for (const i of states) {
    if (i < segs.length && symbolMatches(segs[i] as Segment, symbol)) next.add(i + 1);
    if (i > 0 && (segs[i - 1] as Segment).kind === 'many') next.add(i);
  }
  return next;
}

/**
 * The subset construction does at most this much work (NFA states stepped, summed over every symbol of
 * every state pair it explores); a pair of patterns that needs more is answered "not within", and the
 * grant is refused as outside the prefixes. Every pair of patterns of up to four segments needs under
 * 200 (tested). 64 crafted patterns of 254 characters (segments alternating between the two wildcards)
 * took 10-20 ms each to decide, 0.4 s a grant, and every change of namespaces admits every grant again
 * (review, Medium); now at most about 0.2 ms each, and a delegation prefix's usual shape none of it.
 */
export const MAX_INCLUSION_WORK = 1_000;

/** Answers already worked out: the same grants are admitted again at every change of context. */
const inclusionMemo = new BoundedMap<boolean>(4096);

/** True if every repository name `inner` can match (for any user) is also matched by `outer`. */
export function patternWithin(inner: string, outer: string): boolean {
  const memoKey = `${inner}\u0000${outer}`;
  const known = inclusionMemo.get(memoKey);
  if (known !== undefined) return known;
  const a = compilePattern(inner).segments;
  const b = compilePattern(outer).segments;
  const answer = literalPrefixWithin(a, b) ?? withinBySubsets(a, b);
  inclusionMemo.set(memoKey, answer);
  return answer;
}

/**
 * The shapes delegation prefixes take (`team-a/**`, `team-a/*`, `team-a/app`: literals, then at most one
 * `*` or `**`), decided segment by segment: every name `inner` matches starts with the literals exactly
 * when its own first segments are those literals (a wildcard, `${user}` or `${namespace}` there also
 * matches other names), and then `**` takes one segment or more, `*` exactly one, nothing none.
 * Undefined for any other outer shape.
 */
function literalPrefixWithin(a: readonly Segment[], b: readonly Segment[]): boolean | undefined {
  const last = b[b.length - 1];
  const tail = last?.kind === 'many' || last?.kind === 'one' ? last.kind : 'none';
  const literals = tail === 'none' ? b : b.slice(0, -1);
  if (!literals.every((s) => s.kind === 'literal')) return undefined;
  for (let i = 0; i < literals.length; i++) {
    const own = a[i];
    if (own?.kind !== 'literal' || own.value !== (literals[i] as { value: string }).value) return false;
  }
  const rest = a.slice(literals.length);
  if (tail === 'many') return rest.length >= 1;
  if (tail === 'one') return rest.length === 1 && (rest[0] as Segment).kind !== 'many';
  return rest.length === 0;
}

/** Inclusion by the product of `a`'s NFA with the subset construction of `b`'s, within MAX_INCLUSION_WORK. */
export function withinBySubsets(a: readonly Segment[], b: readonly Segment[], budget = MAX_INCLUSION_WORK): boolean {
  const alphabet = new Set<string>([OTHER, USER]);
  for (const seg of [...a, ...b]) {
    if (seg.kind === 'literal') alphabet.add(seg.value);
    if (seg.kind === 'namespace') alphabet.add(NAMESPACE_VAR);
  }
  // Inner `*`/`**` range over real segments; the user symbol is reached only through inner `${user}`
  // (it stands for a name that could also be any literal, which is exactly why literals refuse it).
  const innerSymbol = (seg: Segment, symbol: string): boolean => (seg.kind === 'user' ? symbol === USER : symbol !== USER && symbolMatches(seg, symbol));
  const innerStep = (states: ReadonlySet<number>, symbol: string): Set<number> => {
    const next = new Set<number>();
    for (const i of states) {
      if (i < a.length && innerSymbol(a[i] as Segment, symbol)) next.add(i + 1);
      if (i > 0 && (a[i - 1] as Segment).kind === 'many') next.add(i);
    }
    return next;
  };
  const key = (x: ReadonlySet<number>, y: ReadonlySet<number>): string => `${[...x].sort((m, n) => m - n).join(',')}|${[...y].sort((m, n) => m - n).join(',')}`;
  const start: [Set<number>, Set<number>] = [new Set([0]), new Set([0])];
  const seen = new Set<string>([key(...start)]);
  const queue: [Set<number>, Set<number>][] = [start];
  let work = 0;
  while (queue.length > 0) {
    const [x, y] = queue.shift() as [Set<number>, Set<number>];
    if (x.has(a.length) && !y.has(b.length)) return false;
    for (const symbol of alphabet) {
      work += x.size + y.size;
      if (work > budget) return false;
      const nx = innerStep(x, symbol);
      if (nx.size === 0) continue;
      const ny = step(b, y, symbol);
      const k = key(nx, ny);
      if (seen.has(k)) continue;
      seen.add(k);
      queue.push([nx, ny]);
    }
  }
  return true;
}
