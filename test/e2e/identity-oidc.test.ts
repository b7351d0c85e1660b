// OIDC federation end to end with a real issuer: the kube-apiserver's ServiceAccount issuer serves
// discovery and a key set, as GitHub's or GitLab's does, and `kubectl create token` mints the CI token.
// crane logs in with any username and the JWT as the password. Every forgery a token server must refuse is
// tried against it: the wrong audience, a token the claim condition excludes, an expired one, one signed
// by another key under the issuer's kid, `alg: none`, and HS256 with the issuer's public key as the secret;
// all from the address genuine clients use, which must not lock them out. The Registry says
// `registryUsers: false`, and a RegistryUser's own password gets her nothing.
import { createPrivateKey, createSecretKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader, SignJWT, UnsecuredJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { httpsRequest } from '../../local/https.js';
import type { RunningRegistry } from '../../local/registry.js';
import { createTestTLS, type TestTLS } from '../../local/tls.js';
import { craneDigest, cranePush, registryRefusal, type ClientContext } from '../harness/clients.js';
import { buildImage, type BuiltImage } from '../../local/image.js';
import { startCompiledSetup, type CompiledSetup, type RunningTokenServer } from '../harness/portcullis.js';
import { leakedParts } from '../support/assert.js';
import { indentedPem } from '../support/yaml-text.js';

const SERVICE = 'registry.oidc.test';
const ALICE_PASSWORD = 'alice-registry-password';

const DISCOVERY_FOR_ANONYMOUS = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: oidc-discovery-anonymous}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:service-account-issuer-discovery}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:unauthenticated}]
---
apiVersion: v1
kind: Namespace
metadata: {name: ci}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: builder, namespace: ci}
---
apiVersion: v1
kind: Namespace
metadata: {name: elsewhere}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: builder, namespace: elsewhere}
`;

function manifests(issuer: string, caPem: string): string {
  const ca = indentedPem(caPem, 10);
  return `apiVersion: portcullis.dev/v1alpha1
kind: Registry
metadata: {name: main, namespace: registry}
spec:
  service: ${SERVICE}
  authentication:
    registryUsers: false
    oidc:
      - issuer: ${issuer}
        certificateAuthority: |
${ca}
        audiences: [${SERVICE}]
        algorithms: [ES256, RS256]
        username: {claim: sub, prefix: "k8s:"}
        conditions:
          - expression: 'claims["kubernetes.io"].namespace == "ci"'
            message: only the ci namespace publishes
---
apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: ci-publish, namespace: registry}
spec:
  registryRef: {name: main}
  subjects: [{kind: User, name: "k8s:system:serviceaccount:ci:builder"}]
  repositories: ["ci/**"]
  actions: [pull, push]
---
apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: elsewhere-publish, namespace: registry}
spec:
  registryRef: {name: main}
  subjects: [{kind: User, name: "k8s:system:serviceaccount:elsewhere:builder"}]
  repositories: ["ci/**"]
  actions: [pull, push]
---
# A RegistryUser of a Registry that says registryUsers: false: her password must get her nothing.
apiVersion: v1
kind: Secret
metadata: {name: alice-password, namespace: registry}
stringData: {password: ${ALICE_PASSWORD}}
---
apiVersion: portcullis.dev/v1alpha1
kind: RegistryUser
metadata: {name: alice, namespace: registry}
spec:
  registryRef: {name: main}
  passwordSecretRef: {name: alice-password}
  groups: [publishers]
---
apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: publishers, namespace: registry}
spec:
  registryRef: {name: main}
  subjects: [{kind: Group, name: publishers}]
  repositories: ["ci/**"]
  actions: [pull, push]
