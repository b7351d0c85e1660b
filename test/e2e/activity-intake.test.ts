// Registry activity end to end: a real Distribution (Debian's 2.8 and v3) behind the token server, with
// its notifications pointed at `portcullis activity` (the built CLI, as a process), crane pushing and
// pulling as two users and anonymously, and the events read back by opening the same database
// (SQLite for 2.8, a real PostgreSQL for v3). Then what must not be stored: a redelivered envelope, a
// malformed one, one with a wrong token; and an activity restart while pushes go on, which loses nothing
// because Distribution retries every envelope until it is answered 200.
//
// What Distribution reports, as seen here: the actor is the token's `sub` (`actor.name`); an anonymous
// pull has `"actor": {}` (the anonymous token's empty sub), so the stored event has no actor. A HEAD of
// a manifest (crane digest) is a pull; a pull by digest has no tag; a manifest delete also reports one
// tag delete per tag it removed.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore, StoredEvent } from '../../activity/event.js';
import { openEventStore } from '../../activity/store/open.js';
import { buildImage, type BuiltImage } from '../../local/image.js';
import { startPostgres, type RunningPostgres } from '../../local/postgres.js';
import { waitFor } from '../../local/process.js';
import type { RegistryFlavor } from '../../local/registry.js';
import { createTestTLS, type TestTLS } from '../../local/tls.js';
import { readActivityKey } from '../../wire/activity-key.js';
import { notificationToken } from '../../wire/notification-token.js';
import { startActivityProcess, type RunningActivityProcess } from '../harness/activity.js';
import { craneDelete, craneDigest, cranePull, cranePush, type ClientContext } from '../harness/clients.js';
import { startCompiledSetup, type CompiledSetup } from '../harness/portcullis.js';

const SERVICE = 'registry.activity.test';
const REGISTRY = { namespace: 'registry', name: 'main' };
const REGISTRY_KEY = 'registry/main';
const PASSWORDS = { alice: 'alice-activity-pw', 'ci-bot': 'ci-bot-activity-pw' } as const;
type User = keyof typeof PASSWORDS;

const user = (name: User) => `apiVersion: v1
kind: Secret
metadata: {name: ${name}-password, namespace: registry}
stringData: {password: ${PASSWORDS[name]}}
---
apiVersion: portcullis.dev/v1alpha1
kind: RegistryUser
metadata: {name: ${name}, namespace: registry}
spec: {registryRef: {name: main}, passwordSecretRef: {name: ${name}-password}}
`;
const grant = (name: string, subject: string, repositories: string, actions: string) => `apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: ${name}, namespace: registry}
spec: {registryRef: {name: main}, subjects: [${subject}], repositories: [${repositories}], actions: [${actions}]}
`;
const MANIFESTS = [
  `apiVersion: portcullis.dev/v1alpha1
kind: Registry
metadata: {name: main, namespace: registry}
spec: {service: ${SERVICE}}
`,
  user('alice'),
  user('ci-bot'),
  grant('alice-team', '{kind: User, name: alice}', '"team/**"', 'pull, push, delete'),
  grant('ci-team', '{kind: User, name: ci-bot}', '"team/**", "public/**"', 'pull, push'),
  grant('public', '{kind: Anonymous}', '"public/**"', 'pull'),
].join('---\n');

/** What the assertions compare: the fields that say who did what to which content. */
const shape = (e: StoredEvent) => ({ action: e.action, repository: e.repository, tag: e.tag, digest: e.digest, actor: e.actor });
const byKey = (a: object, b: object) => JSON.stringify(a).localeCompare(JSON.stringify(b));

const manualEvent = (id: string) => ({
  id,
  timestamp: new Date().toISOString(),
  action: 'push',
  target: {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: 'sha256:e5a0df5a4b97f6146fc68f6cbfecf12f8b5309da91d4e0117624da6c0b10b284',
    size: 402,
    repository: 'team/manual',
    url: 'https://localhost/v2/team/manual/manifests/sha256:e5a0df5a4b97f6146fc68f6cbfecf12f8b5309da91d4e0117624da6c0b10b284',
    tag: 'v1',
  },
  request: { id: `req-${id}`, addr: '127.0.0.1:1', host: 'localhost', method: 'PUT', useragent: 'test' },
  actor: { name: 'alice' },
  source: { addr: 'registry-0:5000', instanceID: 'manual' },
});

