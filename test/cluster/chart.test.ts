// The chart for real, on one real node (local/cluster.ts: kubelet, containerd, kube-proxy, scheduler,
// controller manager): the Portcullis and Distribution images imported into containerd, `helm install`
// of charts/portcullis with the values of the shared scenario (hack/e2e-scenario/, which
// hack/kind-e2e.sh runs on kind), every pod Running and Ready under the chart's own ServiceAccounts,
// security contexts and probes; crane and skopeo on the host log in, push and pull through the NodePorts
// as the scenario's steps say, and what the grants do not give is refused by the registry itself;
// `helm upgrade` adopts the Registry and rolls the token server under load; `helm uninstall` keeps the
// CRDs, the Registry, the users, the grants and the registry's volume claim, as the README says.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type RunningCluster } from '../../local/cluster.js';
import { buildImage } from '../../local/image.js';
import { waitFor } from '../../local/process.js';
import { craneClient, cranePush, registryRefusal, skopeoClient, skopeoLogin, type MatrixClient } from '../harness/clients.js';
import { startClientLoop } from '../harness/cluster-client-loop.js';
import { podsOf, type PodSummary } from '../harness/cluster-pods.js';
import { CHART, installPortcullis, NS, RELEASE, scenarioSteps, type InstalledPortcullis } from '../harness/cluster-portcullis.js';

let cluster: RunningCluster | undefined;
let p: InstalledPortcullis;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-cluster-chart-'));
  const t0 = Date.now();
  cluster = await startCluster();
  const started = (Date.now() - t0) / 1000;
  p = await installPortcullis(cluster);
  const t = p.timings;
  process.stdout.write(
    `[measured] cluster started in ${started.toFixed(0)} s; images built in ${t.imageBuild} s (0: cached), imported in ${t.imageImport} s; chart installed and serving in ${t.install} s\n`,
  );
}, 1_800_000);

