// Tag globs (RetentionPolicy keepTags, `audit --overwrites --tags`): `*` any run of characters (possibly
// none), `?` exactly one, everything else literal (`v1.2.*`: the `.` is a dot).
//
// Matched by the two-pointer wildcard walk, not a RegExp: `*` compiled to `.*` backtracks
// exponentially on patterns such as `*a*a*a*a*a*a*b` (68 s for one 128-character tag, found in review),
// and a tenant's tags meet the owner's globs in a registry-wide retention run. The walk retries only
// from the last `*`, so a match costs at most the pattern's length times the tag's.

/** Compiles a tag glob to a matcher. */
export function compileTagGlob(glob: string): (tag: string) => boolean {
  const pattern = [...glob];
  return (tag) => globMatches(pattern, [...tag]);
}

function globMatches(pattern: readonly string[], text: readonly string[]): boolean {
  let p = 0;
  let t = 0;
  // The last `*` seen and the text position it was last tried to end at.
  let star = -1;
  let starText = 0;
  while (t < text.length) {
    const c = pattern[p];
    if (c === '*') {
      star = p++;
      starText = t;
    } else if (c !== undefined && (c === '?' || c === text[t])) {
      p++;
      t++;
    } else if (star >= 0) {
      // The last `*` takes one more character, and the rest of the pattern is tried from there.
      p = star + 1;
      t = ++starText;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}
