// Signing-key and CA rotation on a real API server, with real Distribution registries (2.8 and v3) and
// a real client (crane) requesting tokens and pulling/pushing throughout:
//   five signing-key rotations and two CA rotations -> zero authentication failures, the registry
//   restarts only for the CA rotations, the user's own Deployment fields survive every roll;
//   control: a key issued from a new CA before the registry trusts it -> failures.
// In-process: the operator (startOperator: the Registry controller for snapshot and credentials objects,
// and the keys controller). The token server is the
// real CLI with `--registry NAMESPACE/NAME`: policy and signing keys read live from the cluster. The test
// plays kubelet and Deployment controller (test/harness/kubelet.ts).
//
// Time: the CRD keeps tokenTTL >= 60 s, which would make every CA rotation drain for a minute. The
// controller gets settingsOverrides.tokenTTLSeconds = 5 instead: each crane invocation fetches fresh
// tokens and finishes in well under 5 s, so no token older than that is ever presented; the token
// server itself still issues 60 s tokens. reloadDelay is 3 s (the token server watches the Secret).
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperator, type RunningOperator } from '../../operator/main.js';
import { KeysController } from '../../operator/controllers/keys/controller.js';
import { caSecretName, signingSecretName } from '../../wire/names.js';
import { deployments, type Deployment } from '../../operator/controllers/deployment.js';
import { applyAction, bundleIds, parseCAs, serializeCAs, rotationSettings } from '../../operator/signing/material.js';
import { KubeClient, objectPath, Resources, collectionPath } from '../../kube/request.js';
import { FIELD_MANAGER } from '../../operator/writes/apply.js';
import { KEY_FILES } from '../../wire/files.js';
import { type SigningKey, type SigningKeySet } from '../../wire/signing-key-set.js';
import { x5cOf } from '../../wire/access-token.js';
import type { RegistryResource } from '../../crds/types.js';
import { requestRotation as setRotateAnnotation } from '../../bin/commands/keys-rotate.js';
import { craneDigest, cranePush, type ClientContext } from '../harness/clients.js';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { buildImage } from '../../local/image.js';
import { startFakeKubelet, type FakeKubelet } from '../harness/kubelet.js';
import { startTokenServer, type RunningTokenServer } from '../harness/portcullis.js';
import { freePort, waitFor } from '../../local/process.js';
import type { RegistryFlavor } from '../../local/registry.js';
import { createTestTLS, type TestTLS } from '../../local/tls.js';
import { repoRoot } from '../../local/tools.js';

const NS = 'registry';
const TOKEN_TTL_OVERRIDE = 5;
const RELOAD_DELAY = 3;
const PASSWORD = 'alice-rotation-pw';

const manifests = (name: string, service: string, realm: string): string => `apiVersion: portcullis.dev/v1alpha1
kind: Registry
metadata: {name: ${name}, namespace: ${NS}}
spec:
  service: ${service}
  issuer: portcullis-test
  realm: ${realm}
  tokenTTL: 60s
  signing: {rotateEvery: 1h}
  distribution: {deployment: ${name}-distribution}
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
  actions: [pull, push]
`;

/** The user's Deployment: fields of their own that every roll must leave alone. */
const userDeployment = (name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: NS, labels: { team: 'platform', 'app.kubernetes.io/name': 'registry' } },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name, tier: 'storage' }, annotations: { 'example.com/owner': 'platform' } },
      spec: {
        containers: [
          {
            name: 'registry',
            image: 'registry:2.8.3',
            env: [
              { name: 'REGISTRY_LOG_LEVEL', value: 'info' },
              { name: 'OTEL_TRACES_EXPORTER', value: 'none' },
            ],
            resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
          },
          { name: 'sidecar', image: 'busybox:1.36', args: ['sleep', 'infinity'] },
        ],
      },
    },
  },
});

