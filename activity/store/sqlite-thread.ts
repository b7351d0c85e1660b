// The SQLite store on a worker thread. better-sqlite3 is synchronous: with synchronous=FULL every
// commit waits for fsync, and on the main thread that wait stops intake's HTTP, the aggregated API and
// webhook delivery alike. On its own thread the commit overlaps with the next requests being parsed.
// The main thread sees an ordinary EventStore; every call is one message each way (structured clone
// keeps Dates), answered in order by the one connection the worker holds, so `seq` order is still
// commit order. The worker runs only from the built CLI (dist/): under vitest, in-process stores open
// directly (tests of the CLI exercise this path).

import { Worker } from 'node:worker_threads';
import type { EventStore } from '../event.js';

type Method = Exclude<keyof EventStore, 'close'>;

interface Reply {
  id: number;
  result?: unknown;
  error?: { message: string; name: string };
}

export async function openThreadedSqliteEventStore(path: string): Promise<EventStore> {
  const worker = new Worker(new URL('./sqlite-thread-worker.js', import.meta.url), { workerData: { path } });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  let next = 0;
  let failure: Error | undefined;
  const failAll = (err: Error): void => {
    failure ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('message', (reply: Reply) => {
    const p = pending.get(reply.id);
    if (p === undefined) return;
    pending.delete(reply.id);
    if (reply.error === undefined) p.resolve(reply.result);
    else p.reject(Object.assign(new Error(reply.error.message), { name: reply.error.name }));
  });
  worker.on('error', failAll);
  const exited = new Promise<void>((resolve) =>
    worker.once('exit', (code) => {
      failAll(new Error(`the SQLite store's thread exited (code ${code})`));
      resolve();
    }),
  );
  const call = (method: Method | 'open' | 'close', args: unknown[]): Promise<unknown> => {
    if (failure !== undefined) return Promise.reject(failure);
    const id = next++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, method, args });
    });
  };
  try {
    await call('open', []);
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  const proxy =
    (method: Method) =>
    (...args: unknown[]) =>
      call(method, args);
  return {
    append: proxy('append') as EventStore['append'],
    query: proxy('query') as EventStore['query'],
    after: proxy('after') as EventStore['after'],
    cursor: proxy('cursor') as EventStore['cursor'],
    setCursor: proxy('setCursor') as EventStore['setCursor'],
    deleteCursor: proxy('deleteCursor') as EventStore['deleteCursor'],
    cursorKeys: proxy('cursorKeys') as EventStore['cursorKeys'],
    maxSeq: proxy('maxSeq') as EventStore['maxSeq'],
    prune: proxy('prune') as EventStore['prune'],
    async close() {
      if (failure === undefined) await call('close', []);
      await worker.terminate();
      await exited;
    },
  };
}
