// A real PostgreSQL 15 (Debian's package) for the activity store's tests and the bench: a cluster made
// by initdb in a temp dir, listening on 127.0.0.1 on a free port (its unix socket inside the temp dir),
// fsync off because nothing in it has to survive the run. Logins use a password (SCRAM), as a
// production database would, so the URL handed out carries one. PostgreSQL refuses to run as root: when
// we are root, it runs as `nobody`, which owns the temp dir.
import { randomBytes } from 'node:crypto';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, run, startProcess, waitFor, type ManagedProcess } from './process.js';

export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';
const SUPERUSER = 'postgres';
/** The role the URL logs in as: owns its databases, nothing more. */
const ROLE = 'portcullis';
const UNPRIVILEGED = { user: 'nobody', group: 'nogroup' };

export interface RunningPostgres {
  /** postgresql://portcullis:PASSWORD@127.0.0.1:PORT/activity */
  url: string;
  /** Creates another empty database owned by the same role and returns its URL (a clean slate per test). */
  newDatabase(): Promise<string>;
  /** Runs SQL as the superuser in the named database (what a DBA would do by hand). */
  asSuperuser<T extends pg.QueryResultRow>(database: string, sql: string, params?: unknown[]): Promise<T[]>;
  /** Fast shutdown (SIGINT), then the temp dir is removed. */
  stop(): Promise<void>;
  output(): string;
}

/** Runs `bin` as the unprivileged user when we are root (PostgreSQL refuses root), else directly. */
function asUnprivileged(bin: string, args: string[]): [string, string[]] {
  if (userInfo().uid !== 0) return [bin, args];
  return ['setpriv', ['--reuid', UNPRIVILEGED.user, '--regid', UNPRIVILEGED.group, '--clear-groups', '--', bin, ...args]];
}

async function ids(): Promise<{ uid: number; gid: number }> {
  const uid = await run('id', ['-u', UNPRIVILEGED.user]);
  const gid = await run('getent', ['group', UNPRIVILEGED.group]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.split(':')[2]) };
}

export async function startPostgres(): Promise<RunningPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-postgres-'));
  let proc: ManagedProcess | undefined;
  try {
    const dataDir = join(dir, 'data');
    const socketDir = join(dir, 'socket');
    await mkdir(socketDir);
    const superPassword = randomBytes(18).toString('hex');
    const rolePassword = randomBytes(18).toString('hex');
    await writeFile(join(dir, 'pwfile'), `${superPassword}\n`, { mode: 0o600 });
    if (userInfo().uid === 0) {
      const { uid, gid } = await ids();
      for (const path of [dir, socketDir, join(dir, 'pwfile')]) await chown(path, uid, gid);
    }
    const [initdb, initArgs] = asUnprivileged(join(POSTGRES_BIN, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      SUPERUSER,
      '--pwfile',
      join(dir, 'pwfile'),
      '--auth',
      'scram-sha-256',
      '--encoding',
      'UTF8',
      '--locale',
      'C.UTF-8',
      '--no-sync',
    ]);
    const init = await run(initdb, initArgs, { cwd: dir });
    if (init.code !== 0) throw new Error(`initdb failed (${init.code}):\n${init.stdout}${init.stderr}`);
    await rm(join(dir, 'pwfile'));

    let port = 0;
    const start = async (): Promise<void> => {
      port = await freePort();
      const [postgres, args] = asUnprivileged(join(POSTGRES_BIN, 'postgres'), [
        '-D',
        dataDir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `port=${port}`,
        '-c',
        `unix_socket_directories=${socketDir}`,
        // Test data: nothing has to survive a crash, and the two cores are shared.
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=50',
      ]);
      const p = startProcess('postgres', postgres, args, { cwd: dir });
      proc = p;
      await waitFor(
        'PostgreSQL accepting connections',
        async () => {
          if (p.child.exitCode !== null) throw new Error(`postgres exited with ${p.child.exitCode}`);
          const client = new pg.Client({ host: '127.0.0.1', port, user: SUPERUSER, password: superPassword, database: 'postgres' });
          try {
            await client.connect();
            await client.query('SELECT 1');
            return true;
          } finally {
            await client.end().catch(() => undefined);
          }
        },
        30_000,
        () => p.output(),
        200,
      );
    };
    // A port found free can be taken before postgres binds it (tests run side by side): postgres then
    // exits at once, and we try again on another port.
    for (let attempt = 1; ; attempt++) {
      try {
        await start();
        break;
      } catch (error) {
        const exitedAtOnce = proc !== undefined && proc.child.exitCode !== null;
        if (attempt === 3 || !exitedAtOnce) throw error;
      }
    }

    const asSuperuser = async <T extends pg.QueryResultRow>(database: string, sql: string, params: unknown[] = []): Promise<T[]> => {
      const client = new pg.Client({ host: '127.0.0.1', port, user: SUPERUSER, password: superPassword, database });
      await client.connect();
      try {
        return (await client.query<T>(sql, params)).rows;
      } finally {
        await client.end();
      }
    };
    const urlOf = (database: string): string => `postgresql://${ROLE}:${rolePassword}@127.0.0.1:${port}/${database}`;
    let databases = 0;
    // Text in these databases sorts as glibc's en_US.UTF-8 sorts it, the default of many production
    // clusters: punctuation is ignored at first ('team-a/x' sorts after 'team-a0'). Code that needs
    // byte order has to ask for it (COLLATE "C"), and a test here notices when it does not.
    const createDatabase = (name: string): Promise<unknown> =>
      asSuperuser('postgres', `CREATE DATABASE ${name} OWNER ${ROLE} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US-u-ka-shifted'`);
    const newDatabase = async (): Promise<string> => {
      const name = `activity_${++databases}`;
      await createDatabase(name);
      return urlOf(name);
    };
    // Hex passwords need no quoting in SQL or in the URL.
    await asSuperuser('postgres', `CREATE ROLE ${ROLE} LOGIN PASSWORD '${rolePassword}'`);
    await createDatabase('activity');
    const running = proc;
    return {
      url: urlOf('activity'),
      newDatabase,
      asSuperuser,
      output: () => running?.output() ?? '',
      async stop() {
        await stopPostgres(running);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stopPostgres(proc);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** SIGINT is PostgreSQL's fast shutdown (SIGTERM waits for every client to leave); SIGQUIT, then SIGKILL, if it hangs. */
async function stopPostgres(proc: ManagedProcess | undefined): Promise<void> {
  if (proc === undefined || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  for (const [signal, waitMs] of [
    ['SIGINT', 15_000],
    ['SIGQUIT', 5_000],
    ['SIGKILL', 5_000],
  ] as const) {
    proc.child.kill(signal);
    const exited = await Promise.race([proc.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), waitMs).unref())]);
    if (exited) return;
  }
}