/** The parts of a Deployment the user owns, for before/after comparison. */
function userFields(d: Deployment): unknown {
  const spec = d.spec?.template?.spec as { containers: { name: string; image: string; env?: { name: string }[]; resources?: unknown; args?: unknown }[] };
  const annotations = { ...(d.spec?.template?.metadata?.annotations ?? {}) };
  delete annotations['portcullis.dev/bundle-hash'];
  return {
    labels: d.metadata.labels,
    replicas: d.spec?.replicas,
    templateLabels: d.spec?.template?.metadata?.labels,
    annotations,
    containers: spec.containers.map((c) => ({
      name: c.name,
      image: c.image,
      env: (c.env ?? []).filter((e) => !e.name.startsWith('REGISTRY_AUTH_TOKEN_')),
      resources: c.resources,
      args: c.args,
    })),
  };
}

interface ClientLoop {
  requests(): number;
  failures(): string[];
  stop(): Promise<void>;
}

/** Pulls (crane digest: token + manifest) continuously and pushes every third round. */
function startClientLoop(ref: (tag: string) => string, ctx: ClientContext, layoutDir: string): ClientLoop {
  let requests = 0;
  const failures: string[] = [];
  let stopped = false;
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      const r = i % 3 === 2 ? await cranePush(layoutDir, ref(`round-${i}`), ctx) : await craneDigest(ref('base'), ctx);
      requests += 1;
      if (r.code !== 0) failures.push(`${new Date().toISOString()} ${i % 3 === 2 ? 'push' : 'pull'}: ${r.stderr.trim().split('\n').slice(-1)[0]}`);
    }
  })();
  return {
    requests: () => requests,
    failures: () => [...failures],
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

async function signingSet(name: string): Promise<SigningKeySet> {
  const s = await client.get<{ data: Record<string, string> }>(objectPath(Resources.secrets, NS, signingSecretName(name)));
  return JSON.parse(Buffer.from(s.data[KEY_FILES.signing] ?? '', 'base64').toString()) as SigningKeySet;
}

function httpsGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: tls.caCert, headers, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function tokenStatus(base: string, service: string): Promise<number> {
  const auth = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;
  return (
    await httpsGet(`${base}/token?service=${encodeURIComponent(service)}&scope=repository:team/app:pull`, { authorization: auth }).catch(() => ({ status: 0 }))
  ).status;
}

/**
 * What the holder of a copied signing Secret does: a token for `team/app` signed with `key` (its own x5c
 * leaf), shown to the registry. The registry checks the chain against its bundle, not which keys are
 * current: only dropping the CA that issued the leaf ends such tokens.
 */
async function stolenKeyStatus(key: SigningKey, service: string, registry: string): Promise<number> {
  const now = Math.floor(Date.now() / 1000);
  const header = Buffer.from(JSON.stringify({ alg: key.algorithm, typ: 'JWT', kid: key.kid, x5c: x5cOf(key.certificateChain) })).toString('base64url');
  const claims = { iss: 'portcullis-test', sub: 'mallory', aud: service, exp: now + 300, nbf: now - 5, iat: now, jti: randomUUID() };
  const access = [{ type: 'repository', name: 'team/app', actions: ['pull'] }];
  const input = `${header}.${Buffer.from(JSON.stringify({ ...claims, access })).toString('base64url')}`;
  const privateKey = createPrivateKey(key.privateKey);
  const signature =
    key.algorithm === 'ES256'
      ? sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' })
      : sign('sha256', Buffer.from(input), privateKey);
  const r = await httpsGet(`${registry}/v2/team/app/manifests/base`, {
    authorization: `Bearer ${input}.${signature.toString('base64url')}`,
    accept: 'application/vnd.oci.image.manifest.v1+json',
  });
  return r.status;
}

async function jwksKids(base: string): Promise<string[]> {
  const r = await httpsGet(`${base}/.well-known/jwks.json`).catch(() => ({ status: 0, body: '{}' }));
  return ((JSON.parse(r.body) as { keys?: { kid: string }[] }).keys ?? []).map((k) => k.kid);
}

async function registryObject(client: KubeClient, name: string, namespace = NS): Promise<RegistryResource> {
  return client.get<RegistryResource>(objectPath(Resources.registries, namespace, name));
}

interface SigningSummary {
  activeKeyId?: string;
  caIds?: string[];
  phase?: string;
}
const signingOf = (r: RegistryResource): SigningSummary => (r.status as { signing?: SigningSummary } | undefined)?.signing ?? {};

async function requestRotation(name: string, what: 'keys' | 'ca'): Promise<void> {
  // What `portcullis keys rotate NAME [--ca] -n NS` does (the CLI entry wiring is the lead's).
  await setRotateAnnotation(cp.kubeConfig, NS, name, what);
}

let cp: ControlPlane;
let client: KubeClient;
let dir: string;
let tls: TestTLS & { caCert: string };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-rotation-'));
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
    // The operator starts its controllers once every informer has synced, RetentionPolicies included.
    '-f',
    join(repoRoot, 'crds', 'retentionpolicies.yaml'),
  ]);
  expect(crds.code, crds.stderr).toBe(0);
  expect((await kubectl(cp, ['wait', '--for=condition=Established', 'crd/registries.portcullis.dev', '--timeout=30s'])).code).toBe(0);
  expect((await kubectl(cp, ['create', 'namespace', NS])).code).toBe(0);
});

