// A garbage-collection maintenance window on real parts, for Distribution 2.8 and v3: a real API server,
// the operator (in-process: Registry, keys and maintenance controllers), the real token server (CLI),
// real registry processes behind a stable endpoint (test/harness/kubelet.ts plays kubelet and
// Deployment controller; the read-only switch reaches the new process as its environment) and the
// collector Job run as the operator wrote it — its shell wrapper, real du, the real `registry
// garbage-collect` on the same storage (test/harness/collector-jobs.ts plays Job controller and kubelet).
//
// Images are pushed with crane; two are deleted by digest through the registry API with a token holding
// `delete`; `portcullis gc NS/NAME --wait` asks for the window. Throughout, a loop pulls the kept images
// in full (manifest and every blob) and counts: zero failures allowed. The Job is held until a push has
// been tried during the window (a slow collector, so the read-only state is observed, not raced): crane's
// push gets the token server's 503 UNAVAILABLE and its reason; a token issued before the window still
// meets the registry's own 405 (the documented gap). After the window: the push works, the bytes freed as measured
// on disk by the test equal what the status reports, and the Registry's Events tell the window.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GarbageCollectionStatus, RegistryResource } from '../../crds/types.js';
import { collectionPath, KubeClient, objectPath, Resources } from '../../kube/request.js';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { buildImage } from '../../local/image.js';
import { freePort, startProcess, waitFor } from '../../local/process.js';
import type { RegistryFlavor } from '../../local/registry.js';
import { createTestTLS, type TestTLS } from '../../local/tls.js';
import { repoRoot } from '../../local/tools.js';
import { deployments, type Deployment } from '../../operator/controllers/deployment.js';
import { READ_ONLY_ENV } from '../../operator/controllers/maintenance/read-only.js';
import { startOperator, type RunningOperator } from '../../operator/main.js';
import { craneDigest, cranePull, cranePush, type ClientContext } from '../harness/clients.js';
import { startCollectorJobs, type CollectorJobs } from '../harness/collector-jobs.js';
import { startFakeKubelet, type FakeKubelet } from '../harness/kubelet.js';
import { cliPath, portcullis, startTokenServer, type RunningTokenServer } from '../harness/portcullis.js';

const NS = 'registry';
const PASSWORD = 'alice-gc-pw';
const DOOMED_LAYER_BYTES = 400_000;

const manifests = (name: string, service: string, realm: string): string => `apiVersion: portcullis.dev/v1alpha1
kind: Registry
metadata: {name: ${name}, namespace: ${NS}}
spec:
  service: ${service}
  issuer: portcullis-test
  realm: ${realm}
  distribution: {deployment: ${name}-distribution}
  garbageCollection: {afterRetention: false, timeout: 10m}
---
apiVersion: v1
kind: Secret
metadata: {name: ${name}-alice-password, namespace: ${NS}}
stringData: {password: ${PASSWORD}}
---
apiVersion: portcullis.dev/v1alpha1
kind: RegistryUser
metadata: {name: ${name}-alice, namespace: ${NS}}
spec:
  registryRef: {name: ${name}}
  username: alice
  passwordSecretRef: {name: ${name}-alice-password}
---
apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: ${name}-alice-all, namespace: ${NS}}
spec:
  registryRef: {name: ${name}}
  subjects: [{kind: User, name: alice}]
  repositories: ["**"]
  actions: [pull, push, delete]
`;

const deployment = (name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: NS },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'registry', image: 'registry:2.8.3', env: [{ name: 'REGISTRY_LOG_LEVEL', value: 'info' }] }] },
    },
  },
});

let cp: ControlPlane;
let client: KubeClient;
let dir: string;
let tls: TestTLS & { caCert: string };

