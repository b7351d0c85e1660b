// Whether two lists hold the very same elements in the same order (===, so objects by identity). The
// memos of the compile, the shard planner and the token server's reload ask it of entry lists whose
// unchanged members keep their objects; comparing identities is what makes "unchanged" cheap.

export function sameElements<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
