// The worker side of sqlite-thread.ts: one SQLite store, answering calls in the order they arrive.

import { parentPort, workerData } from 'node:worker_threads';
import type { EventStore } from '../event.js';
import { openSqliteEventStore } from './sqlite.js';

interface Call {
  id: number;
  method: keyof EventStore | 'open';
  args: unknown[];
}

const port = parentPort;
if (port === null) throw new Error('sqlite-thread-worker runs as a worker thread only');
const { path } = workerData as { path: string };
let store: EventStore | undefined;
// Calls are chained so each runs after the previous one finished, whatever it awaits inside.
let queue: Promise<void> = Promise.resolve();

port.on('message', (call: Call) => {
  queue = queue.then(async () => {
    try {
      let result: unknown;
      if (call.method === 'open') store = await openSqliteEventStore(path);
      else if (store === undefined) throw new Error('the SQLite store is not open');
      else result = await (store[call.method] as (...args: unknown[]) => Promise<unknown>).apply(store, call.args);
      port.postMessage({ id: call.id, result });
    } catch (err) {
      const error = err instanceof Error ? { message: err.message, name: err.name } : { message: String(err), name: 'Error' };
      port.postMessage({ id: call.id, error });
    }
  });
});