function https(method: string, url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, ca: tls.caCert, headers, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** du -sb: the bytes the storage takes on disk, as the collector's wrapper measures them. */
function diskBytes(path: string): Promise<number> {
  return new Promise((resolve, reject) =>
    execFile('du', ['-sb', path], (error, stdout) => (error ? reject(new Error(error.message)) : resolve(Number(stdout.split('\t')[0])))),
  );
}

const gcStatus = (r: RegistryResource): GarbageCollectionStatus | undefined =>
  (r.status as { garbageCollection?: GarbageCollectionStatus } | undefined)?.garbageCollection;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-gc-'));
  const t = await createTestTLS(join(dir, 'tls'));
  tls = { ...t, caCert: await readFile(t.caCertPath, 'utf8') };
  cp = await startControlPlane();
  client = new KubeClient(cp.kubeConfig);
  const crds = await kubectl(cp, [
    'apply',
    '-f',
    join(repoRoot, 'crds', 'registries.yaml'),
    '-f',
    join(repoRoot, 'crds', 'registryusers.yaml'),
    '-f',
    join(repoRoot, 'crds', 'repositorygrants.yaml'),
    '-f',
    join(repoRoot, 'crds', 'retentionpolicies.yaml'),
  ]);
  expect(crds.code, crds.stderr).toBe(0);
  expect((await kubectl(cp, ['wait', '--for=condition=Established', 'crd/registries.portcullis.dev', '--timeout=30s'])).code).toBe(0);
  expect((await kubectl(cp, ['create', 'namespace', NS])).code).toBe(0);
}, 120_000);

