// Many registry calls at once, but never more than a fixed number in flight: enough to hide round trips,
// few enough that a retention run does not crowd out the pushes and pulls the registry is there for.
// One Limiter is shared by everything a run asks the registry, so nesting (repositories, then their
// tags) does not multiply the concurrency.

export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!(Number.isInteger(limit) && limit >= 1)) throw new Error(`concurrency must be a whole number >= 1, not ${limit}`);
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    // A finished call hands its slot straight to the next waiter, so a newcomer cannot slip in between.
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.active--;
      else next();
    }
  }
}

/** `work` on every item, at most `limit` at a time; results in the items' order. The first failure rejects. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index] as T, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
