// A failed login must not tell, by its time, which names a directory holds or which a tenant's
// RegistryUser holds. With a directory, the paths differ in work: an unknown name costs a search, a
// directory user's wrong password a search and a bind, a tenant-held name's wrong password a bcrypt
// comparison and then both. Padded only to the bcrypt time, each path showed its own duration; with a
// directory that takes a while to answer, the differences were whole round trips. Here a real slapd sits
// behind a proxy that holds each of its answers 40 ms (a directory across a WAN), and every failure must
// take at least as long as the directory's longest path, a successful login with its group search, also
// after a flood of refusals the directory answers quickly (which must not pull the padding down).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileManifests } from '../../bin/commands/compile.js';
import { LDAP_PASSWORDS, startSlapd, type RunningSlapd } from '../../local/slapd.js';
import { parseCredentials, parseSnapshot } from '../../policy/snapshot-format.js';
import { build, type AppOptions } from '../../token-server/app.js';
import { MAX_DIRECTORY_PADDING_MS } from '../../token-server/identity/sources.js';
import { buildPolicyState } from '../../token-server/sources/policy-state.js';
import type { KeyState, PolicyState } from '../../token-server/sources/types.js';
import { CREDENTIALS_FILE, SNAPSHOT_FILE } from '../../wire/files.js';
import { ldapRegistryManifests } from '../support/ldap-manifests.js';
import { startSlowProxy, type SlowProxy } from '../support/slow-proxy.js';
import { basic, captureLogger, keysForFile, MemorySource } from '../support/token-server-fixtures.js';

const SERVICE = 'registry.failure-timing.test';
const DELAY_MS = 40;
const keys = keysForFile(new Date());

let slapd: RunningSlapd;
let proxy: SlowProxy;
let dir: string;
let app: FastifyInstance;
/** The fastest fresh directory login of the first test: what one failure takes at least. */
let fastestLogin: number | undefined;

async function compiledPolicy(): Promise<PolicyState> {
  const slow = { ...slapd, ldapsUrl: `ldaps://localhost:${proxy.port}` };
  // dana is both a directory user and a RegistryUser of the delegated namespace team-a.
  const manifests = `${ldapRegistryManifests(slow, SERVICE, ['timeout: 5s'])}---
apiVersion: v1
kind: Secret
metadata: {name: dana-password, namespace: team-a}
stringData: {password: team-a-dana-password}
---
apiVersion: portcullis.dev/v1alpha1
kind: RegistryUser
metadata: {name: dana, namespace: team-a}
spec: {registryRef: {name: main, namespace: registry}, passwordSecretRef: {name: dana-password}}
---
apiVersion: v1
kind: Secret
metadata: {name: ops-password, namespace: registry}
stringData: {password: ops-own-password}
---
apiVersion: portcullis.dev/v1alpha1
kind: RegistryUser
metadata: {name: ops, namespace: registry}
spec: {registryRef: {name: main}, passwordSecretRef: {name: ops-password}}
`;
  await writeFile(join(dir, 'policy.yaml'), manifests);
  const outcome = await compileManifests({ files: [join(dir, 'policy.yaml')], outDir: join(dir, 'out'), cost: 4 });
  if (outcome.exitCode !== 0) throw new Error(`compile: ${outcome.err.join('\n')}`);
  const snapshot = parseSnapshot(await readFile(join(dir, 'out', SNAPSHOT_FILE), 'utf8'));
  const credentials = parseCredentials(await readFile(join(dir, 'out', CREDENTIALS_FILE), 'utf8'));
  return buildPolicyState(snapshot, credentials, new Date());
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-ldap-timing-'));
  slapd = await startSlapd();
  proxy = await startSlowProxy({ host: '127.0.0.1', port: Number(new URL(slapd.ldapsUrl).port) }, DELAY_MS);
  app = await startApp({ failuresPerAccountAndAddress: 100, failuresPerAddress: 100 });
}, 120_000);