afterAll(async () => {
  client?.close();
  await cp?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe.each<RegistryFlavor>(['2.8', 'v3'])('rotation with Distribution %s', (flavor) => {
  const name = `main-${flavor.replace('.', '')}`;
  const service = `registry-${flavor.replace('.', '')}.test`;
  let kubelet: FakeKubelet;
  let server: RunningTokenServer;
  let operator: RunningOperator | undefined;
  let initialUserFields: unknown;
  const ctx = (): ClientContext => ({ tls, auth: { username: 'alice', password: PASSWORD } });
  const ref = (tag: string) => `${kubelet.host}/team/app:${tag}`;
  const deploymentNow = () => client.get<Deployment>(objectPath(deployments, NS, `${name}-distribution`));

  beforeAll(async () => {
    const base = join(dir, name);
    const tokenPort = await freePort();
    const realm = `https://localhost:${tokenPort}/token`;
    await writeFile(join(dir, `${name}.yaml`), manifests(name, service, realm));
    const applied = await kubectl(cp, ['apply', '-f', join(dir, `${name}.yaml`)]);
    expect(applied.code, applied.stderr).toBe(0);
    // Baseline as the API server stored it (with its defaults), before the operator touched it.
    initialUserFields = userFields(await client.request<Deployment>('POST', collectionPath(deployments, NS), { body: userDeployment(`${name}-distribution`) }));

    kubelet = await startFakeKubelet({
      cp,
      namespace: NS,
      deployment: `${name}-distribution`,
      flavor,
      tls: { cert: tls.serverCertPath, key: tls.serverKeyPath },
    });
    operator = await startOperator({
      kubeConfig: cp.kubeConfig,
      namespace: NS,
      leaderElect: false,
      log: pino({ level: 'warn' }),
      bcryptCost: 4,
      keys: { reloadDelaySeconds: RELOAD_DELAY, settingsOverrides: { tokenTTLSeconds: TOKEN_TTL_OVERRIDE }, rolloutPollMs: 300 },
    });
    await waitFor(
      'an active signing key and a rolled Deployment',
      async () => {
        const r = await registryObject(client, name);
        const d = await client.get<Deployment>(objectPath(deployments, NS, `${name}-distribution`));
        return (
          signingOf(r).activeKeyId !== undefined &&
          kubelet.rollouts().some((x) => x.bundleHash !== undefined) &&
          (d.status?.observedGeneration ?? 0) === d.metadata.generation
        );
      },
      60_000,
    );
    expect(userFields(await deploymentNow())).toEqual(initialUserFields);
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
      'the token server to serve a token for alice',
      async () => (await tokenStatus(server.url, service)) === 200,
      60_000,
      () => server.process.output(),
    );
    const image = await buildImage(join(base, 'image'));
    const pushed = await cranePush(image.layoutDir, ref('base'), ctx());
    expect(pushed.code, pushed.stderr + kubelet.logs()).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await operator?.stop();
    await server?.stop();
    await kubelet?.stop();
  });

  it('five key rotations and two CA rotations: no authentication failure, restarts only for CAs, user fields intact', async () => {
    const image = await buildImage(join(dir, name, 'loop-image'));
    const loop = startClientLoop(ref, ctx(), image.layoutDir);
    const durations: { what: string; seconds: number; requests: number }[] = [];
    try {
      await waitFor('client loop warmed up', async () => loop.requests() >= 3, 60_000);
      const restartsBefore = kubelet.restarts();
      const active = signingOf(await registryObject(client, name)).activeKeyId;
      const stolen = (await signingSet(name)).keys.find((k) => k.kid === active)!;
      expect(await stolenKeyStatus(stolen, service, kubelet.endpoint)).toBe(200);
      for (let i = 0; i < 5; i++) {
        const before = signingOf(await registryObject(client, name)).activeKeyId;
        const requestsBefore = loop.requests();
        const t0 = Date.now();
        await requestRotation(name, 'keys');
        await waitFor(
          `key rotation ${i + 1}`,
          async () => {
            const s = signingOf(await registryObject(client, name));
            return s.activeKeyId !== undefined && s.activeKeyId !== before;
          },
          60_000,
        );
        // Let the client use the new key for a moment (its tokens must verify, too).
        const settled = loop.requests() + 2;
        await waitFor('requests with the new key', async () => loop.requests() >= settled, 60_000);
        durations.push({ what: `key rotation ${i + 1}`, seconds: (Date.now() - t0) / 1000, requests: loop.requests() - requestsBefore });
        expect(userFields(await deploymentNow())).toEqual(initialUserFields);
      }
      expect(kubelet.restarts(), 'signing-key rotations must not restart the registry').toBe(restartsBefore);
      // The limit docs/security-model.md states: key rotations retire the key, but its certificate still
      // chains to the registry's CA, so a copy of it keeps signing tokens the registry accepts.
      expect(signingOf(await registryObject(client, name)).activeKeyId).not.toBe(stolen.kid);
      expect(await stolenKeyStatus(stolen, service, kubelet.endpoint)).toBe(200);

      for (let i = 0; i < 2; i++) {
        const start = signingOf(await registryObject(client, name));
        const oldCA = start.caIds?.[0];
        const restarts = kubelet.restarts();
        const requestsBefore = loop.requests();
        const t0 = Date.now();
        await requestRotation(name, 'ca');
        await waitFor(
          `CA rotation ${i + 1}`,
          async () => {
            const s = signingOf(await registryObject(client, name));
            return s.phase === 'Stable' && s.caIds?.length === 1 && s.caIds[0] !== oldCA;
          },
          180_000,
        );
        durations.push({ what: `CA rotation ${i + 1}`, seconds: (Date.now() - t0) / 1000, requests: loop.requests() - requestsBefore });
        // One roll to trust both CAs, one to drop the old one.
        expect(kubelet.restarts() - restarts).toBe(2);
        expect(userFields(await deploymentNow())).toEqual(initialUserFields);
        const keys = await signingSet(name);
        expect(keys.keys.length).toBeGreaterThan(0);
        expect(new Set(keys.keys.map((k) => k.certificateChain[1])).size).toBe(1);
      }
      const settled = loop.requests() + 3;
      await waitFor('requests after the last rotation', async () => loop.requests() >= settled, 60_000);
      // The remedy it names: once the CA that issued the copied key has left the bundle, the registry refuses it.
      expect(await stolenKeyStatus(stolen, service, kubelet.endpoint)).toBe(401);
    } finally {
      await loop.stop();
    }
    const total = loop.requests();
    console.log(`[${flavor}] ${total} client operations (each: token request + registry requests); ${loop.failures().length} failures`);
    for (const d of durations) console.log(`[${flavor}] ${d.what}: ${d.seconds.toFixed(1)} s, ${d.requests} client operations during it`);
    expect(loop.failures(), kubelet.logs()).toEqual([]);
    expect(total).toBeGreaterThan(20);
    const registry = await registryObject(client, name);
    expect(registry.metadata.annotations?.['portcullis.dev/rotate']).toBeUndefined();
    expect(signingOf(registry).phase).toBe('Stable');
  }, 900_000);

  // Both controllers write Registry conditions: the keys controller (server-side apply, its own field
  // manager) and the Registry controller (Ready). Each must keep the other's.
  it("the Registry shows the keys controller's conditions next to the Registry controller's Ready", async () => {
    await waitFor(
      'both controllers to have written their conditions',
      async () => {
        const types = ((await registryObject(client, name)).status?.conditions ?? []).map((c) => c.type);
        return ['Ready', 'KeysReady', 'Rotating', 'DistributionWired'].every((t) => types.includes(t));
      },
      30_000,
    );
    // a resync of either controller must not remove the other's
    await new Promise((r) => setTimeout(r, 1500));
    const conditions = new Map(((await registryObject(client, name)).status?.conditions ?? []).map((c) => [c.type, c]));
    expect(conditions.get('Ready')?.status).toBe('True');
    expect(conditions.get('KeysReady')?.status).toBe('True');
    expect(conditions.get('Rotating')?.status).toBe('False');
    expect(conditions.get('DistributionWired')?.status).toBe('True');
  });

  it('control: a key issued from a new CA before the registry trusts it makes clients fail', async () => {
    await operator?.stop();
    operator = undefined;
    const ca = await client.get<{ data: Record<string, string> }>(objectPath(Resources.secrets, NS, caSecretName(name)));
    const signing = await client.get<{ data: Record<string, string> }>(objectPath(Resources.secrets, NS, signingSecretName(name)));
    const material = {
      cas: parseCAs(Buffer.from(ca.data[KEY_FILES.cas] ?? '', 'base64').toString()),
      signing: JSON.parse(Buffer.from(signing.data[KEY_FILES.signing] ?? '', 'base64').toString()) as SigningKeySet,
      bundlePem: '',
    };
    const registry = await registryObject(client, name);
    const { settings } = rotationSettings(registry.spec, { reloadDelaySeconds: RELOAD_DELAY });
    const actx = { now: new Date(), registryId: `${NS}/${name}`, commonName: 'naive CA', algorithm: 'ES256' as const, settings };
    const withCA = await applyAction(material, { type: 'CreateCA' }, actx);
    // The naive order: sign with the new CA's key at once, before any rollout of a bundle that trusts it.
    const withKey = await applyAction(withCA.material, { type: 'IssueKey', caId: withCA.created!, notBefore: new Date() }, actx);
    const owned = { namespace: NS, labels: { 'portcullis.dev/registry': name } };
    await client.apply(
      objectPath(Resources.secrets, NS, caSecretName(name)),
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: caSecretName(name), ...owned },
        data: { [KEY_FILES.cas]: Buffer.from(serializeCAs(withKey.material.cas)).toString('base64') },
      },
      FIELD_MANAGER,
    );
    await client.apply(
      objectPath(Resources.secrets, NS, signingSecretName(name)),
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: signingSecretName(name), ...owned },
        data: { [KEY_FILES.signing]: Buffer.from(JSON.stringify(withKey.material.signing)).toString('base64') },
      },
      FIELD_MANAGER,
    );
    await waitFor('the token server to publish the naive key', async () => (await jwksKids(server.url)).includes(withKey.created!), 30_000);
    let failures = 0;
    for (let i = 0; i < 4; i++) if ((await craneDigest(ref('base'), ctx())).code !== 0) failures += 1;
    console.log(`[${flavor}] control run: ${failures}/4 operations failed`);
    expect(failures).toBeGreaterThan(0);
  }, 120_000);
});

