// Bounded concurrency: `forEachLimited` runs `work` over `items` with at most `limit` in flight (password
// Secrets read, password-hashes.ts; the snapshot parts a publish writes and deletes, publish.ts);
// `limiter` bounds calls made from inside such a loop (bcrypt, whose threads are fewer than the reads).
export async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A function that runs at most `limit` of the tasks given to it at once, the rest in the order given. */
export function limiter(limit: number): <R>(task: () => Promise<R>) => Promise<R> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <R>(task: () => Promise<R>): Promise<R> => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next !== undefined) next();
      else running--;
    }
  };
}
