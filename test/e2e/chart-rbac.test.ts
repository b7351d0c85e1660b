// The chart's RBAC and ServiceAccounts, end to end: rendered by helm for a release in the Registry's
// namespace, applied to a real API server, and the operator and token server run under exactly
// those accounts while crane pushes and pulls as the examples grant.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { craneDigest, cranePush, registryRefusal } from '../harness/clients.js';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { buildImage } from '../../local/image.js';
import { run, waitFor } from '../../local/process.js';
import { EXAMPLE_PASSWORDS, startStack, type Stack } from '../harness/stack.js';
import { repoRoot, toolPath } from '../../local/tools.js';

const RELEASE_NAMESPACE = 'registry';

describe('the chart RBAC, end to end', () => {
  let cp: ControlPlane;
  let dir: string;
  let stack: Stack;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-chart-rbac-'));
    cp = await startControlPlane();
    const must = async (args: string[], input?: string): Promise<string> => {
      const r = await kubectl(cp, args, input);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    await must(['apply', '-k', join(repoRoot, 'crds')]);
    await must(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
    await must(['apply', '-f', join(repoRoot, 'examples', '00-namespaces.yaml')]);
    const rendered = await run(toolPath('helm'), [
      'template',
      'portcullis',
      join(repoRoot, 'charts', 'portcullis'),
      '-n',
      RELEASE_NAMESPACE,
      '--set',
      'crds.enabled=false',
      '--set',
      'registryResource.create=false',
      '--show-only',
      'templates/serviceaccounts.yaml',
      '--show-only',
      'templates/operator-rbac.yaml',
      '--show-only',
      'templates/token-server-rbac.yaml',
      '--show-only',
      'templates/retention-rbac.yaml',
    ]);
    expect(rendered.code, rendered.stderr).toBe(0);
    await must(['apply', '--server-side', '-f', '-'], rendered.stdout);
    const accounts = JSON.parse(await must(['get', 'serviceaccounts', '-n', RELEASE_NAMESPACE, '-o', 'json'])) as { items: { metadata: { name: string } }[] };
    const name = (part: string) => accounts.items.map((a) => a.metadata.name).find((n) => n.includes(part));
    const operatorAccount = name('operator');
    const tokenAccount = name('token-server');
    expect(operatorAccount).toBeDefined();
    expect(tokenAccount).toBeDefined();
    stack = await startStack({
      cp,
      dir,
      operatorKubeconfig: (await cp.kubeconfigForServiceAccount(RELEASE_NAMESPACE, operatorAccount!)).path,
      tokenServerKubeconfig: (await cp.kubeconfigForServiceAccount(RELEASE_NAMESPACE, tokenAccount!)).path,
      leaseNamespace: RELEASE_NAMESPACE,
      operatorReplicas: 1,
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await cp?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('operator and token server under the chart accounts: crane pushes and pulls as granted', async () => {
    const alice = { tls: stack.tls, auth: { username: 'alice', password: EXAMPLE_PASSWORDS.alice } };
    const bob = { tls: stack.tls, auth: { username: 'bob', password: EXAMPLE_PASSWORDS.bob } };
    const image = await buildImage(join(dir, 'img'));
    const ref = `${stack.registry.host}/team-a/app:1`;
    const pushed = await cranePush(image.layoutDir, ref, alice);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect((await craneDigest(ref, alice)).stdout.trim()).toBe(image.digest);
    const refused = await cranePush(image.layoutDir, ref, bob);
    expect(registryRefusal(refused), refused.stderr).toBe('UNAUTHORIZED');
    // the operator could write every status under its chart role
    const users = JSON.parse((await kubectl(cp, ['get', 'registryusers', '-A', '-o', 'json'])).stdout) as {
      items: { status?: { conditions?: { type: string; status: string }[] } }[];
    };
    expect(users.items.every((u) => u.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))).toBe(true);
    expect(stack.logs()).not.toMatch(/forbidden/i);
  });

  it('the operator under its chart role schedules a RetentionPolicy: it may bind the retention ClusterRole', async () => {
    const policy = {
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'RetentionPolicy',
      metadata: { name: 'nightly', namespace: 'registry' },
      spec: { registryRef: { name: 'main' }, repositories: ['**'], rules: { keepTags: ['*'] }, schedule: '0 3 * * *' },
    };
    const created = await kubectl(cp, ['apply', '-f', '-'], JSON.stringify(policy));
    expect(created.code, created.stderr).toBe(0);
    await waitFor(
      'the retention CronJob',
      async () => (await kubectl(cp, ['get', 'cronjob', 'portcullis-retention-nightly', '-n', 'registry'])).code === 0,
      30_000,
    );
    const binding = JSON.parse((await kubectl(cp, ['get', 'rolebinding', 'portcullis-retention', '-n', 'registry', '-o', 'json'])).stdout) as {
      roleRef: { name: string };
    };
    expect(binding.roleRef.name).toBe('portcullis-retention');
    expect(stack.logs()).not.toMatch(/forbidden/i);
  });
});
