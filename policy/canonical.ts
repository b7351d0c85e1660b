// Canonical JSON: object keys sorted, no whitespace, so equal values give equal bytes and equal hashes.
import { createHash } from 'node:crypto';

/** JSON with keys sorted at every depth and no whitespace. `undefined` object members are dropped, as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(inCanonicalOrder(value) ? value : sortKeys(value));
}

/**
 * Whether JSON.stringify(value) is already canonical: every object's keys enumerate in sorted order and
 * nothing has a toJSON of its own to call. A snapshot parsed back from its canonical file always is, and
 * then needs no sorted copy to be hashed: at 100,000 users and grants the copy was 160 MB of garbage and
 * a second of the token server's load (CPU profile of parseSnapshot). Integer-like keys enumerate first,
 * in numeric order, on either path ({"10":…,"9":…} gives "9" first): such an object is not in order here,
 * and the sorted copy prints it as it always has.
 */
function inCanonicalOrder(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) if (!inCanonicalOrder(item)) return false;
    return true;
  }
  // Plain objects only: JSON.stringify prints a boxed string or number as its value, the sorted copy as its keys.
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  let previous: string | undefined;
  for (const key of Object.keys(value)) {
    if (previous !== undefined && !(previous < key)) return false;
    previous = key;
    if (!inCanonicalOrder((value as Record<string, unknown>)[key])) return false;
  }
  return true;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : sortKeys(v)));
  if (value !== null && typeof value === 'object') {
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
      return sortKeys((value as { toJSON: () => unknown }).toJSON());
    }
    // No prototype: a `__proto__` key must stay a plain member, not replace the prototype.
    const out = Object.create(null) as Record<string, unknown>;
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined && typeof v !== 'function') out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** Lower-case hex SHA-256 of the UTF-8 bytes of `s`. */
export function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}