`;
}

describe('OIDC identity source e2e (kube-apiserver as the issuer)', () => {
  let dir: string;
  let cp: ControlPlane;
  let tls: TestTLS;
  let ca: string;
  let setup: CompiledSetup;
  let server: RunningTokenServer;
  let registry: RunningRegistry;
  let image: BuiltImage;
  let good: string;
  const ref = (repo: string) => `${registry.host}/${repo}:latest`;
  const withToken = (jwt: string): ClientContext => ({ tls, auth: { username: 'ci', password: jwt } });
  const tokenRequest = (jwt: string) =>
    httpsRequest(`${server.url}/token?service=${SERVICE}&scope=repository:ci/app:pull,push`, ca, {
      headers: { authorization: `Basic ${Buffer.from(`anything:${jwt}`).toString('base64')}` },
    });
  const createToken = async (namespace: string, audience: string): Promise<string> => {
    const r = await kubectl(cp, ['create', 'token', 'builder', '-n', namespace, '--audience', audience, '--duration', '10m']);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim();
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-oidc-e2e-'));
    cp = await startControlPlane();
    const applied = await kubectl(cp, ['apply', '-f', '-'], DISCOVERY_FOR_ANONYMOUS);
    expect(applied.code, applied.stderr).toBe(0);
    tls = await createTestTLS(join(dir, 'tls'));
    ca = await readFile(tls.caCertPath, 'utf8');
    setup = await startCompiledSetup(dir, manifests(cp.server, await readFile(cp.caCertPath, 'utf8')), SERVICE, tls);
    ({ server, registry } = setup);
    image = await buildImage(join(dir, 'image'));
    good = await createToken('ci', SERVICE);
  });
  afterAll(async () => {
    await setup?.stop();
    await cp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('crane pushes with the CI token as its password, within the grant only', async () => {
    const pushed = await cranePush(image.layoutDir, ref('ci/app'), withToken(good));
    expect(pushed.code, pushed.stderr).toBe(0);
    const outside = await cranePush(image.layoutDir, ref('other/app'), withToken(good));
    expect(registryRefusal(outside), outside.stderr).toBe('UNAUTHORIZED');
  });

  it('POST /token (grant_type=password, as containerd asks) takes the JWT too, and never answers with a refresh token', async () => {
    const post = (password: string) =>
      httpsRequest(`${server.url}/token`, ca, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'password',
          service: SERVICE,
          client_id: 'ci',
          access_type: 'offline',
          username: 'post-client',
          password,
          scope: 'repository:ci/app:pull,push',
        }).toString(),
      });
    const ok = await post(good);
    expect(ok.status, ok.text).toBe(200);
    const body = JSON.parse(ok.text) as { access_token: string; refresh_token?: string };
    expect(body.refresh_token).toBeUndefined();
    const claims = decodeJwt(body.access_token) as { sub: string; access: { actions: string[] }[] };
    expect(claims.sub).toBe('k8s:system:serviceaccount:ci:builder');
    expect(claims.access[0]!.actions.sort()).toEqual(['pull', 'push']);
    // A token that is no JWT of this issuer is refused over POST as over GET.
    const refusedPost = await post(`${good.split('.')[0]}.e30.${good.split('.')[2]}`);
    expect(refusedPost.status).toBe(401);
    expect((JSON.parse(refusedPost.text) as { errors: { code: string }[] }).errors[0]!.code).toBe('UNAUTHORIZED');
  });

  /** Signs `claims` as a forger would, under the issuer's own key id. */
  async function forged(mutate: (claims: JWTPayload) => JWTPayload, key: 'issuer' | 'other'): Promise<string> {
    const header = decodeProtectedHeader(good);
    const claims = mutate({ ...decodeJwt(good) });
    const signingKey =
      key === 'issuer'
        ? createPrivateKey(await readFile(cp.serviceAccountSigningKeyPath, 'utf8'))
        : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    return new SignJWT(claims).setProtectedHeader({ alg: header.alg!, kid: header.kid! }).sign(signingKey);
  }

  it('refuses every forgery alike, and a forged token gets crane nothing', async () => {
    const now = Math.floor(Date.now() / 1000);
    const jwks = JSON.parse((await httpsRequest(`${cp.server}/openid/v1/jwks`, await readFile(cp.caCertPath, 'utf8'))).text) as { keys: object[] };
    const publicJwk = JSON.stringify(jwks.keys[0]);
    const hs256 = (secret: string) =>
      new SignJWT(decodeJwt(good)).setProtectedHeader({ alg: 'HS256', kid: decodeProtectedHeader(good).kid! }).sign(createSecretKey(Buffer.from(secret)));
    const forgeries: [string, string][] = [
      ['the wrong audience', await createToken('ci', 'someone-else')],
      ['a namespace the condition excludes', await createToken('elsewhere', SERVICE)],
      ['an expired token, signed by the issuer', await forged((c) => ({ ...c, iat: now - 900, nbf: now - 900, exp: now - 120 }), 'issuer')],
      ['a token not yet valid', await forged((c) => ({ ...c, nbf: now + 600 }), 'issuer')],
      ['a token without an expiry', await forged(({ exp: _exp, ...c }) => c, 'issuer')],
      ['another key under the issuer kid', await forged((c) => c, 'other')],
      ['alg none', new UnsecuredJWT(decodeJwt(good)).encode()],
      ['HS256 with the public key as the secret', await hs256(publicJwk)],
      ['another issuer', await forged((c) => ({ ...c, iss: 'https://evil.example' }), 'issuer')],
      [
        'a tampered subject',
        `${good.split('.')[0]}.${Buffer.from(JSON.stringify({ ...decodeJwt(good), sub: 'system:serviceaccount:ci:admin' })).toString('base64url')}.${good.split('.')[2]}`,
      ],
    ];
    // Everything comes from the one address the genuine clients use: a refusal counts against the address
    // only, never against a budget every user of the issuer there shares (10 forgeries used to spend it).
    const craneForgery = await forged((c) => ({ ...c, sub: 'system:serviceaccount:ci:crane-forger' }), 'other');
    const forgedPull = await craneDigest(ref('ci/app'), withToken(craneForgery));
    expect(registryRefusal(forgedPull), forgedPull.stderr).toBe('UNAUTHORIZED');
    const answers = await Promise.all(forgeries.map(([, jwt]) => tokenRequest(jwt)));
    for (const [i, answer] of answers.entries()) {
      expect(answer.status, forgeries[i]![0]).toBe(401);
      expect(answer.text, forgeries[i]![0]).toBe(answers[0]!.text);
    }
    // After all that, from the same address, a genuine token never seen before (so not cached) gets its push.
    const fresh = await tokenRequest(await createToken('ci', SERVICE));
    expect(fresh.status, fresh.text).toBe(200);
    const access = (decodeJwt((JSON.parse(fresh.text) as { token: string }).token) as { access: { actions: string[] }[] }).access;
    expect(access[0]!.actions.sort()).toEqual(['pull', 'push']);
  });

  it('registryUsers: false: a RegistryUser with her right password is refused as an unknown name is', async () => {
    const basicRequest = (user: string, password: string) =>
      httpsRequest(`${server.url}/token?service=${SERVICE}&scope=repository:ci/app:pull,push`, ca, {
        headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
      });
    const alice = await basicRequest('alice', ALICE_PASSWORD);
    const unknown = await basicRequest('nobody', ALICE_PASSWORD);
    expect(alice.status, alice.text).toBe(401);
    expect(JSON.parse(alice.text)).toMatchObject({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication failed: invalid username or password' }] });
    expect(alice.text).toBe(unknown.text);
    const pushed = await cranePush(image.layoutDir, ref('ci/alice'), { tls, auth: { username: 'alice', password: ALICE_PASSWORD } });
    expect(registryRefusal(pushed), pushed.stderr).toBe('UNAUTHORIZED');
  });

  it('never writes a token into its logs', async () => {
    // Stopped first: SIGTERM flushes the batched audit lines, so every line written is read here.
    await server.process.stop();
    const output = server.process.output();
    expect(output).toContain('"audit":"refused"');
    expect(leakedParts(output, good.split('.')[2]!, 12)).toEqual([]);
    expect(leakedParts(output, good.split('.')[1]!, 24)).toEqual([]);
  });
});
