// Permissions as Kubernetes objects, end to end: the examples applied to a real API server, two
// operator replicas and a live token server running under the ServiceAccounts of deploy/rbac, a real
// Distribution registry trusting the bundle the operator publishes, and crane as the client.
import { readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { exampleManifests } from '../../local/demo.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { craneDigest, cranePush, type ClientContext } from '../harness/clients.js';
import { kubectl, startControlPlane, type ControlPlane } from '../harness/controlPlane.js';
import { buildImage } from '../harness/image.js';
import { cliPath } from '../harness/portcullis.js';
import { startProcess, waitFor, type ManagedProcess } from '../harness/process.js';
import { startRegistry, type RunningRegistry } from '../harness/registry.js';
import { createTestTLS, type TestTLS } from '../harness/tls.js';
import { repoRoot } from '../harness/tools.js';

const SERVICE = 'registry.example.com';
const PASSWORDS = { alice: 'alice-example-password', bob: 'bob-example-password', 'ci-bot': 'ci-bot-example-password' } as const;
type Who = keyof typeof PASSWORDS;

let cp: ControlPlane;
let dir: string;
let tls: TestTLS;
let registry: RunningRegistry;
let tokenServer: ManagedProcess;
let tokenUrl = '';
let operatorKubeconfig = '';
const operators: ManagedProcess[] = [];

async function mustKubectl(args: string[], input?: string): Promise<string> {
  const r = await kubectl(cp, args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function startOperator(name: string): ManagedProcess {
  const proc = startProcess(name, process.execPath, [cliPath, 'operator', '--lease-namespace', 'portcullis-system', '--log-level', 'info'], {
    env: { ...process.env, KUBECONFIG: operatorKubeconfig },
  });
  operators.push(proc);
  return proc;
}

/** The actions a fresh token grants `who` on `repo` (pull,push,delete asked for); [] when refused. */
async function granted(who: Who | 'nobody', repo: string, password?: string): Promise<string[]> {
  const { request } = await import('node:https');
  const ca = await readFile(tls.caCertPath);
  const auth = Buffer.from(`${who}:${password ?? (who === 'nobody' ? 'x' : PASSWORDS[who])}`).toString('base64');
  return new Promise((resolve, reject) => {
    const req = request(`${tokenUrl}/token?service=${SERVICE}&scope=repository:${repo}:pull,push,delete`, { ca, headers: { authorization: `Basic ${auth}` } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve([]);
        const token = (JSON.parse(body) as { token: string }).token;
        const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { access: { actions: string[] }[] };
        resolve(claims.access[0]?.actions ?? []);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Runs `change`, then measures how long until `decided()` holds. */
async function timeUntil(what: string, change: () => Promise<unknown>, decided: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  await change();
  await waitFor(what, decided, 30_000, () => operators.map((o) => o.output().slice(-3000)).join('\n') + tokenServer.output().slice(-3000));
  const ms = Date.now() - start;
  process.stdout.write(`[measured] ${what}: ${ms} ms\n`);
  return ms;
}

const as = (who: Who): ClientContext => ({ tls, auth: { username: who, password: PASSWORDS[who] } });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-operator-e2e-'));
  tls = await createTestTLS(join(dir, 'tls'));
  cp = await startControlPlane();
  await mustKubectl(['apply', '-k', join(repoRoot, 'crds')]);
  await mustKubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  await mustKubectl(['apply', '-f', join(repoRoot, 'examples', '00-namespaces.yaml')]);
  await mustKubectl(['apply', '-f', join(repoRoot, 'deploy', 'rbac')]);
  operatorKubeconfig = (await cp.kubeconfigForServiceAccount('portcullis-system', 'portcullis-operator')).path;
  const tokenKubeconfig = (await cp.kubeconfigForServiceAccount('registry', 'portcullis-token-server')).path;
  // A freshly established CRD may answer 429 for a moment; apply until it is accepted.
  const manifests = await exampleManifests();
  await waitFor('examples applied', async () => (await kubectl(cp, ['apply', '-f', '-'], manifests)).code === 0, 30_000);

  startOperator('operator-a');
  startOperator('operator-b');
  const bundle = await waitFor(
    'the operator to publish the trust bundle',
    async () => (await kubectl(cp, ['get', 'configmap', '-n', 'registry', 'portcullis-main-bundle', '-o', 'jsonpath={.data.bundle\\.pem}'])).stdout.includes('BEGIN CERTIFICATE'),
    60_000,
    () => operators.map((o) => o.output()).join('\n'),
  ).then(() => mustKubectl(['get', 'configmap', '-n', 'registry', 'portcullis-main-bundle', '-o', 'jsonpath={.data.bundle\\.pem}']));
  await writeFile(join(dir, 'bundle.pem'), bundle);

  tokenServer = startProcess('token-server', process.execPath, [cliPath, 'token-server', '--registry', 'registry/main', '--listen', '127.0.0.1:0', '--tls-cert', tls.serverCertPath, '--tls-key', tls.serverKeyPath], {
    env: { ...process.env, KUBECONFIG: tokenKubeconfig },
  });
  await waitFor('token-server listening', async () => /listening on https:\/\/[^:]+:(\d+)/.test(tokenServer.output()), 30_000, () => tokenServer.output());
  tokenUrl = `https://localhost:${/listening on https:\/\/[^:]+:(\d+)/.exec(tokenServer.output())![1]}`;
  await waitFor('the token server to serve the snapshot', async () => (await granted('alice', 'team-a/app')).includes('push'), 60_000, () => tokenServer.output());

  registry = await startRegistry({
    flavor: 'v3',
    tls: { cert: tls.serverCertPath, key: tls.serverKeyPath },
    auth: { realm: `${tokenUrl}/token`, service: SERVICE, issuer: 'portcullis', rootCertBundle: join(dir, 'bundle.pem') },
  });
});

afterAll(async () => {
  await registry?.stop();
  await tokenServer?.stop();
  for (const o of operators) await o.stop();
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('operator and live token server', () => {
  it('applying the examples lets crane push and pull exactly as the grants say', async () => {
    const image = await buildImage(join(dir, 'img-a'));
    const ref = `${registry.host}/team-a/app:latest`;
    const pushed = await cranePush(image.layoutDir, ref, as('alice'));
    expect(pushed.code, pushed.stderr).toBe(0);
    expect((await craneDigest(ref, as('ci-bot'))).stdout.trim()).toBe(image.digest);
    expect((await cranePush(image.layoutDir, `${registry.host}/team-a/other:latest`, as('bob'))).code).not.toBe(0);
    expect((await cranePush(image.layoutDir, `${registry.host}/team-b/app:latest`, as('bob'))).code).toBe(0);
    expect((await cranePush(image.layoutDir, `${registry.host}/bob/tool:latest`, as('bob'))).code).toBe(0);
  });

  it('the objects report Ready with their observed generation', async () => {
    const out = JSON.parse(await mustKubectl(['get', 'registryusers,repositorygrants,registries', '-A', '-o', 'json'])) as {
      items: { kind: string; metadata: { name: string; generation: number }; status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] } }[];
    };
    expect(out.items.length).toBeGreaterThan(8);
    for (const item of out.items) {
      expect(item.status?.conditions?.find((c) => c.type === 'Ready')?.status, `${item.kind}/${item.metadata.name}`).toBe('True');
      expect(item.status?.observedGeneration, `${item.kind}/${item.metadata.name}`).toBe(item.metadata.generation);
    }
  });

  it('editing a grant changes the decision within 2 s', async () => {
    expect(await granted('bob', 'team-a/app')).toEqual([]);
    const ms = await timeUntil(
      'grant edit -> new decision',
      () => mustKubectl(['patch', 'repositorygrant', '-n', 'registry', 'team-b-write', '--type=merge', '-p', '{"spec":{"repositories":["team-b/**","team-a/app"]}}']),
      async () => (await granted('bob', 'team-a/app')).includes('push'),
    );
    expect(ms).toBeLessThan(2000);
  });

  it('disabling a user changes the decision within 2 s', async () => {
    expect(await granted('ci-bot', 'library/base')).toContain('push');
    const ms = await timeUntil(
      'user disabled -> refused',
      () => mustKubectl(['patch', 'registryuser', '-n', 'registry', 'ci-bot', '--type=merge', '-p', '{"spec":{"disabled":true}}']),
      async () => (await granted('ci-bot', 'library/base')).length === 0,
    );
    expect(ms).toBeLessThan(2000);
  });

  it('deleting a user changes the decision within 2 s', async () => {
    expect(await granted('bob', 'team-b/app')).toContain('push');
    const ms = await timeUntil(
      'user deleted -> refused',
      () => mustKubectl(['delete', 'registryuser', '-n', 'registry', 'bob']),
      async () => (await granted('bob', 'team-b/app')).length === 0,
    );
    expect(ms).toBeLessThan(2000);
  });

  it('while the API server is down the token server keeps issuing from the last snapshot, and changes flow again after it returns', async () => {
    await cp.stopApiServer();
    try {
      for (let i = 0; i < 3; i++) {
        expect(await granted('alice', 'team-a/app')).toEqual(['pull', 'push']);
        await new Promise((r) => setTimeout(r, 500));
      }
      const image = await buildImage(join(dir, 'img-down'));
      const pushed = await cranePush(image.layoutDir, `${registry.host}/team-a/while-down:latest`, as('alice'));
      expect(pushed.code, pushed.stderr).toBe(0);
    } finally {
      await cp.startApiServer();
    }
    // (a user refused many times is rate-limited by the token server, so this uses a fresh grant)
    await timeUntil(
      'change after the API server returned -> new decision',
      () =>
        waitFor(
          'apply after restart',
          async () =>
            (await kubectl(cp, ['apply', '-f', '-'], `apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: alice-after-outage, namespace: registry}
spec:
  registryRef: {name: main}
  subjects: [{kind: User, name: alice}]
  repositories: ["after/**"]
  actions: [pull]
`)).code === 0,
          30_000,
        ),
      async () => (await granted('alice', 'after/thing')).includes('pull'),
    );
    expect(operators.every((o) => o.child.exitCode === null), 'operators must survive an API server outage').toBe(true);
  });

  it('killing the leader: the other replica takes over and reconciles a change made meanwhile', async () => {
    const lease = JSON.parse(await mustKubectl(['get', 'lease', '-n', 'portcullis-system', 'portcullis-operator', '-o', 'json'])) as { spec: { holderIdentity: string } };
    const leader = lease.spec.holderIdentity;
    const leaderProc = operators.find((o) => o.output().includes(`operator started as ${leader}`));
    expect(leaderProc, `no operator process is ${leader}`).toBeDefined();
    if (!leaderProc) return;
    leaderProc.child.kill('SIGKILL');
    await leaderProc.exited;
    await timeUntil(
      'grant created while the leader was dead -> new decision',
      () => mustKubectl(['apply', '-f', '-'], `apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: alice-extra, namespace: registry}
spec:
  registryRef: {name: main}
  subjects: [{kind: User, name: alice}]
  repositories: ["extra/**"]
  actions: [pull]
`),
      async () => (await granted('alice', 'extra/thing')).includes('pull'),
    );
    const after = JSON.parse(await mustKubectl(['get', 'lease', '-n', 'portcullis-system', 'portcullis-operator', '-o', 'json'])) as { spec: { holderIdentity: string } };
    expect(after.spec.holderIdentity).not.toBe(leader);
  });
});
