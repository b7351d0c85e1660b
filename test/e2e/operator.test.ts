// Permissions as Kubernetes objects, end to end: the examples applied to a real API server, two
// operator replicas and a live token server running under the ServiceAccounts of deploy/rbac, a real
// Distribution registry trusting the bundle the operator publishes, and crane as the client.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { craneDigest, cranePush, registryRefusal, type ClientContext } from '../harness/clients.js';
import { kubectl, type ControlPlane } from '../../local/controlPlane.js';
import { buildImage } from '../../local/image.js';
import { waitFor } from '../../local/process.js';
import { EXAMPLE_PASSWORDS, startExampleStack, type Stack } from '../harness/stack.js';

const PASSWORDS = EXAMPLE_PASSWORDS;
type Who = keyof typeof PASSWORDS;

let cp: ControlPlane;
let dir: string;
let stack: Stack;

async function mustKubectl(args: string[], input?: string): Promise<string> {
  const r = await kubectl(cp, args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const granted = (who: Who, repo: string): Promise<string[]> => stack.granted(who, PASSWORDS[who], repo);

/** Runs `change`, then measures how long until `decided()` holds. */
async function timeUntil(what: string, change: () => Promise<unknown>, decided: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  await change();
  await waitFor(what, decided, 30_000, () => stack.logs());
  const ms = Date.now() - start;
  process.stdout.write(`[measured] ${what}: ${ms} ms\n`);
  return ms;
}

const as = (who: Who): ClientContext => ({ tls: stack.tls, auth: { username: who, password: PASSWORDS[who] } });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-operator-e2e-'));
  ({ cp, stack } = await startExampleStack({ dir, operatorReplicas: 2 }));
});

afterAll(async () => {
  await stack?.stop();
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('operator and live token server', () => {
  it('applying the examples lets crane push and pull exactly as the grants say', async () => {
    const image = await buildImage(join(dir, 'img-a'));
    const ref = `${stack.registry.host}/team-a/app:latest`;
    const pushed = await cranePush(image.layoutDir, ref, as('alice'));
    expect(pushed.code, pushed.stderr).toBe(0);
    expect((await craneDigest(ref, as('ci-bot'))).stdout.trim()).toBe(image.digest);
    const refused = await cranePush(image.layoutDir, `${stack.registry.host}/team-a/other:latest`, as('bob'));
    expect(registryRefusal(refused), refused.stderr).toBe('UNAUTHORIZED');
    expect((await cranePush(image.layoutDir, `${stack.registry.host}/team-b/app:latest`, as('bob'))).code).toBe(0);
    expect((await cranePush(image.layoutDir, `${stack.registry.host}/bob/tool:latest`, as('bob'))).code).toBe(0);
  });

  it('the objects report Ready with their observed generation', async () => {
    const out = JSON.parse(await mustKubectl(['get', 'registryusers,repositorygrants,registries', '-A', '-o', 'json'])) as {
      items: {
        kind: string;
        metadata: { name: string; generation: number };
        status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
      }[];
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
      () =>
        mustKubectl([
          'patch',
          'repositorygrant',
          '-n',
          'registry',
          'team-b-write',
          '--type=merge',
          '-p',
          '{"spec":{"repositories":["team-b/**","team-a/app"]}}',
        ]),
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
      const pushed = await cranePush(image.layoutDir, `${stack.registry.host}/team-a/while-down:latest`, as('alice'));
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
            (
              await kubectl(
                cp,
                ['apply', '-f', '-'],
                `apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: alice-after-outage, namespace: registry}
spec:
  registryRef: {name: main}
  subjects: [{kind: User, name: alice}]
  repositories: ["after/**"]
  actions: [pull]
`,
              )
            ).code === 0,
          30_000,
        ),
      async () => (await granted('alice', 'after/thing')).includes('pull'),
    );
    expect(
      stack.operators.every((o) => o.child.exitCode === null),
      'operators must survive an API server outage',
    ).toBe(true);
  });

  it('killing the leader: the other replica takes over and reconciles a change made meanwhile', async () => {
    const lease = JSON.parse(await mustKubectl(['get', 'lease', '-n', 'portcullis-system', 'portcullis-operator', '-o', 'json'])) as {
      spec: { holderIdentity: string };
    };
    const leader = lease.spec.holderIdentity;
    const leaderProc = stack.operators.find((o) => o.output().includes(`operator started as ${leader}`));
    expect(leaderProc, `no operator process is ${leader}`).toBeDefined();
    if (!leaderProc) return;
    leaderProc.child.kill('SIGKILL');
    await leaderProc.exited;
    await timeUntil(
      'grant created while the leader was dead -> new decision',
      () =>
        mustKubectl(
          ['apply', '-f', '-'],
          `apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: alice-extra, namespace: registry}
spec:
  registryRef: {name: main}
  subjects: [{kind: User, name: alice}]
  repositories: ["extra/**"]
  actions: [pull]
`,
        ),
      async () => (await granted('alice', 'extra/thing')).includes('pull'),
    );
    const after = JSON.parse(await mustKubectl(['get', 'lease', '-n', 'portcullis-system', 'portcullis-operator', '-o', 'json'])) as {
      spec: { holderIdentity: string };
    };
    expect(after.spec.holderIdentity).not.toBe(leader);
  });
});