describe.each<{ flavor: RegistryFlavor; database: 'sqlite' | 'postgres' }>([
  { flavor: '2.8', database: 'sqlite' },
  { flavor: 'v3', database: 'postgres' },
])('registry activity: Distribution $flavor into $database', ({ flavor, database }) => {
  let dir: string;
  let tls: TestTLS;
  let postgres: RunningPostgres | undefined;
  let activity: RunningActivityProcess;
  let setup: CompiledSetup;
  let store: EventStore;
  let token: string;
  let images: { a: BuiltImage; b: BuiltImage; c: BuiltImage };
  const ref = (repository: string) => `${setup.registry.host}/${repository}`;
  const as = (name: User): ClientContext => ({ tls, auth: { username: name, password: PASSWORDS[name] } });
  const anonymous = (): ClientContext => ({ tls });
  const events = async (): Promise<StoredEvent[]> => store.query({ registry: REGISTRY_KEY, limit: 5000 });
  const eventually = (what: string, check: (all: StoredEvent[]) => boolean) =>
    waitFor(
      what,
      async () => check(await events()),
      60_000,
      () => `${activity.output()}\n--- registry ---\n${setup.registry.logs()}`,
    );
  const post = (body: string, bearer = token) =>
    fetch(`${activity.url}/events/${REGISTRY.namespace}/${REGISTRY.name}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/vnd.docker.distribution.events.v2+json' },
      body,
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-activity-e2e-'));
    tls = await createTestTLS(join(dir, 'tls'));
    const keyFile = join(dir, 'activity.key');
    await writeFile(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    token = notificationToken(await readActivityKey(keyFile), REGISTRY);
    let databaseUrl = `sqlite:${join(dir, 'events.db')}`;
    if (database === 'postgres') {
      postgres = await startPostgres();
      databaseUrl = await postgres.newDatabase();
    }
    activity = await startActivityProcess({ database: databaseUrl, activityKeyFile: keyFile });
    store = await openEventStore(databaseUrl);
    setup = await startCompiledSetup(dir, MANIFESTS, SERVICE, tls, {
      flavor,
      notifications: { url: `${activity.url}/events/${REGISTRY.namespace}/${REGISTRY.name}`, token },
    });
    images = { a: await buildImage(join(dir, 'a')), b: await buildImage(join(dir, 'b')), c: await buildImage(join(dir, 'c')) };
  });
  afterAll(async () => {
    await setup?.stop();
    await store?.close();
    await activity?.stop();
    await postgres?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('pushes and pulls by alice, ci-bot and an anonymous client are stored exactly, each with its actor, repository, tag and digest', async () => {
    const step = async (name: string, run: () => Promise<{ code: number; stderr: string }>) => {
      const result = await run();
      expect(result.code, `${name}: ${result.stderr}`).toBe(0);
    };
    await step('alice pushes team/app:1', () => cranePush(images.a.layoutDir, ref('team/app:1'), as('alice')));
    await step('ci-bot pushes team/ci:build-7', () => cranePush(images.b.layoutDir, ref('team/ci:build-7'), as('ci-bot')));
    await step('alice pulls team/ci:build-7', () => cranePull(ref('team/ci:build-7'), join(dir, 'pull-1'), as('alice')));
    await step('ci-bot pulls team/app by digest', () => cranePull(ref(`team/app@${images.a.digest}`), join(dir, 'pull-2'), as('ci-bot')));
    await step('ci-bot pushes public/hello:1', () => cranePush(images.c.layoutDir, ref('public/hello:1'), as('ci-bot')));
    await step('an anonymous client asks for public/hello:1', () => craneDigest(ref('public/hello:1'), anonymous()));

    const expected = [
      { action: 'push', repository: 'team/app', tag: '1', digest: images.a.digest, actor: 'alice' },
      { action: 'push', repository: 'team/ci', tag: 'build-7', digest: images.b.digest, actor: 'ci-bot' },
      { action: 'pull', repository: 'team/ci', tag: 'build-7', digest: images.b.digest, actor: 'alice' },
      { action: 'pull', repository: 'team/app', tag: undefined, digest: images.a.digest, actor: 'ci-bot' },
      { action: 'push', repository: 'public/hello', tag: '1', digest: images.c.digest, actor: 'ci-bot' },
      { action: 'pull', repository: 'public/hello', tag: '1', digest: images.c.digest, actor: undefined },
    ];
    // Distribution delivers in order, one envelope at a time: once the last is stored, all before it are.
    await eventually('the anonymous pull to be stored', (all) => all.some((e) => e.repository === 'public/hello' && e.action === 'pull'));
    const stored = await events();
    expect(stored.map(shape).sort(byKey)).toEqual(expected.sort(byKey));
    for (const e of stored) {
      expect(e.registry).toBe(REGISTRY_KEY);
      expect(e.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
      expect(e.sourceAddr).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(e.requestId).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(stored.find((e) => e.digest === images.a.digest && e.action === 'push')?.size).toBe(Buffer.byteLength(images.a.manifest));
  });

  it('a delete by digest is stored with its actor, with a tag delete for the tag it removed', async () => {
    const deleted = await craneDelete(ref(`team/app@${images.a.digest}`), as('alice'));
    expect(deleted.code, deleted.stderr).toBe(0);
    await eventually('the deletes to be stored', (all) => all.filter((e) => e.action === 'delete').length >= 2);
    expect(
      (await events())
        .filter((e) => e.action === 'delete')
        .map(shape)
        .sort(byKey),
    ).toEqual(
      [
        { action: 'delete', repository: 'team/app', tag: undefined, digest: images.a.digest, actor: 'alice' },
        { action: 'delete', repository: 'team/app', tag: '1', digest: undefined, actor: 'alice' },
      ].sort(byKey),
    );
  });

  it('the same envelope posted twice is answered 200 twice and stored once', async () => {
    const body = JSON.stringify({ events: [manualEvent(`dup-${flavor}`)] });
    for (let i = 0; i < 2; i++) {
      const res = await post(body);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ accepted: 1, ignored: 0 });
    }
    expect((await events()).filter((e) => e.id === `dup-${flavor}`)).toHaveLength(1);
  });

  it('a malformed envelope (400) and a wrong token (401) store nothing, and the registry keeps delivering', async () => {
    const malformed = await post(JSON.stringify({ events: [manualEvent(`good-${flavor}`), { ...manualEvent(`bad-${flavor}`), timestamp: 'not a time' }] }));
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({
      error: 'MALFORMED_ENVELOPE',
      message: 'malformed notification envelope; nothing of it was stored',
      reason: 'events[1].timestamp: not an RFC 3339 time',
    });
    const otherRegistry = notificationToken(await readActivityKey(join(dir, 'activity.key')), { namespace: 'registry', name: 'other' });
    for (const bearer of [otherRegistry, 'not-a-token']) {
      const refused = await post(JSON.stringify({ events: [manualEvent(`forged-${flavor}`)] }), bearer);
      expect(refused.status).toBe(401);
      expect(await refused.json()).toEqual({ error: 'UNAUTHORIZED', message: 'a valid notification token for this Registry is required' });
    }
    const pushed = await cranePush(images.b.layoutDir, ref('team/app:after-refusals'), as('alice'));
    expect(pushed.code, pushed.stderr).toBe(0);
    await eventually('the push after the refusals', (all) => all.some((e) => e.tag === 'after-refusals'));
    const ids = (await events()).map((e) => e.id);
    for (const id of [`good-${flavor}`, `bad-${flavor}`, `forged-${flavor}`]) expect(ids).not.toContain(id);
  });

  it('activity stopped with SIGTERM (exit 0) and started again while pushes go on: every push is stored once', async () => {
    const tags = Array.from({ length: 8 }, (_, i) => `r${i}`);
    let done = 0;
    let stopped: () => void = () => {};
    const down = new Promise<void>((resolve) => (stopped = resolve));
    const pushes = (async () => {
      for (const [i, tag] of tags.entries()) {
        if (i === 4) await down; // r4 and r5 at least are pushed while activity is down
        const pushed = await cranePush(images.c.layoutDir, ref(`team/restart:${tag}`), as('ci-bot'));
        expect(pushed.code, pushed.stderr).toBe(0);
        done += 1;
      }
    })();
    await eventually('the first restart push', (all) => all.some((e) => e.repository === 'team/restart'));
    expect(await activity.stop()).toBe(0);
    stopped();
    await waitFor('two pushes while activity is down', async () => done >= 6, 60_000);
    await activity.start();
    await pushes;
    await eventually('every restart push', (all) => tags.every((tag) => all.some((e) => e.repository === 'team/restart' && e.tag === tag)));
    const restartPushes = (await events()).filter((e) => e.repository === 'team/restart');
    expect(restartPushes.map((e) => e.tag).sort()).toEqual(tags);
    expect(new Set(restartPushes.map((e) => e.actor))).toEqual(new Set(['ci-bot']));
  });
});
