// The activity bench's intake server, a process of its own as in production: the events listener
// (activity/events-app.ts) with the group-commit batcher (DEFAULT_BATCHING) over a SQLite store on its
// own worker thread, as the CLI runs it.
// `node activity-intake-server.js DB_PATH KEY_FILE`; prints its port, stops cleanly on SIGTERM.
import { pino } from 'pino';
import { DEFAULT_BATCHING, IntakeBatcher } from '../activity/batcher.js';
import { buildEventsApp } from '../activity/events-app.js';
import { loggerOptions } from '../activity/logger.js';
import { ActivityMetrics } from '../activity/metrics.js';
import { openEventStore } from '../activity/store/open.js';
import { readActivityKey } from '../wire/activity-key.js';

const [dbPath, keyFile] = process.argv.slice(2);
if (dbPath === undefined || keyFile === undefined) throw new Error('usage: activity-intake-server.js DB_PATH KEY_FILE');

// As `portcullis activity` opens it: on a worker thread (PORTCULLIS_BENCH_STORE_THREAD=0: on the main one).
const store = await openEventStore(`sqlite:${dbPath}`, { thread: process.env.PORTCULLIS_BENCH_STORE_THREAD !== '0' });
const metrics = new ActivityMetrics();
const batcher = new IntakeBatcher({ store, ...DEFAULT_BATCHING, onWrite: (write) => metrics.batchWritten(write) });
metrics.observeQueue(() => batcher.pending);
const app = await buildEventsApp({ activityKey: await readActivityKey(keyFile), batcher, metrics, logger: pino(loggerOptions('warn')) });
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(`activity intake listening on 127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}\n`);

process.once('SIGTERM', () => {
  void (async () => {
    await app.close();
    await batcher.close();
    await store.close();
    process.exit(0);
  })();
});
