// Assertions the tests share: what a function threw (without a try/catch that could swallow a failed
// assertion), and whether any part of a secret, long enough to be useful, appears in a text.

/** The error `fn` throws; fails the test when it throws nothing. */
export function thrownBy(fn: () => unknown): Error {
  let caught: unknown;
  let threw = false;
  try {
    fn();
  } catch (e) {
    caught = e;
    threw = true;
  }
  if (!threw) throw new Error('expected the call to throw, but it returned');
  return caught instanceof Error ? caught : new Error(String(caught));
}

/** The error a promise rejects with; fails the test when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/**
 * Substrings of `secret`, `min` characters or longer, that appear in `text`. A message quoting even a
 * part of a password, key or hash is a leak: empty means none. `min` 6 is about a third of a bcrypt
 * salt and long enough that an accidental match of ordinary words is unlikely.
 */
export function leakedParts(text: string, secret: string, min = 6): string[] {
  const found = new Set<string>();
  for (let start = 0; start + min <= secret.length; start++) {
    const part = secret.slice(start, start + min);
    if (part.trim().length === min && text.includes(part)) found.add(part);
  }
  return [...found];
}
