// Runs `work` over `items` with at most `limit` in flight: bcrypt hashing (password-hashes.ts) and the
// snapshot parts a publish writes and deletes (publish.ts).
export async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
