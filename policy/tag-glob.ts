// Tag globs (RetentionPolicy keepTags, `audit --overwrites --tags`): `*` any run of characters (possibly none), `?` exactly one, everything else literal.
// Compiled to an anchored RegExp with every other character escaped, so a tag pattern such as `v1.2.*`
// does not treat `.` as "any character".

/** Compiles a tag glob to a matcher. */
export function compileTagGlob(glob: string): (tag: string) => boolean {
  const source = [...glob].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&'))).join('');
  const re = new RegExp(`^${source}$`, 's');
  return (tag) => re.test(tag);
}
