// The image lifecycle on S3, for Distribution v3 and 2.8: retention, then a garbage-collection window,
// against a real S3-compatible server (SeaweedFS built from its Go module, local/s3.ts). Real parts
// throughout: a kube-apiserver with the examples, the operator (in-process, wired to the activity server),
// the token server and `portcullis activity` (aggregated API, trail), `portcullis retention` and
// `portcullis gc --wait` from dist, crane.
//
// The Registry carries spec.storage.s3 with a credentials Secret, so it is the OPERATOR that wires the
// bucket into the Deployment (REGISTRY_STORAGE=s3, secretKeyRefs); test/harness/kubelet.ts starts the
// registry processes from that template (the keys read from the Secret, as the kubelet does) and
// test/harness/collector-jobs.ts runs the operator's collector Job command with the same resolved env.
//
// What is measured: the objects under the registry's blob prefix in the bucket
// (ROOT/docker/registry/v2/blobs/, one `data` object per blob), listed with their sizes through
// SeaweedFS's filer. A retention run only unlinks (the bucket keeps every blob); the window removes
// exactly the deleted manifests and the config and layer blobs no kept image uses — their bytes are the
// fixture's bytesFreed — while full pulls of kept images run with zero failures and a push meets the
// token server's UNAVAILABLE. On S3 the status reports counts, not bytes (no du on a bucket).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GarbageCollectionStatus, RegistryResource } from '../../crds/types.js';
import { collectionPath, KubeClient, MERGE_PATCH, objectPath, Resources } from '../../kube/request.js';
import { startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { httpsRequest } from '../../local/https.js';
import { buildImage } from '../../local/image.js';
import { startProcess, waitFor } from '../../local/process.js';
import type { RegistryFlavor } from '../../local/registry.js';
import { startS3Server, type RunningS3Server, type S3Object } from '../../local/s3.js';
import { deployments, type Deployment } from '../../operator/controllers/deployment.js';
import { startOperator, type RunningOperator } from '../../operator/main.js';
import { craneDigest, cranePush, type ClientContext } from '../harness/clients.js';
import { startCollectorJobs, type CollectorJobs } from '../harness/collector-jobs.js';
import { startFakeKubelet, type FakeKubelet } from '../harness/kubelet.js';
import { cliPath } from '../harness/portcullis.js';
import { startPullLoop } from '../harness/pull-loop.js';
import { buildRetentionFixture, type RetentionFixture } from '../harness/retention-fixture.js';
import {
  expectPullsIdentical,
  isStored,
  mustKubectl,
  retentionPolicy,
  runRetention,
  runsOf,
  startRetentionAccess,
  waitForPushesInTrail,
  type RetentionAccess,
} from '../harness/retention-run.js';
import { applyClusterBase, EXAMPLE_PASSWORDS, EXAMPLE_SERVICE, startStack, type Stack } from '../harness/stack.js';

const NS = 'registry';
const DEPLOYMENT = 'registry';
const CREDENTIALS = 'registry-s3';
const FLAVORS: RegistryFlavor[] = ['v3', '2.8'];
const READ_ONLY = 'the registry is read-only for garbage collection: pulls work, pushes and deletes are refused until the maintenance window ends';

let dir: string;
let s3: RunningS3Server;
let cp: ControlPlane;
let client: KubeClient;
let access: RetentionAccess;
let operator: RunningOperator;
let stack: Stack;

const ciBot = (): ClientContext => ({ tls: stack.tls, auth: { username: 'ci-bot', password: EXAMPLE_PASSWORDS['ci-bot'] } });
const gcStatus = (r: RegistryResource): GarbageCollectionStatus | undefined =>
  (r.status as { garbageCollection?: GarbageCollectionStatus } | undefined)?.garbageCollection;
const registryMain = (): Promise<RegistryResource> => client.get<RegistryResource>(objectPath(Resources.registries, NS, 'main'));
const blobKey = (prefix: string, digest: string): string => `${prefix}sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`;
const bytesOf = (objects: S3Object[]): number => objects.reduce((sum, o) => sum + o.size, 0);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-lifecycle-s3-'));
  s3 = await startS3Server();
  cp = await startControlPlane();
  client = new KubeClient(cp.kubeConfig);
  await applyClusterBase(cp);
  access = await startRetentionAccess(cp, dir);
  // In-process (as the GC e2e runs it) for its short poll intervals; wired to the activity server, so the
  // Deployment also gets the notifications endpoint and pushes reach the trail.
  operator = await startOperator({
    kubeConfig: cp.kubeConfig,
    leaderElect: false,
    log: pino({ level: 'warn' }),
    bcryptCost: 4,
    keys: { rolloutPollMs: 300 },
    maintenance: { pollMs: 300 },
    activity: { url: access.intake, key: access.activityKey },
  });
  stack = await startStack({
    cp,
    dir,
    operatorKubeconfig: '',
    tokenServerKubeconfig: (await cp.kubeconfigForServiceAccount(NS, 'portcullis-token-server')).path,
    leaseNamespace: 'portcullis-system',
    operatorReplicas: 0,
  });
  await mustKubectl(
    cp,
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: CREDENTIALS, namespace: NS },
      stringData: { accessKey: s3.accessKey, secretKey: s3.secretKey },
    }),
  );
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  await operator?.stop();
  await access?.activity.stop();
  client?.close();
  await cp?.stop();
  await s3?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.each(FLAVORS)('Distribution %s on S3', (flavor: RegistryFlavor) => {
  const short = flavor.replace('.', '');
  const root = `/main-${short}`;
  const blobPrefix = `${root.slice(1)}/docker/registry/v2/blobs/`;
  const repository = `library/lifecycle-${short}`;
  const policyName = `s3-releases-${short}`;
  let kubelet: FakeKubelet;
  let jobs: CollectorJobs;
  let fixture: RetentionFixture;
  let blobsAfterPush: S3Object[];
  let registryStatus: unknown;
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  const ref = (reference: string): string => `${kubelet.host}/${repository}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;

  beforeAll(async () => {
    // The operator wires the bucket: storage on the Registry, the keys in a Secret; the realm is this test's token server.
    await client.request('PATCH', objectPath(Resources.registries, NS, 'main'), {
      body: {
        spec: {
          realm: `${stack.tokenUrl}/token`,
          // The examples as tests apply them name no Deployment (local/demo.ts): this one does.
          distribution: { deployment: DEPLOYMENT },
          storage: {
            s3: {
              bucket: s3.bucket,
              region: s3.region,
              endpoint: s3.endpoint,
              forcePathStyle: true,
              rootDirectory: root,
              credentialsSecretRef: { name: CREDENTIALS },
            },
          },
        },
      },
      contentType: MERGE_PATCH,
    });
    await client.request('POST', collectionPath(deployments, NS), {
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: DEPLOYMENT, namespace: NS },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: DEPLOYMENT } },
          template: {
            metadata: { labels: { app: DEPLOYMENT } },
            spec: {
              containers: [
                {
                  name: 'registry',
                  image: 'registry:3.0.0',
                  // The user's own switch of docs/storage.md ("Redirects"): crane refuses a blob redirect from
                  // localhost to the bucket's 127.0.0.1 (its SSRF guard), so the registry serves the bytes itself.
                  env: [{ name: 'REGISTRY_STORAGE_REDIRECT_DISABLE', value: 'true' }],
                },
              ],
            },
          },
        },
      },
    });
    kubelet = await startFakeKubelet({
      cp,
      namespace: NS,
      deployment: DEPLOYMENT,
      flavor,
      tls: { cert: stack.tls.serverCertPath, key: stack.tls.serverKeyPath },
    });
    jobs = await startCollectorJobs({ cp, namespace: NS, flavor, storageDir: kubelet.storageDir, hold: () => held });
    await waitFor(
      'the Deployment wired to the bucket and the trail',
      async () => {
        registryStatus = (await registryMain()).status;
        const env = (await client.get<Deployment>(objectPath(deployments, NS, DEPLOYMENT))).spec?.template?.spec?.containers?.[0]?.env ?? [];
        const names = new Set(env.map((e) => e.name));
        return env.some((e) => e.name === 'REGISTRY_STORAGE_S3_ROOTDIRECTORY' && e.value === root) && names.has('REGISTRY_NOTIFICATIONS_ENDPOINTS');
      },
      60_000,
      () => `${kubelet.logs()}\n${JSON.stringify(registryStatus)}`,
    );
    await kubelet.waitForRollout();

    fixture = await buildRetentionFixture(join(dir, `images-${short}`));
    for (const [tag, layout] of fixture.pushes) {
      const pushed = await cranePush(layout.layoutDir, ref(tag), ciBot());
      if (pushed.code !== 0) throw new Error(`push ${tag}: ${pushed.stderr}\n${kubelet.logs()}`);
    }
    blobsAfterPush = await s3.objects(blobPrefix);
    await mustKubectl(cp, ['apply', '-f', '-'], retentionPolicy(policyName, NS, [repository], { dryRun: false }));
    await waitForPushesInTrail(access, [...fixture.prunedUntagged, ...fixture.keptChildren]);
  }, 300_000);

  afterAll(async () => {
    release();
    await jobs?.stop();
    await kubelet?.stop();
    // The next flavour gets a Deployment (and pods) of its own.
    await client.request('DELETE', objectPath(deployments, NS, DEPLOYMENT)).catch(() => undefined);
  });

  it('the pushes are in the bucket, through the storage the operator wired', () => {
    const keys = new Set(blobsAfterPush.map((o) => o.key));
    for (const [, layout] of fixture.pushes) for (const blob of layout.blobs) expect(keys.has(blobKey(blobPrefix, blob.digest)), blob.digest).toBe(true);
    // The filer reports real sizes: every layer's object is as large as the layer.
    for (const blob of fixture.pushes[0]![1].blobs) expect(blobsAfterPush.find((o) => o.key === blobKey(blobPrefix, blob.digest))?.size).toBe(blob.size);
  });

  it('a retention run deletes exactly the candidates, every kept tag pulls byte-identical, and the bucket keeps its blobs until GC', async () => {
    const r = await runRetention({ kubeconfig: access.kubeconfigs.reaper, server: kubelet.endpoint, caFile: stack.tls.caCertPath }, [
      '--policy',
      policyName,
      '-o',
      'json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const [run] = runsOf(r.stdout);
    expect(run!.summary).toMatchObject({ dryRun: false, result: 'Succeeded', deleted: fixture.deletedDigests.length, errors: [] });
    expect(run!.summary.bytesFreed).toBe(fixture.bytesFreed);
    expect(run!.deleted.map((d) => d.digest).sort()).toEqual(fixture.deletedDigests);
    for (const digest of fixture.deletedDigests) expect(await isStored(ref(digest), ciBot()), digest).toBe(false);
    for (const tag of fixture.keptTags) {
      const digest = await craneDigest(ref(tag), ciBot());
      expect(digest.stdout.trim(), `${tag}: ${digest.stderr}`).toBe(fixture.tagged.get(tag));
      // An index tag is pulled as its children, below.
      if (tag !== '1.29.0') await expectPullsIdentical(ref(tag), join(dir, 'pulled', short, tag), fixture, fixture.tagged.get(tag) as string, ciBot());
    }
    for (const child of fixture.keptChildren) await expectPullsIdentical(ref(child), join(dir, 'pulled', short, child.slice(7)), fixture, child, ciBot());
    // Deleting a manifest only unlinks it: the bucket holds the same blobs as before.
    expect(await s3.objects(blobPrefix)).toEqual(blobsAfterPush);
  }, 180_000);

  it('a GC window removes exactly the deleted blobs from the bucket; pulls never fail; a push gets UNAVAILABLE, then works', async () => {
    const before = await s3.objects(blobPrefix);
    const pulling = startPullLoop([ref('latest'), ref('1.28.0')], join(dir, `pulls-${short}`), ciBot());
    const gc = startProcess('portcullis-gc', process.execPath, [cliPath, 'gc', `${NS}/main`, '--wait', '--timeout', '5m', '--poll-ms', '300'], {
      env: { ...process.env, KUBECONFIG: cp.kubeconfigPath },
    });
    let tokenDuring: { status: number; text: string; headers: Record<string, unknown> };
    let pushDuring: { code: number; stderr: string };
    try {
      // The collector is held: the registry is read-only and rolled out.
      await waitFor(
        'the window to reach Collecting',
        async () => gcStatus(await registryMain())?.phase === 'Collecting',
        120_000,
        () => kubelet.logs(),
      );
      const basic = `Basic ${Buffer.from(`ci-bot:${EXAMPLE_PASSWORDS['ci-bot']}`).toString('base64')}`;
      const scope = encodeURIComponent(`repository:${repository}:pull,push`);
      tokenDuring = await httpsRequest(`${stack.tokenUrl}/token?service=${EXAMPLE_SERVICE}&scope=${scope}`, await readFile(stack.tls.caCertPath), {
        headers: { authorization: basic },
      });
      const late = await buildImage(join(dir, `late-${short}`));
      pushDuring = await cranePush(late.layoutDir, ref('late'), ciBot());
      release();
      const exit = await new Promise<number | null>((resolve) => (gc.child.exitCode !== null ? resolve(gc.child.exitCode) : gc.child.once('exit', resolve)));
      expect(exit, gc.output()).toBe(0);
      const settle = pulling.pulls() + 2;
      await waitFor('pulls after the window', async () => pulling.pulls() >= settle, 60_000);
    } finally {
      release();
      await pulling.stop();
    }
    const after = await s3.objects(blobPrefix);

    console.log(`[${flavor}] ${pulling.pulls()} full pulls of kept images, ${pulling.failures().length} failures`);
    expect(pulling.failures(), kubelet.logs()).toEqual([]);
    expect(pulling.pulls()).toBeGreaterThan(2);

    // The push during the window: refused by the token server, with the reason.
    expect(tokenDuring.status, tokenDuring.text).toBe(503);
    expect(tokenDuring.headers['retry-after']).toBe('60');
    expect((JSON.parse(tokenDuring.text) as { errors: { code: string; message: string }[] }).errors[0]).toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining(READ_ONLY),
    });
    expect(pushDuring.code).not.toBe(0);
    expect(pushDuring.stderr).toContain(`UNAVAILABLE: ${READ_ONLY}`);

    // The bucket: exactly the deleted manifests and the blobs only they used are gone, nothing else moved.
    const afterKeys = new Set(after.map((o) => o.key));
    const removed = before.filter((o) => !afterKeys.has(o.key));
    expect(after.every((o) => before.some((b) => b.key === o.key && b.size === o.size))).toBe(true);
    const expected = [...fixture.deletedDigests, ...fixture.freedBlobs].map((d) => blobKey(blobPrefix, d)).sort();
    expect(removed.map((o) => o.key).sort()).toEqual(expected);
    const freedLayersAndConfigs = removed.filter((o) => fixture.freedBlobs.some((d) => o.key === blobKey(blobPrefix, d)));
    expect(bytesOf(freedLayersAndConfigs)).toBe(fixture.bytesFreed);
    console.log(
      `[${flavor}] bucket blob prefix: ${before.length} objects, ${bytesOf(before)} bytes before; ${after.length}, ${bytesOf(after)} after ` +
        `(${removed.length} objects, ${bytesOf(removed)} bytes freed)`,
    );

    // The status counts what went; bytes are not measured on S3.
    const status = gcStatus(await registryMain());
    expect(status?.phase).toBe('Idle');
    expect(status?.lastResult).toMatchObject({ succeeded: true, blobsDeleted: removed.length });
    expect(status?.lastResult?.bytesFreed).toBeUndefined();
    expect(jobs.runs().map((j) => j.exitCode)).toEqual([0]);

    // Kept images still pull byte-identical after the sweep, and pushes work again.
    await expectPullsIdentical(ref('latest'), join(dir, 'pulled-after', short, 'latest'), fixture, fixture.tagged.get('latest') as string, ciBot());
    for (const child of fixture.keptChildren) await expectPullsIdentical(ref(child), join(dir, 'pulled-after', short, child.slice(7)), fixture, child, ciBot());
    const again = await buildImage(join(dir, `after-${short}`));
    const pushedAfter = await cranePush(again.layoutDir, ref('after'), ciBot());
    expect(pushedAfter.code, pushedAfter.stderr).toBe(0);
  }, 300_000);
});
