// Which password hashes Portcullis accepts: bcrypt, at a bounded cost. Checked where hashes enter (the
// operator and `compile`, which refuse a user with InvalidCredential) and again where they are used
// (the token server, which never runs a hash it would not accept).

/** htpasswd -B writes cost 5 by default; below 4 bcrypt itself refuses. */
export const MIN_BCRYPT_COST = 4;
/**
 * Each step doubles the work; at 14 one comparison takes about a second on one core. A higher cost in a
 * Secret (`$2y$31$` takes days) would hang every login that touches it, so it is refused, not run.
 */
export const MAX_BCRYPT_COST = 14;

// htpasswd writes $2y$, other tools $2a$/$2b$: two cost digits, then 22 salt and 31 hash characters.
const BCRYPT_SHAPE = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** The cost of a well-formed bcrypt hash, or undefined. */
export function bcryptCost(hash: string): number | undefined {
  const m = BCRYPT_SHAPE.exec(hash);
  return m === null ? undefined : Number(m[1]);
}

/** Why a hash is not accepted, or undefined when it is. Never quotes the hash. */
export function checkBcryptHash(hash: string): string | undefined {
  const cost = bcryptCost(hash);
  if (cost === undefined) return 'is not a bcrypt hash';
  if (cost < MIN_BCRYPT_COST || cost > MAX_BCRYPT_COST) return `has bcrypt cost ${cost}, outside the accepted ${MIN_BCRYPT_COST}..${MAX_BCRYPT_COST}`;
  return undefined;
}

/** Native bcrypt only knows `$2a$`/`$2b$`; htpasswd files use `$2y$`. The algorithms are identical. */
export function normaliseBcryptHash(hash: string): string {
  return /^\$2y\$/.test(hash) ? `$2b$${hash.slice(4)}` : hash;
}

/** A `--bcrypt-cost` flag: an integer in the accepted range. Throws a sentence naming the flag. */
export function parseBcryptCost(value: string | number): number {
  const cost = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(cost) || cost < MIN_BCRYPT_COST || cost > MAX_BCRYPT_COST) {
    throw new Error(`--bcrypt-cost must be an integer from ${MIN_BCRYPT_COST} to ${MAX_BCRYPT_COST}, not ${JSON.stringify(String(value))}`);
  }
  return cost;
}