/** A token server that has seen no login yet (as after a rollout); the budgets are the defaults' unless given. */
async function startApp(limits: AppOptions['limits'] = {}): Promise<FastifyInstance> {
  return build({
    policy: new MemorySource<PolicyState>(await compiledPolicy()),
    keys: new MemorySource<KeyState>({ set: keys.set, loadedAt: new Date() }),
    logger: captureLogger().logger,
    limits,
  });
}

afterAll(async () => {
  await app?.close();
  await proxy?.close();
  await slapd?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The answer and how long it took, from a client address of its own (no budget or memo is shared). */
async function timedLogin(username: string, password: string, client: number, server = app): Promise<{ res: LightMyRequestResponse; ms: number }> {
  const started = performance.now();
  const res = await server.inject({
    method: 'GET',
    url: `/token?service=${SERVICE}&scope=repository:dev/app:pull`,
    remoteAddress: `10.1.0.${client}`,
    headers: { authorization: basic(username, password) },
  });
  return { res, ms: performance.now() - started };
}

describe('failed logins on a Registry with a slow directory', () => {
  // Nothing yet says how slow the directory is: padded to bcrypt alone, these showed their own times
  // (a search, a search and a bind, bcrypt and both) right after every rollout.
  it('before the first directory login, each failure waits as long as the slowest directory may take', async () => {
    const fresh = await startApp();
    try {
      for (const [i, [sentence, user]] of [
        ['a tenant-held name', 'dana'],
        ['a directory user', 'erik'],
        ['a name nobody holds', 'nobody-at-all'],
      ].entries()) {
        const { res, ms } = await timedLogin(user!, `first-wrong-${i}`, 50 + i, fresh);
        expect(res.statusCode, sentence).toBe(401);
        expect(ms, `${sentence}: ${Math.round(ms)} ms`).toBeGreaterThanOrEqual(MAX_DIRECTORY_PADDING_MS);
      }
    } finally {
      await fresh.close();
    }
  });

  it('each failure, whatever the name, takes no less than a directory login, also after a flood of quick refusals', async () => {
    // Three fresh directory logins (nothing cached): search, bind and group search through the proxy.
    const logins: number[] = [];
    for (const [i, [user, password]] of [
      ['erik', LDAP_PASSWORDS.erik],
      ['josé', LDAP_PASSWORDS.josé],
      ['dana', LDAP_PASSWORDS.dana],
    ].entries()) {
      const { res, ms } = await timedLogin(user!, password!, i + 1);
      expect(res.statusCode, res.body).toBe(200);
      logins.push(ms);
    }
    fastestLogin = Math.min(...logins);
    // At least a search, a bind and a group search, each held 40 ms on its way back.
    expect(fastestLogin).toBeGreaterThanOrEqual(3 * DELAY_MS);

    // An attacker's attempt to pull the padding down first: refusals that cost the directory nothing (an
    // empty password is refused before it is asked), from many addresses at once.
    const flood = await Promise.all(Array.from({ length: 60 }, (_, i) => timedLogin('erik', '', 100 + i)));
    expect(flood.map(({ res }) => res.statusCode)).toEqual(Array<number>(60).fill(401));

    for (const [i, [sentence, user]] of [
      ['a tenant-held name (bcrypt, then search and bind)', 'dana'],
      ['a directory user (search and bind)', 'erik'],
      ['a name nobody holds (a search only)', 'nobody-at-all'],
    ].entries()) {
      const { res, ms } = await timedLogin(user!, `wrong-${i}`, 10 + i);
      expect(res.statusCode, sentence).toBe(401);
      expect(ms, `${sentence}: ${Math.round(ms)} ms against ${Math.round(fastestLogin)} ms`).toBeGreaterThanOrEqual(fastestLogin - 2);
    }
  });

  // Each name's checks wait in their own queues (bcrypt one per client at a time, directory binds two):
  // answered as they finish, a burst of wrong passwords came back one bcrypt apart for a RegistryUser and
  // two by two for a directory name. In turns, the k-th answer of any burst comes k failure times in.
  it('a burst of wrong passwords from one client is answered one failure time apart, whatever the name, while its cached login is not held', async () => {
    expect(fastestLogin, 'the first test measures the directory login').toBeDefined();
    const login = fastestLogin!;
    const BURST = 4;
    for (const [i, [sentence, user]] of [
      ["a RegistryUser of the Registry's namespace (bcrypt)", 'ops'],
      ['a tenant-held name (bcrypt, then search and bind)', 'dana'],
      ['a directory user (search and bind)', 'erik'],
      ['a name nobody holds (a search only)', 'nobody-at-all'],
    ].entries()) {
      const client = 200 + i;
      const burst = Promise.all(Array.from({ length: BURST }, (_, k) => timedLogin(user!, `burst-wrong-${k}`, client)));
      // erik's login is cached since the first test: the burst's turns must not hold it.
      const cached = await timedLogin('erik', LDAP_PASSWORDS.erik, client);
      const answers = await burst;
      expect(
        answers.map(({ res }) => res.statusCode),
        sentence,
      ).toEqual(Array<number>(BURST).fill(401));
      expect(cached.res.statusCode, sentence).toBe(200);
      const times = answers.map(({ ms }) => ms).sort((a, b) => a - b);
      for (const [k, ms] of times.entries()) {
        expect(ms, `${sentence}: answer ${k + 1} after ${Math.round(ms)} ms; one directory login: ${Math.round(login)} ms`).toBeGreaterThanOrEqual(
          (k + 1) * login - 2,
        );
      }
      expect(cached.ms, `${sentence}: the cached login took ${Math.round(cached.ms)} ms`).toBeLessThan(times[0]!);
    }
  });

  // Identical wrong passwords sent together all wait for turns; once the first is refused the others are
  // its replays. Counted only for some names (a directory name's were answered as replays inside its turn,
  // a RegistryUser's were checked and counted again), three more guesses were a 429 for a RegistryUser and
  // a 401 for a directory name.
  it('identical wrong passwords sent together count once for every kind of name', async () => {
    const server = await startApp();
    try {
      // A first login, so that failures wait a directory login rather than the whole allowance.
      expect((await timedLogin('josé', LDAP_PASSWORDS.josé, 240, server)).res.statusCode).toBe(200);
      for (const [i, user] of ['ops', 'dana', 'erik', 'nobody-at-all'].entries()) {
        const client = 241 + i;
        const together = await Promise.all(Array.from({ length: 8 }, () => timedLogin(user, 'same-wrong', client, server)));
        expect(
          together.map(({ res }) => res.statusCode),
          user,
        ).toEqual(Array<number>(8).fill(401));
        for (const k of [1, 2, 3]) expect((await timedLogin(user, `then-wrong-${k}`, client, server)).res.statusCode, `${user}, guess ${k}`).toBe(401);
      }
    } finally {
      await server.close();
    }
  });

  // A refusal remembered for a few seconds is answered again without a check: were it to hold a turn, a
  // few real failures replayed would keep an address's eight places full without spending its budget.
  it('replayed refusals take no turn: a fresh attempt sent behind eight of them is checked, not turned away', async () => {
    const client = 230;
    expect((await timedLogin('nobody-at-all', 'replayed-wrong', client)).res.statusCode).toBe(401);
    const replays = Array.from({ length: 8 }, () => timedLogin('nobody-at-all', 'replayed-wrong', client));
    const fresh = await timedLogin('erik', 'fresh-wrong', client);
    expect(fresh.res.statusCode, fresh.res.body).toBe(401);
    expect((await Promise.all(replays)).map(({ res }) => res.statusCode)).toEqual(Array<number>(8).fill(401));
  });
});