afterAll(async () => {
  client?.close();
  await cp?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe.each<RegistryFlavor>(['2.8', 'v3'])('garbage collection with Distribution %s', (flavor) => {
  const name = `gc-${flavor.replace('.', '')}`;
  const service = `registry-gc-${flavor.replace('.', '')}.test`;
  let kubelet: FakeKubelet;
  let jobs: CollectorJobs;
  let server: RunningTokenServer;
  let operator: RunningOperator;
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  const ctx = (): ClientContext => ({ tls, auth: { username: 'alice', password: PASSWORD } });
  const ref = (repo: string, tag: string) => `${kubelet.host}/${repo}:${tag}`;

  /** A bearer token from the token server, as a registry client gets one. */
  async function token(scope: string): Promise<string> {
    const auth = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;
    const r = await https('GET', `${server.url}/token?service=${encodeURIComponent(service)}&scope=${encodeURIComponent(scope)}`, { authorization: auth });
    expect(r.status, r.body).toBe(200);
    return (JSON.parse(r.body) as { token: string }).token;
  }

  beforeAll(async () => {
    const tokenPort = await freePort();
    await writeFile(join(dir, `${name}.yaml`), manifests(name, service, `https://localhost:${tokenPort}/token`));
    const applied = await kubectl(cp, ['apply', '-f', join(dir, `${name}.yaml`)]);
    expect(applied.code, applied.stderr).toBe(0);
    await client.request('POST', collectionPath(deployments, NS), { body: deployment(`${name}-distribution`) });
    kubelet = await startFakeKubelet({
      cp,
      namespace: NS,
      deployment: `${name}-distribution`,
      flavor,
      tls: { cert: tls.serverCertPath, key: tls.serverKeyPath },
    });
    jobs = await startCollectorJobs({ cp, namespace: NS, flavor, storageDir: kubelet.storageDir, hold: () => held });
    operator = await startOperator({
      kubeConfig: cp.kubeConfig,
      namespace: NS,
      leaderElect: false,
      log: pino({ level: 'warn' }),
      bcryptCost: 4,
      keys: { rolloutPollMs: 300 },
      maintenance: { pollMs: 300 },
    });
    await waitFor(
      'a wired, rolled-out registry',
      async () => kubelet.rollouts().some((r) => r.bundleHash !== undefined),
      60_000,
      () => kubelet.logs(),
    );
    await kubelet.waitForRollout();
    server = await startTokenServer(
      [
        '--listen',
        `127.0.0.1:${tokenPort}`,
        '--registry',
        `${NS}/${name}`,
        '--tls-cert',
        tls.serverCertPath,
        '--tls-key',
        tls.serverKeyPath,
        '--log-level',
        'warn',
      ],
      { tls: true, env: { ...process.env, KUBECONFIG: cp.kubeconfigPath } },
    );
    await waitFor(
      'the token server to serve alice',
      async () => (await token('repository:team/app:pull').catch(() => '')) !== '',
      60_000,
      () => server.process.output(),
    );
  }, 180_000);

  afterAll(async () => {
    release();
    await operator?.stop();
    await server?.stop();
    await jobs?.stop();
    await kubelet?.stop();
  });

  it('collects in a read-only window: pulls never fail, pushes are refused then work, the bytes freed on disk are the ones reported', async () => {
    // Two kept images, two to delete (larger layers, so what the collector frees is plain to see).
    for (const tag of ['keep-1', 'keep-2']) {
      const image = await buildImage(join(dir, name, tag), { layerBytes: 50_000 });
      const pushed = await cranePush(image.layoutDir, ref('team/app', tag), ctx());
      expect(pushed.code, pushed.stderr).toBe(0);
    }
    const doomed: string[] = [];
    for (const tag of ['drop-1', 'drop-2']) {
      const image = await buildImage(join(dir, name, tag), { layerBytes: DOOMED_LAYER_BYTES });
      const pushed = await cranePush(image.layoutDir, ref('team/old', tag), ctx());
      expect(pushed.code, pushed.stderr).toBe(0);
      doomed.push(image.digest);
    }
    const deleteToken = await token('repository:team/old:delete');
    for (const digest of doomed) {
      const deleted = await https('DELETE', `${kubelet.endpoint}/v2/team/old/manifests/${digest}`, { authorization: `Bearer ${deleteToken}` });
      expect(deleted.status, deleted.body).toBe(202);
    }
    const before = await diskBytes(kubelet.storageDir);
    const restartsBefore = kubelet.restarts();

    // The pulls of kept images run the whole time.
    let pulls = 0;
    const failures: string[] = [];
    let stopped = false;
    const pulling = (async () => {
      for (let i = 0; !stopped; i++) {
        const tag = i % 2 === 0 ? 'keep-1' : 'keep-2';
        const out = join(dir, name, `pull-${i}`);
        const r = await cranePull(ref('team/app', tag), out, ctx());
        pulls += 1;
        if (r.code !== 0) failures.push(`${new Date().toISOString()} ${tag}: ${r.stderr.trim().split('\n').slice(-1)[0]}`);
        await rm(out, { recursive: true, force: true });
      }
    })();

    // Issued before the window: the documented gap (it still carries push until tokenTTL).
    const tokenBeforeWindow = await token('repository:team/app:pull,push');
    const gc = startProcess('portcullis-gc', process.execPath, [cliPath, 'gc', `${NS}/${name}`, '--wait', '--timeout', '5m', '--poll-ms', '300'], {
      env: { ...process.env, KUBECONFIG: cp.kubeconfigPath },
    });
    let pushDuring: { status: number; body: string };
    let windowStart: string;
    let tokenDuring: { status: number; body: string; headers: Record<string, unknown> };
    let cranePushDuring: { code: number; stderr: string };
    try {
      // The collector is held: the registry is read-only and rolled out everywhere.
      await waitFor(
        'the window to reach Collecting',
        async () => gcStatus(await client.get<RegistryResource>(objectPath(Resources.registries, NS, name)))?.phase === 'Collecting',
        120_000,
        () => kubelet.logs(),
      );
      windowStart = gcStatus(await client.get<RegistryResource>(objectPath(Resources.registries, NS, name)))?.windowStart ?? '';
      const basicAuth = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;
      tokenDuring = await https(
        'GET',
        `${server.url}/token?service=${encodeURIComponent(service)}&scope=${encodeURIComponent('repository:team/app:pull,push')}`,
        {
          authorization: basicAuth,
        },
      );
      pushDuring = await https('POST', `${kubelet.endpoint}/v2/team/app/blobs/uploads/`, { authorization: `Bearer ${tokenBeforeWindow}` });
      // Pulls keep their tokens.
      await token('repository:team/app:pull');
      const late = await buildImage(join(dir, name, 'late'));
      cranePushDuring = await cranePush(late.layoutDir, ref('team/app', 'late'), ctx());
      release();
      const exit = await new Promise<number | null>((resolve) => gc.child.once('exit', resolve));
      expect(exit, gc.output()).toBe(0);
      const settle = pulls + 2;
      await waitFor('pulls after the window', async () => pulls >= settle, 60_000);
    } finally {
      release();
      stopped = true;
      await pulling;
    }
    const after = await diskBytes(kubelet.storageDir);

    // Pulls: many, none failed.
    console.log(`[${flavor}] ${pulls} full pulls of kept images during the test, ${failures.length} failures`);
    expect(failures, kubelet.logs()).toEqual([]);
    expect(pulls).toBeGreaterThan(4);

    // A push during the window is refused by the token server, before the registry: 503 UNAVAILABLE, Retry-After, the reason.
    const readOnlyMessage = 'the registry is read-only for garbage collection: pulls work, pushes and deletes are refused until the maintenance window ends';
    expect(tokenDuring.status, tokenDuring.body).toBe(503);
    expect(tokenDuring.headers['retry-after']).toBe('60');
    const refusal = (JSON.parse(tokenDuring.body) as { errors: { code: string; message: string }[] }).errors[0];
    expect(refusal?.code).toBe('UNAVAILABLE');
    expect(refusal?.message).toContain(readOnlyMessage);
    expect(refusal?.message).toContain(`read-only since ${new Date(windowStart).toISOString()}`);
    expect(cranePushDuring.code).not.toBe(0);
    expect(cranePushDuring.stderr).toContain(`UNAVAILABLE: ${readOnlyMessage}`);
    // The gap: a token issued before the window still carries push and meets Distribution's own answer
    // (both versions: 405, no registry error code).
    expect(pushDuring.status).toBe(405);
    expect(pushDuring.body.trim()).toBe('Method not allowed');

    // And works after it.
    const again = await buildImage(join(dir, name, 'after'));
    const pushedAfter = await cranePush(again.layoutDir, ref('team/app', 'after'), ctx());
    expect(pushedAfter.code, pushedAfter.stderr).toBe(0);
    expect((await craneDigest(ref('team/app', 'after'), ctx())).stdout.trim()).toBe(again.digest);

    // What the status says is what the disk shows.
    const registry = await client.get<RegistryResource>(objectPath(Resources.registries, NS, name));
    const status = gcStatus(registry);
    expect(status?.phase).toBe('Idle');
    expect(status?.lastResult?.succeeded).toBe(true);
    const freed = before - after;
    console.log(`[${flavor}] freed on disk ${freed} bytes; status: ${status?.lastResult?.message}`);
    expect(status?.lastResult?.bytesFreed).toBe(freed);
    expect(freed).toBeGreaterThan(2 * DOOMED_LAYER_BYTES);
    expect(status?.lastResult?.blobsDeleted).toBeGreaterThanOrEqual(6);
    expect(gc.output()).toContain(`freed ${freed} bytes`);
    expect(jobs.runs().map((r) => r.exitCode)).toEqual([0]);

    // Two rollouts (read-only, read-write again) and no other restart; no read-only switch left in the template.
    expect(kubelet.restarts() - restartsBefore).toBe(2);
    const d = await client.get<Deployment>(objectPath(deployments, NS, `${name}-distribution`));
    expect(d.spec?.template?.spec?.containers?.[0]?.env?.some((e) => e.name === READ_ONLY_ENV)).toBe(false);

    // Events tell the window.
    const events = await client.get<{ items: { reason?: string; note?: string; regarding?: { name?: string } }[] }>(collectionPath(Resources.events, NS));
    const mine = events.items.filter((e) => e.regarding?.name === name);
    expect(mine.find((e) => e.reason === 'GarbageCollectionStarted')?.note).toContain('read-only');
    expect(mine.find((e) => e.reason === 'GarbageCollectionSucceeded')?.note).toContain(`freed ${freed} bytes`);
  }, 600_000);
});

describe('portcullis gc refusals', () => {
  it('a caller who may not patch the Registry is refused by the API server, and nothing is requested', async () => {
    await client.request('POST', collectionPath(Resources.registries, NS), {
      body: { apiVersion: 'portcullis.dev/v1alpha1', kind: 'Registry', metadata: { name: 'guarded', namespace: NS }, spec: { service: 'guarded.test' } },
    });
    const nobody = await cp.kubeconfigForServiceAccount(NS, 'nobody');
    const r = await portcullis(['gc', `${NS}/guarded`], { env: { ...process.env, KUBECONFIG: nobody.path } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'gc: registries.portcullis.dev "guarded" is forbidden: User "system:serviceaccount:registry:nobody" cannot patch resource "registries" in API group "portcullis.dev" in the namespace "registry"',
    );
    const registry = await client.get<RegistryResource>(objectPath(Resources.registries, NS, 'guarded'));
    expect(registry.metadata.annotations?.['portcullis.dev/gc-requested-at']).toBeUndefined();
  });

  it.each([
    [['gc', 'a/b/c'], 'gc: "a/b/c" is not NAMESPACE/NAME or NAME'],
    [['gc', `${NS}/guarded`, '--wait', '--timeout', 'soon'], 'gc: --timeout: invalid duration "soon"'],
  ])('bad input %j: a clear error, nothing requested', async (args, message) => {
    const r = await portcullis(args, { env: { ...process.env, KUBECONFIG: cp.kubeconfigPath } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    const registry = await client.get<RegistryResource>(objectPath(Resources.registries, NS, 'guarded'));
    expect(registry.metadata.annotations?.['portcullis.dev/gc-requested-at']).toBeUndefined();
  });
});
