// Pods pull as their own ServiceAccount: the operator and the live token server under deploy/rbac plus
// deploy/identity (TokenReview), the Registry accepting ServiceAccount tokens, a grant naming a
// ServiceAccount, and a token bound to a Pod as `kubectl create token --bound-object-kind Pod` mints it (the
// kubelet mints the same for its credential provider). The token works while the Pod exists and stops
// within the cache TTL once it is deleted; a delegated namespace cannot name another namespace's account.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, type ControlPlane } from '../../local/controlPlane.js';
import { httpsRequest } from '../../local/https.js';
import { waitFor } from '../../local/process.js';
import { repoRoot } from '../../local/tools.js';
import { craneDigest, cranePush, registryRefusal, type ClientContext } from '../harness/clients.js';
import { buildImage, type BuiltImage } from '../../local/image.js';
import { portcullis } from '../harness/portcullis.js';
import { EXAMPLE_SERVICE, startExampleStack, type Stack } from '../harness/stack.js';

const WORKLOADS = `apiVersion: v1
kind: ServiceAccount
metadata: {name: builder, namespace: team-a}
---
apiVersion: v1
kind: Pod
metadata: {name: builder, namespace: team-a}
spec:
  serviceAccountName: builder
  containers: [{name: app, image: registry.example.com/team-a/app:latest}]
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: deployer, namespace: team-b}
---
apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: builder-publish, namespace: team-a}
spec:
  registryRef: {name: main, namespace: registry}
  subjects: [{kind: ServiceAccount, name: builder}]
  repositories: ["team-a/**"]
  actions: [pull, push]
---
apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: lend-to-team-b, namespace: team-a}
spec:
  registryRef: {name: main, namespace: registry}
  subjects: [{kind: ServiceAccount, name: deployer, namespace: team-b}]
  repositories: ["team-a/**"]
  actions: [pull]
`;

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

