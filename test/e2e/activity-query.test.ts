// Reading the activity trail with Kubernetes permissions, end to end: the real kube-apiserver with the
// front proxy set up, `portcullis activity --listen` (the built CLI, as a process, under the
// ServiceAccount of deploy/activity/rbac.yaml) registered as activity.portcullis.dev through
// deploy/activity/apiservice.yaml, a SQLite trail filled before and while it runs, and users with
// client-certificate kubeconfigs: an auditor bound in the Registry's namespace, a tenant bound in a
// namespace the Registry delegates to, and a user with no binding. `portcullis audit` and kubectl read
// through the kube-apiserver; the attacks go to the activity port directly.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryEvent } from '../../activity/event.js';
import { openEventStore } from '../../activity/store/open.js';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { issueCert } from '../../local/pki.js';
import { startPostgres, type RunningPostgres } from '../../local/postgres.js';
import { run } from '../../local/process.js';
import { repoRoot } from '../../local/tools.js';
import { startActivityApi, type ActivityApi } from '../harness/activity-api.js';
import { portcullis } from '../harness/portcullis.js';

const digest = (c: string): string => `sha256:${c.repeat(64)}`;
const ago = (minutes: number): string => new Date(Date.now() - minutes * 60_000).toISOString();
const event = (id: string, repository: string, action: RegistryEvent['action'], actor: string | undefined, d: string, minutesAgo: number): RegistryEvent => ({
  id,
  registry: 'registry/main',
  action,
  repository,
  tag: 'v1',
  digest: digest(d),
  ...(actor === undefined ? {} : { actor }),
  sourceAddr: '10.1.2.3:40000',
  timestamp: ago(minutesAgo),
});

/** In the trail before the activity server starts. */
const BEFORE = [
  event('e1', 'team-a/app', 'push', 'alice', '1', 120),
  event('e2', 'team-a/app', 'pull', 'ci-bot', '1', 60),
  event('e3', 'team-a/tools/lint', 'push', 'alice', '3', 30 * 60),
  event('e4', 'team-ab/app', 'push', 'bob', '4', 180),
  event('e5', 'library/base', 'pull', undefined, '5', 10),
  event('e6', 'team-a/app', 'delete', 'alice', '1', 20),
];
/** Written while it runs: it answers from the store, not from what it read at start. */
const WHILE = [event('e7', 'team-b/app', 'push', 'bob', '7', 5)];

const MANIFESTS = `apiVersion: v1
kind: Namespace
metadata: {name: registry}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {team: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-ab, labels: {team: ab}}
---
apiVersion: portcullis.dev/v1alpha1
kind: Registry
metadata: {name: main, namespace: registry}
spec:
  service: registry.activity.test
  delegation:
    - namespaces: {from: Selector, selector: {matchLabels: {team: a}}}
      repositories: ["\${namespace}/**"]
`;

let cp: ControlPlane;
let dir: string;
let activity: ActivityApi;
const kubeconfigs: Record<'auditor' | 'tenant' | 'nobody', string> = { auditor: '', tenant: '', nobody: '' };

async function mustKubectl(args: string[], input?: string): Promise<string> {
  const r = await kubectl(cp, args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const kubectlAs = (who: keyof typeof kubeconfigs, args: string[]) => run('kubectl', ['--kubeconfig', kubeconfigs[who], ...args]);
const auditAs = (who: keyof typeof kubeconfigs, args: string[]) =>
  portcullis(['audit', '--registry', 'registry/main', ...args], { env: { ...process.env, KUBECONFIG: kubeconfigs[who] } });

/** What the assertions compare: who did what to which content. */
interface Seen {
  id: string;
  actor?: string;
  digest?: string;
  repository: string;
}
const seen = (stdout: string): Seen[] =>
  (JSON.parse(stdout) as { items: Seen[] }).items.map((e) => ({ id: e.id, actor: e.actor, digest: e.digest, repository: e.repository }));
const expected = (...ids: string[]): Seen[] =>
  ids.map((id) => {
    const e = [...BEFORE, ...WHILE].find((x) => x.id === id)!;
    return { id, actor: e.actor, digest: e.digest, repository: e.repository };
  });

/** One request straight to the activity server's port, with or without a client certificate. */
function direct(path: string, options: { cert?: string; key?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${activity.apiUrl}${path}`,
      {
        ca: activity.caCert,
        servername: activity.serverName,
        headers: options.headers ?? {},
        timeout: 10_000,
        ...(options.cert ? { cert: options.cert, key: options.key } : {}),
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer`)));
    req.on('error', reject);
    req.end();
  });
}