afterAll(async () => {
  await cluster?.stop();
  await p?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const json = async <T>(args: string[]): Promise<T> => {
  const r = await p.kubectl([...args, '-o', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
};

describe('the chart on a real node', () => {
  it('runs 2 operators, 2 token servers and 2 registries, Ready, each under its own ServiceAccount, non-root, read-only, probed', async () => {
    const expected: [component: 'operator' | 'token-server' | 'registry', serviceAccount: string, probes: boolean][] = [
      ['operator', `${RELEASE}-operator`, true],
      ['token-server', `${RELEASE}-token-server`, true],
      // The registry never talks to the API (no token mounted): the namespace's default account.
      ['registry', 'default', true],
    ];
    for (const [component, serviceAccount] of expected) {
      const pods: PodSummary[] = (await podsOf(p.kubectl, component)).filter((pod) => !pod.deleting);
      expect(
        pods.map((pod) => [pod.phase, pod.ready]),
        component,
      ).toEqual([
        ['Running', true],
        ['Running', true],
      ]);
      for (const pod of pods) {
        expect(pod.serviceAccountName, component).toBe(serviceAccount);
        expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
        const container = pod.spec.containers[0]!;
        expect(container.imagePullPolicy).toBe('Never');
        expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
        expect(container.readinessProbe, component).toBeDefined();
        expect(container.livenessProbe, component).toBeDefined();
      }
    }
    // Both PodDisruptionBudgets see their two healthy pods and allow one disruption.
    for (const name of [`${RELEASE}-token-server`, `${RELEASE}-registry`]) {
      await waitFor(
        `PDB ${name} counting its pods`,
        async () => {
          const pdb = await json<{ status?: { currentHealthy?: number; disruptionsAllowed?: number } }>(['-n', NS, 'get', 'pdb', name]);
          return pdb.status?.currentHealthy === 2 && pdb.status.disruptionsAllowed === 1;
        },
        60_000,
      );
    }
    // One operator holds the Lease; the other waits.
    const lease = await json<{ spec: { holderIdentity?: string } }>(['-n', NS, 'get', 'lease', 'portcullis-operator']);
    const operators = (await podsOf(p.kubectl, 'operator')).map((pod) => pod.name);
    expect(operators.filter((name) => lease.spec.holderIdentity?.startsWith(`${name}-`))).toHaveLength(1);
  });

  it.each<MatrixClient>([craneClient, skopeoClient])(
    "the scenario's steps with $name from the host through the NodePort: granted works, the rest is refused",
    async (client) => {
      const pushed = new Map<string, string>();
      for (const [i, step] of (await scenarioSteps()).entries()) {
        const ref = `${p.registryHost}/${step.reference}-${client.name}`;
        const ctx = await p.ctx(step.user);
        const what = `${client.name}: ${step.user} ${step.action} ${step.reference} (${step.expect})`;
        const r =
          step.action === 'push'
            ? // A new image for every push (steps.tsv): with its blobs already there, a refused push would fail
              // at the manifest PUT, where crane 0.22 retries with the body spent and hides the registry's code.
              await client.push((await buildImage(join(dir, `image-${client.name}-${i}`))).layoutDir, ref, ctx)
            : await client.pull(ref, join(dir, `pulled-${client.name}-${pushed.size}-${step.user}`), ctx);
        if (step.expect === 'refused') {
          // The registry's own refusal, not a connection error or a crash.
          expect(['DENIED', 'UNAUTHORIZED'], `${what}: ${r.stderr}`).toContain(registryRefusal(r));
          continue;
        }
        expect(r.code, `${what}: ${r.stderr}`).toBe(0);
        const digest = await client.digest(ref, ctx);
        expect(digest.code, digest.stderr).toBe(0);
        if (step.action === 'push') pushed.set(ref, digest.stdout.trim());
        else expect(digest.stdout.trim(), what).toBe(pushed.get(ref));
      }
      expect(pushed.size).toBeGreaterThan(0);
    },
    300_000,
  );

  it('a login asks the token server through the NodePort: the right password is accepted, a wrong one refused', async () => {
    const alice = await p.ctx('alice');
    const ok = await skopeoLogin(p.registryHost, { auth: alice.auth! });
    expect(ok.code, ok.stderr).toBe(0);
    const wrong = await skopeoLogin(p.registryHost, { auth: { username: 'alice', password: `${alice.auth!.password}-wrong` } });
    expect(registryRefusal(wrong), wrong.stderr).toBe('UNAUTHORIZED');
  });

  it('attack: bob, who may only pull, asks the token server for push and gets a token without it', async () => {
    const bob = (await p.ctx('bob')).auth!;
    const service = encodeURIComponent(p.registryHost);
    const res = await fetch(`${p.realm}?service=${service}&scope=repository:team/hello:pull,push`, {
      headers: { authorization: `Basic ${Buffer.from(`${bob.username}:${bob.password}`).toString('base64')}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token: string };
    const claims = JSON.parse(Buffer.from(body.token.split('.')[1]!, 'base64url').toString()) as { access: { name: string; actions: string[] }[] };
    expect(claims.access).toEqual([{ type: 'repository', name: 'team/hello', actions: ['pull'] }]);
  });

  it('helm upgrade adopts the hook-made Registry, then applies changed values and rolls the token server while clients keep working', async () => {
    const first = await p.helm(['upgrade', RELEASE, CHART, '-n', NS, ...p.values]);
    expect(first.code, first.stderr).toBe(0);
    // The Registry the post-install hook made is now a resource of the release.
    const manifest = await p.helm(['get', 'manifest', RELEASE, '-n', NS]);
    expect(manifest.stdout).toMatch(/\nkind: Registry\n/);

    const before = (await podsOf(p.kubectl, 'token-server')).map((pod) => pod.name);
    const image = await buildImage(join(dir, 'upgrade-image'));
    const base = await cranePush(image.layoutDir, `${p.registryHost}/team/upgrade:base`, await p.ctx('alice'));
    expect(base.code, base.stderr).toBe(0);
    const loop = startClientLoop({
      pull: 'team/upgrade:base',
      pushRepository: 'team/upgrade',
      layoutDir: image.layoutDir,
      ctx: await p.ctx('alice'),
      registryHost: p.registryHost,
      retries: 1,
    });
    try {
      await waitFor('the client loop running', async () => loop.operations() >= 3, 60_000);
      const second = await p.helm([
        'upgrade',
        RELEASE,
        CHART,
        '-n',
        NS,
        ...p.values,
        '--set',
        'tokenServer.logLevel=debug',
        '--set',
        'registryResource.tokenTTL=90s',
      ]);
      expect(second.code, second.stderr).toBe(0);
      const rolled = await p.kubectl(['-n', NS, 'rollout', 'status', `deployment/${RELEASE}-token-server`, '--timeout=300s']);
      expect(rolled.code, rolled.stderr).toBe(0);
      const settled = loop.operations() + 3;
      await waitFor('clients after the roll', async () => loop.operations() >= settled, 120_000);
    } finally {
      await loop.stop();
    }
    const after = (await podsOf(p.kubectl, 'token-server')).filter((pod) => !pod.deleting).map((pod) => pod.name);
    expect(after.filter((name) => before.includes(name))).toEqual([]);
    const registry = await json<{ spec: { tokenTTL: string } }>(['-n', NS, 'get', 'registry', 'main']);
    expect(registry.spec.tokenTTL).toBe('90s');
    process.stdout.write(`[measured] helm upgrade: ${loop.operations()} client operations, ${loop.retried().length} retried: ${loop.retried().join('; ')}\n`);
    expect(loop.failures()).toEqual([]);
  }, 600_000);

  it('helm uninstall removes the workloads and keeps the CRDs, the Registry, users, grants and the volume claim', async () => {
    const r = await p.helm(['uninstall', RELEASE, '-n', NS, '--wait', '--timeout', '5m']);
    expect(r.code, r.stderr).toBe(0);
    await waitFor(
      'the workloads gone',
      async () => (await p.kubectl(['-n', NS, 'get', 'deployments,pods', '-l', `app.kubernetes.io/instance=${RELEASE}`, '-o', 'name'])).stdout.trim() === '',
      180_000,
    );
    for (const crd of ['registries', 'registryusers', 'repositorygrants', 'retentionpolicies']) {
      const got = await p.kubectl(['get', 'crd', `${crd}.portcullis.dev`, '-o', 'name']);
      expect(got.code, got.stderr).toBe(0);
    }
    const kept = await p.kubectl([
      '-n',
      NS,
      'get',
      'registry/main',
      'registryuser/alice',
      'registryuser/bob',
      'repositorygrant/alice-team',
      'repositorygrant/bob-team-read',
      'pvc/portcullis-registry',
      '-o',
      'name',
    ]);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout.trim().split('\n')).toHaveLength(6);
  }, 300_000);
});