describe('ServiceAccount identities e2e (TokenReview, bound tokens, the credential provider)', () => {
  let dir: string;
  let cp: ControlPlane;
  let stack: Stack;
  let image: BuiltImage;
  let podToken: string;
  const ref = (repo: string) => `${stack.registry.host}/${repo}:latest`;
  const withPassword = (password: string): ClientContext => ({ tls: stack.tls, auth: { username: 'pod', password } });

  async function mustKubectl(args: string[], input?: string): Promise<string> {
    const r = await kubectl(cp, args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }
  const createToken = async (audience: string, boundToPod: boolean): Promise<string> =>
    (
      await mustKubectl([
        'create',
        'token',
        'builder',
        '-n',
        'team-a',
        '--audience',
        audience,
        '--duration',
        '10m',
        ...(boundToPod ? ['--bound-object-kind', 'Pod', '--bound-object-name', 'builder'] : []),
      ])
    ).trim();
  const tokenAnswer = async (token: string) => {
    const auth = Buffer.from(`pod:${token}`).toString('base64');
    return httpsRequest(`${stack.tokenUrl}/token?service=${EXAMPLE_SERVICE}&scope=repository:team-a/app:pull,push`, await readFile(stack.tls.caCertPath), {
      headers: { authorization: `Basic ${auth}` },
    });
  };
  const conditions = async (kind: string, namespace: string, name: string): Promise<Condition[]> => {
    const object = JSON.parse(await mustKubectl(['get', kind, name, '-n', namespace, '-o', 'json'])) as { status?: { conditions?: Condition[] } };
    return object.status?.conditions ?? [];
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-sa-e2e-'));
    ({ cp, stack } = await startExampleStack({ dir, operatorReplicas: 1 }));
    await mustKubectl(['apply', '-f', join(repoRoot, 'deploy', 'identity', 'service-account-logins.yaml')]);
    await mustKubectl([
      'patch',
      'registry',
      'main',
      '-n',
      'registry',
      '--type',
      'merge',
      '-p',
      '{"spec":{"authentication":{"serviceAccounts":{"cacheTTL":"1s"}}}}',
    ]);
    await mustKubectl(['apply', '-f', '-'], WORKLOADS);
    image = await buildImage(join(dir, 'image'));
    podToken = await createToken(EXAMPLE_SERVICE, true);
    await waitFor(
      'the token server to accept the pod token',
      async () => (await stack.granted('pod', podToken, 'team-a/app')).includes('push'),
      60_000,
      () => stack.logs(),
    );
  });
  afterAll(async () => {
    await stack?.stop();
    await cp?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a pod-bound RS256 token past 1 KB (long pod and node names) logs in: a token is a password', async () => {
    const pod = `builder-${'x'.repeat(40)}-7f9c8d6b5-x2k4z`;
    await mustKubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: pod, namespace: 'team-a' },
        spec: { serviceAccountName: 'builder', nodeName: `node-${'n'.repeat(40)}.cluster.internal`, containers: [{ name: 'app', image: 'x' }] },
      }),
    );
    const token = (
      await mustKubectl(['create', 'token', 'builder', '-n', 'team-a', '--audience', EXAMPLE_SERVICE, '--bound-object-kind', 'Pod', '--bound-object-name', pod])
    ).trim();
    expect(token.length).toBeGreaterThan(1024);
    // Before: 400, the Authorization header refused as malformed (passwords were at most 1,024 characters).
    expect(await stack.granted('pod', token, 'team-a/app')).toEqual(['pull', 'push']);
  });

  it('crane pushes and pulls with the pod token as its password, within the grant only', async () => {
    const pushed = await cranePush(image.layoutDir, ref('team-a/app'), withPassword(podToken));
    expect(pushed.code, pushed.stderr).toBe(0);
    expect((await craneDigest(ref('team-a/app'), withPassword(podToken))).stdout.trim()).toBe(image.digest);
    const outside = await cranePush(image.layoutDir, ref('team-b/app'), withPassword(podToken));
    expect(registryRefusal(outside), outside.stderr).toBe('UNAUTHORIZED');
    const library = await cranePush(image.layoutDir, ref('library/alpine'), withPassword(podToken));
    expect(registryRefusal(library), library.stderr).toBe('UNAUTHORIZED');
  });

  it('a delegated namespace cannot name another namespace’s ServiceAccount', async () => {
    await waitFor(
      'lend-to-team-b to be refused',
      async () => (await conditions('repositorygrant', 'team-a', 'lend-to-team-b')).some((c) => c.type === 'Ready' && c.status === 'False'),
      30_000,
      () => stack.logs(),
    );
    const ready = (await conditions('repositorygrant', 'team-a', 'lend-to-team-b')).find((c) => c.type === 'Ready');
    expect(ready?.reason).toBe('ForeignServiceAccount');
    expect(ready?.message).toContain('team-b');
    // ...and the grant it asked for gives team-b's account nothing.
    const deployerToken = (await mustKubectl(['create', 'token', 'deployer', '-n', 'team-b', '--audience', EXAMPLE_SERVICE])).trim();
    const answer = await tokenAnswer(deployerToken);
    expect(answer.status).toBe(200);
    const claims = JSON.parse(Buffer.from((JSON.parse(answer.text) as { token: string }).token.split('.')[1]!, 'base64url').toString()) as {
      sub: string;
      access: unknown[];
    };
    expect(claims.sub).toBe('system:serviceaccount:team-b:deployer');
    expect(claims.access).toEqual([]);
  });

  it('refuses a token minted for another audience, as the registry refuses any bad password', async () => {
    const other = await createToken('https://kubernetes.default.svc', false);
    const answer = await tokenAnswer(other);
    expect(answer.status).toBe(401);
    expect((JSON.parse(answer.text) as { errors: { code: string }[] }).errors[0]!.code).toBe('UNAUTHORIZED');
    const pushed = await cranePush(image.layoutDir, ref('team-a/app'), withPassword(other));
    expect(registryRefusal(pushed), pushed.stderr).toBe('UNAUTHORIZED');
  });

  it('portcullis credential-provider turns the kubelet request into credentials crane pulls with', async () => {
    const request = {
      apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
      kind: 'CredentialProviderRequest',
      image: ref('team-a/app'),
      serviceAccountToken: podToken,
      serviceAccountAnnotations: {},
    };
    const run = await portcullis(['credential-provider', '--registry', stack.registry.host], { input: JSON.stringify(request) });
    expect(run.code, run.stderr).toBe(0);
    const response = JSON.parse(run.stdout) as { kind: string; auth: Record<string, { username: string; password: string }>; cacheDuration: string };
    expect(response.kind).toBe('CredentialProviderResponse');
    const credentials = response.auth[stack.registry.host]!;
    expect(credentials.password).toBe(podToken);
    const pulled = await craneDigest(ref('team-a/app'), { tls: stack.tls, auth: credentials });
    expect(pulled.stdout.trim(), pulled.stderr).toBe(image.digest);
    // Asked about another registry's image, it answers with no credentials: the token goes to nobody else.
    const elsewhere = await portcullis(['credential-provider', '--registry', stack.registry.host], {
      input: JSON.stringify({ ...request, image: 'ghcr.io/someone/app:1' }),
    });
    expect(elsewhere.code, elsewhere.stderr).toBe(0);
    expect((JSON.parse(elsewhere.stdout) as { auth: object }).auth).toEqual({});
    expect(elsewhere.stdout).not.toContain(podToken.split('.')[2]!);
  });

  it('a token bound to a deleted pod stops working within the cache TTL', async () => {
    expect((await tokenAnswer(podToken)).status).toBe(200);
    await mustKubectl(['delete', 'pod', 'builder', '-n', 'team-a', '--grace-period=0', '--force', '--wait=true']);
    const deletedAt = Date.now();
    await waitFor(
      'the pod token to be refused',
      async () => (await tokenAnswer(podToken)).status === 401,
      15_000,
      () => stack.logs(),
    );
    process.stdout.write(`[measured] pod deleted to its token refused: ${Date.now() - deletedAt} ms (cacheTTL 1s)\n`);
    const pushed = await cranePush(image.layoutDir, ref('team-a/app'), withPassword(podToken));
    expect(registryRefusal(pushed), pushed.stderr).toBe('UNAUTHORIZED');
  });

  it('an LDAP bind Secret that does not exist leaves the Registry Ready=False until it is created', async () => {
    const ldap = {
      url: 'ldaps://ldap.invalid:636',
      bindDN: 'cn=portcullis,dc=example,dc=org',
      bindPasswordSecretRef: { name: 'ldap-bind', key: 'password' },
      userSearch: { baseDN: 'ou=people,dc=example,dc=org' },
    };
    await mustKubectl(['patch', 'registry', 'main', '-n', 'registry', '--type', 'merge', '-p', JSON.stringify({ spec: { authentication: { ldap } } })]);
    await waitFor(
      'the Registry to report the missing Secret',
      async () => (await conditions('registry', 'registry', 'main')).some((c) => c.type === 'Ready' && c.status === 'False' && c.reason === 'SecretNotFound'),
      30_000,
      () => stack.logs(),
    );
    await mustKubectl(['create', 'secret', 'generic', 'ldap-bind', '-n', 'registry', '--from-literal=password=Bind-Secret-Value-93k']);
    await waitFor(
      'the Registry to be Ready again',
      async () => (await conditions('registry', 'registry', 'main')).some((c) => c.type === 'Ready' && c.status === 'True'),
      30_000,
      () => stack.logs(),
    );
    // The bind password went to the token server's Secret, never into a ConfigMap.
    const configMaps = await mustKubectl(['get', 'configmaps', '-n', 'registry', '-o', 'json']);
    expect(configMaps).not.toContain('Bind-Secret-Value-93k');
  });
});