let postgres: RunningPostgres | undefined;

const EVENTS_PATH = '/apis/activity.portcullis.dev/v1alpha1/namespaces/registry/registryevents';

beforeAll(async () => {
  cp = await startControlPlane();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-activity-query-'));
  await mustKubectl(['apply', '-k', join(repoRoot, 'crds')]);
  await mustKubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  await mustKubectl(['apply', '-f', '-'], MANIFESTS);

  // PostgreSQL here (the admin and webhook e2e read SQLite trails; the store tests run both).
  postgres = await startPostgres();
  const database = postgres.url;
  const store = await openEventStore(database);
  try {
    await store.append(BEFORE);
  } finally {
    await store.close();
  }
  activity = await startActivityApi(cp, { dir, database });

  // RBAC for the users, with the ClusterRole deploy/activity/rbac.yaml defines.
  await mustKubectl(['create', 'rolebinding', 'auditor-activity', '-n', 'registry', '--clusterrole=portcullis-activity-reader', '--user=auditor']);
  await mustKubectl(['create', 'rolebinding', 'tenant-activity', '-n', 'team-a', '--clusterrole=portcullis-activity-reader', '--user=tenant']);
  kubeconfigs.auditor = (await cp.kubeconfigForUser('auditor', ['auditors'])).path;
  kubeconfigs.tenant = (await cp.kubeconfigForUser('tenant', ['team-a-devs'])).path;
  kubeconfigs.nobody = (await cp.kubeconfigForUser('nobody')).path;

  const live = await openEventStore(database);
  try {
    await live.append(WHILE);
  } finally {
    await live.close();
  }
});

