// `portcullis activity --database URL --activity-key-file FILE --events-listen HOST:PORT [--retain 90d]
// [--retain-rows N]`: the activity server. Takes each Registry's Distribution notifications on
// POST /events/{namespace}/{name} (plain HTTP, inside the cluster; the token is derived from the
// activity key), keeps the manifest events in SQLite or PostgreSQL, and removes old ones at start and
// hourly. Prints `activity events listening on URL` when ready; SIGTERM finishes the requests in flight,
// writes what is queued and exits 0.

import type { Command } from 'commander';
import { parseDuration } from '../../policy/duration.js';
import { readActivityKey } from '../../wire/activity-key.js';
import { parseListenAddress, parseLogLevel } from '../flags.js';

interface ActivityFlags {
  database: string;
  activityKeyFile: string;
  eventsListen: string;
  retain: string;
  retainRows?: string;
  logLevel: string;
}

/**
 * `--retain`: a Go-style duration (policy/duration.ts), or whole days (`90d`), which retention is
 * usually counted in and Go durations lack; `0` keeps events forever. Returns milliseconds or undefined.
 */
export function parseRetention(value: string): number | undefined {
  const days = /^(\d{1,5})d$/.exec(value);
  const seconds = days ? Number(days[1]) * 86_400 : parseDuration(value);
  return seconds === 0 ? undefined : seconds * 1000;
}

/** `--retain-rows`: a positive whole number. */
export function parseRetainRows(value: string): number {
  const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--retain-rows must be a positive whole number, not ${JSON.stringify(value)}`);
  return n;
}

export function register(program: Command): void {
  program
    .command('activity')
    .description('take registry notifications and keep an audit trail of pushes, pulls and deletes (SQLite or PostgreSQL)')
    .requiredOption('--database <url>', 'event store: sqlite:/absolute/path.db or postgres://user:password@host:port/database')
    .requiredOption('--activity-key-file <file>', 'the activity key (each Registry notification token is derived from it)')
    .option('--events-listen <host:port>', 'address of the notification intake (plain HTTP; also /healthz and /metrics)', '0.0.0.0:8080')
    .option('--retain <duration>', 'remove events older than this (e.g. 90d, 720h; 0 keeps them)', '90d')
    .option('--retain-rows <n>', 'keep at most this many events (the oldest go first)')
    .option('--log-level <level>', 'trace, debug, info, warn, error or fatal', 'info')
    .action(async (flags: ActivityFlags) => {
      let events: { host: string; port: number };
      let logLevel: string;
      let maxAgeMs: number | undefined;
      let maxRows: number | undefined;
      let activityKey: Buffer;
      try {
        events = parseListenAddress(flags.eventsListen, '--events-listen');
        logLevel = parseLogLevel(flags.logLevel);
        maxAgeMs = parseRetention(flags.retain);
        maxRows = flags.retainRows === undefined ? undefined : parseRetainRows(flags.retainRows);
        activityKey = await readActivityKey(flags.activityKeyFile);
      } catch (err) {
        program.error((err as Error).message);
      }
      // Loaded only here: the stores bring native SQLite and the PostgreSQL client, which the other
      // commands (the kubelet's credential provider among them) should not load.
      const [{ startActivity }, { createLogger }] = await Promise.all([import('../../activity/main.js'), import('../../activity/logger.js')]);
      const logger = createLogger(logLevel);
      let running;
      try {
        running = await startActivity({
          databaseUrl: flags.database,
          activityKey,
          events,
          retention: { ...(maxAgeMs === undefined ? {} : { maxAgeMs }), ...(maxRows === undefined ? {} : { maxRows }) },
          logger,
        });
      } catch (err) {
        // openEventStore's and listen's errors never carry the database password.
        program.error(`activity: ${(err as Error).message}`);
      }
      process.stdout.write(`activity events listening on ${running.eventsUrl}\n`);
      try {
        await running.closed;
        process.exitCode = 0;
      } catch (err) {
        logger.error({ reason: (err as Error).message }, 'activity did not stop cleanly');
        process.exitCode = 1;
      }
      logger.flush();
    });
}