// The controller's own contract, one reconcile at a time, with an injected clock (no registry needed).
describe('keys controller on a real API server', () => {
  // A namespace the in-process operator does not watch: these tests drive one reconcile at a time.
  const NS = 'keys-controller';
  beforeAll(async () => {
    expect((await kubectl(cp, ['create', 'namespace', NS])).code).toBe(0);
  });
  const log = pino({ level: 'silent' });
  let clock = Date.parse('2031-01-01T00:00:00Z');
  const now = () => new Date(clock);
  const controller = (maxStepsPerReconcile?: number) =>
    new KeysController({
      client,
      log,
      now,
      reloadDelaySeconds: 1,
      settingsOverrides: { tokenTTLSeconds: 2 },
      ...(maxStepsPerReconcile ? { maxStepsPerReconcile } : {}),
    });
  const registry = (name: string, deployment?: string) => ({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'Registry',
    metadata: { name, namespace: NS },
    spec: { service: `${name}.test`, realm: 'https://auth.test/token', ...(deployment ? { distribution: { deployment } } : {}) },
  });
  const conditionsOf = async (name: string) => new Map(((await registryObject(client, name, NS)).status?.conditions ?? []).map((c) => [c.type, c]));

  it('a missing Deployment is reported as DeploymentNotFound; keys are still issued and measured', async () => {
    await client.request('POST', collectionPath(Resources.registries, NS), { body: registry('nodeploy', 'absent') });
    const metrics = new MetricsRegistry();
    await new KeysController({ client, log, now, reloadDelaySeconds: 1, metrics }).reconcile(`${NS}/nodeploy`);
    const exposed = await metrics.metrics();
    expect(exposed).toMatch(new RegExp(`portcullis_signing_key_age_seconds\\{registry="${NS}/nodeploy"\\} \\d`));
    expect(exposed).toMatch(new RegExp(`portcullis_signing_certificate_expiry_timestamp_seconds\\{registry="${NS}/nodeploy"\\} \\d{10}`));
    const c = await conditionsOf('nodeploy');
    expect(c.get('DistributionWired')).toMatchObject({ status: 'False', reason: 'DeploymentNotFound' });
    expect(c.get('KeysReady')?.status).toBe('True');
    const owned = await client.get<{ metadata: { labels: Record<string, string>; ownerReferences: { controller: boolean; kind: string }[] } }>(
      objectPath(Resources.configMaps, NS, 'portcullis-nodeploy-bundle'),
    );
    expect(owned.metadata.labels['portcullis.dev/registry']).toBe('nodeploy');
    expect(owned.metadata.ownerReferences[0]).toMatchObject({ kind: 'Registry', controller: true });
  });

  it("a Registry naming Portcullis's own token-server Deployment is DeploymentNotAllowed, and the Deployment is left as it is", async () => {
    const d = userDeployment('portcullis-token-server');
    const labels = { 'app.kubernetes.io/part-of': 'portcullis', 'app.kubernetes.io/component': 'token-server' };
    await client.request('POST', collectionPath(deployments, NS), { body: { ...d, metadata: { ...d.metadata, namespace: NS, labels } } });
    await client.request('POST', collectionPath(Resources.registries, NS), { body: registry('hijack', 'portcullis-token-server') });
    await controller().reconcile(`${NS}/hijack`);
    const c = await conditionsOf('hijack');
    expect(c.get('DistributionWired')).toMatchObject({ status: 'False', reason: 'DeploymentNotAllowed' });
    expect(c.get('DistributionWired')?.message).toContain("Portcullis's own token-server");
    const after = await client.get<Deployment>(objectPath(deployments, NS, 'portcullis-token-server'));
    expect(after.spec?.template?.metadata?.annotations?.['portcullis.dev/bundle-hash']).toBeUndefined();
    expect(after.metadata.generation).toBe(1);
  });

  it('a paused Deployment is reported and not rolled', async () => {
    const d = userDeployment('paused-distribution');
    await client.request('POST', collectionPath(deployments, NS), {
      body: { ...d, metadata: { ...d.metadata, namespace: NS }, spec: { ...d.spec, paused: true } },
    });
    await client.request('POST', collectionPath(Resources.registries, NS), { body: registry('paused', 'paused-distribution') });
    const result = await controller().reconcile(`${NS}/paused`);
    expect(result.requeueAfterMs).toBeGreaterThan(0);
    const c = await conditionsOf('paused');
    expect(c.get('DistributionWired')).toMatchObject({ status: 'False', reason: 'DeploymentPaused' });
    const after = await client.get<Deployment>(objectPath(deployments, NS, 'paused-distribution'));
    expect(after.spec?.template?.metadata?.annotations?.['portcullis.dev/bundle-hash']).toBeUndefined();
    expect(after.metadata.generation).toBe(1);
  });

  it('a CA rotation interrupted after every single action resumes from the recorded phase and completes', async () => {
    await client.request('POST', collectionPath(Resources.registries, NS), { body: registry('crashy') });
    await controller().reconcile(`${NS}/crashy`);
    const first = signingOf(await registryObject(client, 'crashy', NS));
    await setRotateAnnotation(cp.kubeConfig, NS, 'crashy', 'ca');
    const phases = new Set<string>();
    for (let crash = 0; crash < 40; crash++) {
      // A fresh controller each time: nothing survives but the cluster's objects and the status.
      await controller(1)
        .reconcile(`${NS}/crashy`)
        .catch((error: Error) => expect(error.message).toMatch(/did not settle/));
      const s = signingOf(await registryObject(client, 'crashy', NS));
      if (s.phase) phases.add(s.phase);
      clock += 1000;
      if (s.phase === 'Stable' && s.caIds?.length === 1 && s.caIds[0] !== first.caIds?.[0]) break;
    }
    const done = signingOf(await registryObject(client, 'crashy', NS));
    expect(done.phase).toBe('Stable');
    expect(done.caIds).toHaveLength(1);
    expect(done.caIds?.[0]).not.toBe(first.caIds?.[0]);
    expect([...phases]).toEqual(expect.arrayContaining(['CAStaged', 'CAIssuing', 'CADraining', 'CARetiring']));
    const bundle = await client.get<{ data: Record<string, string> }>(objectPath(Resources.configMaps, NS, 'portcullis-crashy-bundle'));
    expect(bundleIds(bundle.data['bundle.pem'] ?? '')).toEqual(done.caIds);
  });

  it('an emergency CA rotation publishes only the new CA and drops every key of the old one', async () => {
    await client.request('POST', collectionPath(Resources.registries, NS), { body: registry('urgent') });
    await controller().reconcile(`${NS}/urgent`);
    const first = signingOf(await registryObject(client, 'urgent', NS));
    await setRotateAnnotation(cp.kubeConfig, NS, 'urgent', 'ca-emergency');
    await controller().reconcile(`${NS}/urgent`);
    const done = signingOf(await registryObject(client, 'urgent', NS));
    expect(done.phase).toBe('Stable');
    expect(done.caIds).toHaveLength(1);
    expect(done.caIds?.[0]).not.toBe(first.caIds?.[0]);
    const s = await client.get<{ data: Record<string, string> }>(objectPath(Resources.secrets, NS, signingSecretName('urgent')));
    const set = JSON.parse(Buffer.from(s.data[KEY_FILES.signing] ?? '', 'base64').toString()) as SigningKeySet;
    expect(set.keys.length).toBeGreaterThan(0);
    for (const key of set.keys) expect(bundleIds(key.certificateChain[1] ?? '')).toEqual(done.caIds);
    expect(set.refreshKeys.length).toBeGreaterThan(0);
  });
});