afterAll(async () => {
  await activity?.stop();
  await postgres?.stop();
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('portcullis audit through the kube-apiserver (client-certificate kubeconfig)', () => {
  it('--user: exactly that actor, newest first', async () => {
    const r = await auditAs('auditor', ['--user', 'alice', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(seen(r.stdout)).toEqual(expected('e6', 'e1', 'e3'));
  });

  it('--repository: exactly that repository, every actor', async () => {
    const r = await auditAs('auditor', ['--repository', 'team-a/app', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(seen(r.stdout)).toEqual(expected('e6', 'e2', 'e1'));
  });

  it('--since: only the last 24 hours, including what was written while the server ran', async () => {
    const r = await auditAs('auditor', ['--since', '24h', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(seen(r.stdout)).toEqual(expected('e7', 'e5', 'e6', 'e2', 'e1', 'e4'));
  });

  it('--action: only pulls, anonymous ones included', async () => {
    const r = await auditAs('auditor', ['--action', 'pull', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(seen(r.stdout)).toEqual(expected('e5', 'e2'));
  });

  it('prints a table by default', async () => {
    const r = await auditAs('auditor', ['--action', 'pull', '--limit', '1']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]?.split(/\s+/)).toEqual(['TIME', 'ACTION', 'REPOSITORY', 'TAG', 'DIGEST', 'ACTOR', 'SOURCE']);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(1))).toEqual([
      ['pull', 'library/base', 'v1', 'sha256:555555555555', '<anonymous>', '10.1.2.3:40000'],
    ]);
  });
});

describe('kubectl', () => {
  it('get registryevents -n registry prints the Table rows (server-side columns)', async () => {
    const r = await kubectlAs('auditor', ['get', 'registryevents', '-n', 'registry']);
    expect(r.code, r.stderr).toBe(0);
    const [header, ...rows] = r.stdout.trim().split('\n');
    expect(header?.split(/\s+/)).toEqual(['TIME', 'REGISTRY', 'ACTION', 'REPOSITORY', 'TAG', 'DIGEST', 'ACTOR']);
    const cells = rows.map((row) => row.split(/\s+/).slice(1));
    expect(cells).toEqual([
      ['registry/main', 'push', 'team-b/app', 'v1', 'sha256:777777777777', 'bob'],
      ['registry/main', 'pull', 'library/base', 'v1', 'sha256:555555555555', '<anonymous>'],
      ['registry/main', 'delete', 'team-a/app', 'v1', 'sha256:111111111111', 'alice'],
      ['registry/main', 'pull', 'team-a/app', 'v1', 'sha256:111111111111', 'ci-bot'],
      ['registry/main', 'push', 'team-a/app', 'v1', 'sha256:111111111111', 'alice'],
      ['registry/main', 'push', 'team-ab/app', 'v1', 'sha256:444444444444', 'bob'],
      ['registry/main', 'push', 'team-a/tools/lint', 'v1', 'sha256:333333333333', 'alice'],
    ]);
  });

  it('field selectors and get by name pass through the aggregator', async () => {
    const r = await kubectlAs('auditor', ['get', 'registryevents', '-n', 'registry', '--field-selector', 'actor=bob,action=push', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout) as { items: { id: string; metadata: { name: string } }[] };
    expect(list.items.map((i) => i.id)).toEqual(['e7', 'e4']);
    const one = await kubectlAs('auditor', ['get', 'registryevent', list.items[1]!.metadata.name, '-n', 'registry', '-o', 'json']);
    expect(one.code, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ kind: 'RegistryEvent', id: 'e4', repository: 'team-ab/app', actor: 'bob' });
    const unknown = await kubectlAs('auditor', ['get', 'registryevents', '-n', 'registry', '--field-selector', 'user=bob']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('unknown field "user"');
  });
});

describe('a tenant of a delegated namespace', () => {
  it('with -n team-a sees only team-a/** events: not team-ab/, not library/, not team-b/', async () => {
    const r = await kubectlAs('tenant', ['get', 'registryevents', '-n', 'team-a', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(seen(r.stdout)).toEqual(expected('e6', 'e2', 'e1', 'e3'));
    const audit = await auditAs('tenant', ['--namespace', 'team-a', '-o', 'json']);
    expect(audit.code, audit.stderr).toBe(0);
    expect(seen(audit.stdout)).toEqual(expected('e6', 'e2', 'e1', 'e3'));
  });

  it('asking -n registry is refused with a clear 403 by kubectl and by portcullis audit', async () => {
    const r = await kubectlAs('tenant', ['get', 'registryevents', '-n', 'registry']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'registryevents.activity.portcullis.dev is forbidden: User "tenant" cannot list resource "registryevents" in API group "activity.portcullis.dev" in the namespace "registry"',
    );
    const audit = await auditAs('tenant', []);
    expect(audit.code).toBe(1);
    expect(audit.stdout).toBe('');
    expect(audit.stderr).toContain('audit: forbidden: user "tenant" may not list registryevents (activity.portcullis.dev) in namespace "registry"');
    expect(audit.stderr).toContain('kubectl create rolebinding activity-reader -n registry --clusterrole=portcullis-activity-reader --user=tenant');
  });
});

describe('a user without RBAC', () => {
  it('is refused with 403 by kubectl and by portcullis audit', async () => {
    const r = await kubectlAs('nobody', ['get', 'registryevents', '-n', 'registry']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('User "nobody" cannot list resource "registryevents" in API group "activity.portcullis.dev" in the namespace "registry"');
    const audit = await auditAs('nobody', ['--namespace', 'team-a']);
    expect(audit.code).toBe(1);
    expect(audit.stderr).toContain('user "nobody" may not list registryevents (activity.portcullis.dev) in namespace "team-a"');
  });
});

describe('attacks on the activity port directly', () => {
  it('the front-proxy certificate works: the refusals below are about who asks, not a broken setup', async () => {
    const [cert, key] = await Promise.all([readFile(cp.frontProxy.clientCertPath, 'utf8'), readFile(cp.frontProxy.clientKeyPath, 'utf8')]);
    const res = await direct(`${EVENTS_PATH}?fieldSelector=actor%3Dbob`, { cert, key, headers: { 'X-Remote-User': 'auditor' } });
    expect(res.status).toBe(200);
    expect((res.body as { items: { id: string }[] }).items.map((i) => i.id)).toEqual(['e7', 'e4']);
  });

  it('no client certificate, even with X-Remote-User: 401', async () => {
    const res = await direct(EVENTS_PATH, { headers: { 'X-Remote-User': 'admin', 'X-Remote-Group': 'system:masters' } });
    expect(res).toEqual({
      status: 401,
      body: expect.objectContaining({
        kind: 'Status',
        code: 401,
        reason: 'Unauthorized',
        message: expect.stringContaining('no front-proxy client certificate') as string,
      }) as object,
    });
  });

  it('a client certificate of the cluster CA (system:masters) with X-Remote-User: admin: 401', async () => {
    const admin = cp.kubeConfig.getCurrentUser()!;
    const [cert, key] = await Promise.all([readFile(admin.certFile!, 'utf8'), readFile(admin.keyFile!, 'utf8')]);
    const res = await direct(EVENTS_PATH, { cert, key, headers: { 'X-Remote-User': 'admin', 'X-Remote-Group': 'system:masters' } });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized', message: expect.stringContaining('no front-proxy client certificate') as string });
  });

  it('a certificate of the front-proxy CA with a name that is not allowed: 401', async () => {
    const other = await issueCert({ certPath: cp.frontProxy.caCertPath, keyPath: cp.frontProxy.caKeyPath }, dir, {
      name: 'not-the-proxy',
      commonName: 'not-the-proxy',
      usage: 'client',
    });
    const [cert, key] = await Promise.all([readFile(other.certPath, 'utf8'), readFile(other.keyPath, 'utf8')]);
    const res = await direct(EVENTS_PATH, { cert, key, headers: { 'X-Remote-User': 'auditor' } });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({
      reason: 'Unauthorized',
      message: expect.stringContaining('"not-the-proxy" is not an allowed front-proxy name') as string,
    });
  });

  it('the front-proxy certificate naming a user without RBAC: 403 (the SubjectAccessReview decides, not the header)', async () => {
    const [cert, key] = await Promise.all([readFile(cp.frontProxy.clientCertPath, 'utf8'), readFile(cp.frontProxy.clientKeyPath, 'utf8')]);
    const res = await direct(EVENTS_PATH, { cert, key, headers: { 'X-Remote-User': 'nobody', 'X-Remote-Group': 'system:authenticated' } });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({
      kind: 'Status',
      code: 403,
      reason: 'Forbidden',
      message: expect.stringContaining(
        'User "nobody" cannot list resource "registryevents" in API group "activity.portcullis.dev" in the namespace "registry"',
      ) as string,
    });
  });
});

describe('portcullis audit --overwrites: tags moved to other content (docs/adr/0007)', () => {
  // Appended last so the filters above keep answering over BEFORE and WHILE only.
  beforeAll(async () => {
    const store = await openEventStore(postgres!.url);
    try {
      await store.append([
        { ...event('e8', 'team-a/app', 'push', 'mallory', '8', 2), tag: 'v1' },
        { ...event('e9', 'team-ab/app', 'push', 'mallory', '9', 1), tag: 'v1' },
        { ...event('e10', 'team-a/app', 'push', 'alice', '8', 1), tag: 'latest' },
      ]);
    } finally {
      await store.close();
    }
  });

  it('names the tag, the digest it had, the one it got, and who moved it', async () => {
    const r = await auditAs('auditor', ['--overwrites', '--tags', 'v*', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const found = (JSON.parse(r.stdout) as { repository: string; tag: string; previousDigest: string; digest: string; actor: string }[]).map(
      ({ repository, tag, previousDigest, digest: to, actor }) => ({ repository, tag, previousDigest, digest: to, actor }),
    );
    expect(found).toEqual([
      { repository: 'team-a/app', tag: 'v1', previousDigest: digest('1'), digest: digest('8'), actor: 'mallory' },
      { repository: 'team-ab/app', tag: 'v1', previousDigest: digest('4'), digest: digest('9'), actor: 'mallory' },
    ]);
    const table = await auditAs('auditor', ['--overwrites']);
    expect(table.stdout.split('\n')[0]?.split(/\s+/)).toEqual(['TIME', 'REPOSITORY', 'TAG', 'FROM', 'TO', 'ACTOR']);
  });

  it("a tenant sees only its prefixes' overwrites (team-ab/app is not team-a/**)", async () => {
    const r = await auditAs('tenant', ['--namespace', 'team-a', '--overwrites', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { repository: string }[]).map((o) => o.repository)).toEqual(['team-a/app']);
  });
});

describe('the activity process', () => {
  it('stops on SIGTERM with exit 0, also with a connection to its TLS port still in its handshake', async () => {
    // A TCP probe or a stalled client: HTTP never sees it, and the close waited for the TLS handshake
    // timeout (120 s; a flake in CI, found by the shutdown's step lines).
    const { port, hostname } = new URL(activity.apiUrl);
    const probe = connect(Number(port), hostname);
    await new Promise((resolve, reject) => probe.once('connect', resolve).once('error', reject));
    const probeClosed = new Promise((resolve) => probe.once('close', resolve));
    // A null exit code is the harness's SIGKILL after 15 s (the server's grace for requests in flight is 10 s): the process's last lines say how far it got.
    expect(await activity.stop(), activity.process.output().slice(-4000)).toBe(0);
    await probeClosed;
    expect(activity.process.output()).not.toMatch(/"level":50/);
  });
});
