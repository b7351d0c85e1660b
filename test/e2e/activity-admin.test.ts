// `portcullis images|tags|delete` with Kubernetes permissions instead of a registry password, end to
// end: the examples on a real kube-apiserver with the front proxy, the operator and a live token server
// (for crane's pushes as ci-bot), `portcullis activity --listen` registered as activity.portcullis.dev
// (the harness of the query API) with deploy/activity/registry-tokens-rbac.yaml applied, and two real
// registries, Distribution v3 and Debian's 2.8, trusting the operator's bundle and reporting to the
// activity intake. People have client-certificate kubeconfigs: an admin (get+delete registryimages in
// `registry`), a viewer (get only), a tenant (bound in team-a, which the Registry delegates team-a/** to)
// and someone with no binding. Every refusal is asserted by what refused it: the 403 Status of the
// kube-apiserver or the activity server, the token's missing action, the registry's own error code.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryToken } from '../../activity/apiserver/registry-token-object.js';
import type { StoredEvent } from '../../activity/event.js';
import { openEventStore } from '../../activity/store/open.js';
import { DistributionClient, RegistryError } from '../../lifecycle/registry-api.js';
import { KubeApiError, KubeClient } from '../../kube/request.js';
import { kubectl, type ControlPlane } from '../../local/controlPlane.js';
import { buildImage, type BuiltImage } from '../../local/image.js';
import { waitFor } from '../../local/process.js';
import { startRegistry, type RegistryFlavor, type RunningRegistry } from '../../local/registry.js';
import { repoRoot } from '../../local/tools.js';
import { readActivityKey } from '../../wire/activity-key.js';
import { notificationToken } from '../../wire/notification-token.js';
import { startActivityApi, type ActivityApi } from '../harness/activity-api.js';
import { craneDigest, cranePull, cranePush, type ClientContext } from '../harness/clients.js';
import { portcullis } from '../harness/portcullis.js';
import { EXAMPLE_PASSWORDS, EXAMPLE_SERVICE, startExampleStack, type Stack } from '../harness/stack.js';

type Person = 'admin' | 'viewer' | 'tina' | 'nobody';
const TOKENS_PATH = (ns: string) => `/apis/activity.portcullis.dev/v1alpha1/namespaces/${ns}/registrytokens`;

let cp: ControlPlane;
let stack: Stack;
let activity: ActivityApi;
let dir: string;
let database: string;
const registries = {} as Record<RegistryFlavor, RunningRegistry>;
const kubeconfigs = {} as Record<Person, string>;
let images: { app: BuiltImage; alpine: BuiltImage; shared: BuiltImage; pulled: BuiltImage };

const ciBot = (): ClientContext => ({ tls: stack.tls, auth: { username: 'ci-bot', password: EXAMPLE_PASSWORDS['ci-bot'] } });
const ref = (flavor: RegistryFlavor, name: string): string => `${registries[flavor].host}/${name}`;

/** `portcullis ARGS --registry registry/main --server <flavor> --ca-file <ca>` as `who`. */
function cli(who: Person, flavor: RegistryFlavor, args: string[]) {
  return portcullis([...args, '--registry', 'registry/main', '--server', registries[flavor].url, '--ca-file', stack.tls.caCertPath], {
    env: { ...process.env, KUBECONFIG: kubeconfigs[who] },
  });
}

/** A KubeClient with `who`'s kubeconfig, to see the Status objects the CLI prints from. */
function clientOf(who: Person): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigs[who]);
  return new KubeClient(kc);
}

async function createToken(who: Person, namespace: string, scopes: string[]): Promise<RegistryToken> {
  const client = clientOf(who);
  try {
    return await client.request<RegistryToken>('POST', TOKENS_PATH(namespace), {
      body: { apiVersion: 'activity.portcullis.dev/v1alpha1', kind: 'RegistryToken', spec: { registry: 'registry/main', scopes } },
    });
  } finally {
    client.close();
  }
}

async function refusedToken(who: Person, namespace: string, scopes: string[]): Promise<KubeApiError> {
  const error = await createToken(who, namespace, scopes).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof KubeApiError)) throw new Error(`expected a refusal, got ${String(error)}`);
  return error;
}

async function trail(filter: (e: StoredEvent) => boolean, what: string): Promise<StoredEvent[]> {
  let found: StoredEvent[] = [];
  await waitFor(
    what,
    async () => {
      const store = await openEventStore(database);
      try {
        found = (await store.query({ registry: 'registry/main', limit: 5000 })).filter(filter);
      } finally {
        await store.close();
      }
      return found.length > 0;
    },
    30_000,
    () => activity.process.output().slice(-3000),
  );
  return found;
}

async function mustKubectl(args: string[], input?: string): Promise<void> {
  const r = await kubectl(cp, args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-activity-admin-'));
  ({ cp, stack } = await startExampleStack({ dir, operatorReplicas: 1 }));
  database = `sqlite:${join(dir, 'events.db')}`;
  activity = await startActivityApi(cp, { dir: join(dir, 'activity'), database });
  await mustKubectl(['apply', '-f', join(repoRoot, 'deploy', 'activity', 'registry-tokens-rbac.yaml')]);
  const intake = /activity events listening on (http:\/\/\S+)/.exec(activity.process.output())?.[1];
  if (intake === undefined) throw new Error(`no events listener in:\n${activity.process.output()}`);
  const token = notificationToken(await readActivityKey(join(dir, 'activity', 'activity.key')), { namespace: 'registry', name: 'main' });
  for (const flavor of ['v3', '2.8'] as const) {
    registries[flavor] = await startRegistry({
      flavor,
      tls: { cert: stack.tls.serverCertPath, key: stack.tls.serverKeyPath },
      auth: { realm: `${stack.tokenUrl}/token`, service: EXAMPLE_SERVICE, issuer: 'portcullis', rootCertBundle: join(dir, 'bundle.pem') },
      notifications: { url: `${intake}/events/registry/main`, token },
    });
  }

  for (const [binding, namespace, role, user] of [
    ['admin-images', 'registry', 'portcullis-registry-images-admin', 'admin'],
    ['viewer-images', 'registry', 'portcullis-registry-images-viewer', 'viewer'],
    ['tina-images', 'team-a', 'portcullis-registry-images-admin', 'tina'],
  ] as const) {
    await mustKubectl(['create', 'rolebinding', binding, '-n', namespace, `--clusterrole=${role}`, `--user=${user}`]);
  }
  for (const who of ['admin', 'viewer', 'tina', 'nobody'] as const) kubeconfigs[who] = (await cp.kubeconfigForUser(who)).path;

  images = {
    app: await buildImage(join(dir, 'img-app')),
    alpine: await buildImage(join(dir, 'img-alpine')),
    shared: await buildImage(join(dir, 'img-shared')),
    pulled: await buildImage(join(dir, 'img-pulled')),
  };
  const pushes: [BuiltImage, string][] = [
    [images.app, 'team-a/app:1'],
    [images.app, 'team-a/app:2'],
    [images.alpine, 'library/alpine:1'],
    [images.shared, 'library/shared:1'],
    [images.shared, 'library/shared:2'],
    [images.pulled, 'team-a/app:pulled'],
  ];
  for (const flavor of ['v3', '2.8'] as const) {
    for (const [image, name] of pushes) {
      const pushed = await cranePush(image.layoutDir, ref(flavor, name), ciBot());
      if (pushed.code !== 0) throw new Error(`push ${name} to ${flavor}: ${pushed.stderr}`);
    }
  }
}, 240_000);

afterAll(async () => {
  for (const r of Object.values(registries)) await r.stop();
  await activity?.stop();
  await stack?.stop();
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('someone allowed get and delete on registryimages in the Registry namespace', () => {
  it('lists the catalog and the tags of a repository', async () => {
    const images_ = await cli('admin', 'v3', ['images']);
    expect(images_.code, images_.stderr).toBe(0);
    expect(images_.stdout.trim().split('\n')).toEqual(['library/alpine', 'library/shared', 'team-a/app']);
    const tags = await cli('admin', 'v3', ['tags', 'team-a/app']);
    expect(tags.code, tags.stderr).toBe(0);
    expect(tags.stdout.trim().split('\n').sort()).toEqual(['1', '2', 'pulled']);
  });

  it('deletes a tag alone on v3: it is gone, the other tag of the digest stays, the trail says who', async () => {
    const deleted = await cli('admin', 'v3', ['delete', 'team-a/app:2', '--yes']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toBe(`deleted tag team-a/app:2; the manifest ${images.app.digest} stays, with any other tags\n`);
    const gone = await craneDigest(ref('v3', 'team-a/app:2'), ciBot());
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/MANIFEST_UNKNOWN/);
    expect((await craneDigest(ref('v3', 'team-a/app:1'), ciBot())).stdout.trim()).toBe(images.app.digest);
    const deletes = await trail((e) => e.action === 'delete' && e.repository === 'team-a/app', 'the tag delete in the trail');
    expect(deletes.map((e) => ({ tag: e.tag, actor: e.actor }))).toEqual([{ tag: '2', actor: 'kubernetes:admin' }]);
  });

  it('on 2.8, a tag sharing its digest with another is refused without --force, naming the other tag; with --force both go', async () => {
    const refused = await cli('admin', '2.8', ['delete', 'library/shared:1', '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`this registry deletes manifests by digest only (Distribution 2.8): deleting library/shared@${images.shared.digest}`);
    expect(refused.stderr).toContain(`${images.shared.digest} is also tagged library/shared:2: deleting 1 deletes the digest, which removes that tag too`);
    expect((await craneDigest(ref('2.8', 'library/shared:1'), ciBot())).stdout.trim()).toBe(images.shared.digest);

    const forced = await cli('admin', '2.8', ['delete', 'library/shared:1', '--yes', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toBe(`deleted library/shared@${images.shared.digest} and its tags 1, 2\n`);
    for (const tag of ['1', '2']) expect((await craneDigest(ref('2.8', `library/shared:${tag}`), ciBot())).stderr).toMatch(/MANIFEST_UNKNOWN/);
    const deletes = await trail((e) => e.action === 'delete' && e.digest === images.shared.digest, 'the digest delete in the trail');
    expect(new Set(deletes.map((e) => e.actor))).toEqual(new Set(['kubernetes:admin']));
  });

  it('a delete by digest names every tag it would remove', async () => {
    const refused = await cli('admin', 'v3', ['delete', `library/shared@${images.shared.digest}`, '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${images.shared.digest} is also tagged library/shared:1, library/shared:2: deleting it removes those tags too`);
  });

  it('an image someone else pulled in the last 15 minutes is refused without --force, naming who and when', async () => {
    const pulled = await cranePull(ref('v3', 'team-a/app:pulled'), join(dir, 'pulled'), ciBot());
    expect(pulled.code, pulled.stderr).toBe(0);
    const [pull] = await trail((e) => e.action === 'pull' && e.digest === images.pulled.digest && e.actor === 'ci-bot', "ci-bot's pull in the trail");
    const refused = await cli('admin', 'v3', ['delete', 'team-a/app:pulled', '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`team-a/app:pulled (${images.pulled.digest}) was pulled in the last 15m by ci-bot at ${pull!.timestamp}`);
    expect((await craneDigest(ref('v3', 'team-a/app:pulled'), ciBot())).stdout.trim()).toBe(images.pulled.digest);
    const forced = await cli('admin', 'v3', ['delete', 'team-a/app:pulled', '--yes', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toContain('(deleting anyway: --force)');
    expect((await craneDigest(ref('v3', 'team-a/app:pulled'), ciBot())).stderr).toMatch(/MANIFEST_UNKNOWN/);
  });
});

describe('a tenant: RBAC in team-a, which the Registry delegates team-a/** to', () => {
  it("lists team-a/app's tags", async () => {
    const tags = await cli('tina', 'v3', ['tags', 'team-a/app', '-n', 'team-a']);
    expect(tags.code, tags.stderr).toBe(0);
    expect(tags.stdout.trim().split('\n')).toContain('1');
  });

  it('gets no token for library/alpine: the activity server answers 403 naming the prefixes, and the CLI prints it', async () => {
    const error = await refusedToken('tina', 'team-a', ['repository:library/alpine:pull,delete']);
    expect(error.code).toBe(403);
    expect(error.reason).toBe('Forbidden');
    expect(error.message).toContain(
      'User "tina" in namespace "team-a" gets no access to Registry registry/main: repository:library/alpine:pull,delete: ' +
        'repository "library/alpine" is outside the prefixes Registry registry/main delegates to namespace team-a: "team-a/**"',
    );
    for (const args of [
      ['tags', 'library/alpine'],
      ['delete', 'library/alpine:1', '--yes'],
    ]) {
      const r = await cli('tina', 'v3', [...args, '-n', 'team-a']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('outside the prefixes Registry registry/main delegates to namespace team-a');
    }
    expect((await craneDigest(ref('v3', 'library/alpine:1'), ciBot())).stdout.trim()).toBe(images.alpine.digest);
  });

  it("the registry refuses the tenant's token outside what it carries", async () => {
    const { status } = await createToken('tina', 'team-a', ['repository:team-a/app:pull']);
    const registry = new DistributionClient({ server: registries.v3.url, token: status.token, ca: await readFile(stack.tls.caCertPath) });
    try {
      const error = await registry.tags('library/alpine').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RegistryError);
      expect(error).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    } finally {
      registry.close();
    }
  });

  it('is told the catalog is not for a delegated namespace, and sees the repositories of its own trail', async () => {
    const r = await cli('tina', 'v3', ['images', '-n', 'team-a']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('namespace team-a is delegated by Registry registry/main: the catalog lists every repository');
    expect(r.stdout.trim().split('\n')).toEqual(['team-a/app']);
    expect((await refusedToken('tina', 'team-a', ['registry:catalog:*'])).message).toContain("it is given only in the Registry's own namespace");
  });
});

describe('someone with get only', () => {
  it('gets a token without delete, and neither the CLI nor the registry deletes with it', async () => {
    const { status } = await createToken('viewer', 'registry', ['repository:library/alpine:pull,delete']);
    expect(status.access).toEqual([{ type: 'repository', name: 'library/alpine', actions: ['pull'] }]);
    expect(status.withheld).toEqual([
      { scope: 'repository:library/alpine:pull,delete', reason: 'pull on repository "library/alpine"; withheld: delete needs delete on registryimages' },
    ]);
    const r = await cli('viewer', 'v3', ['delete', 'library/alpine:1', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refused: the token for library/alpine carries no delete: pull on repository "library/alpine"; withheld: delete needs delete');
    const registry = new DistributionClient({ server: registries.v3.url, token: status.token, ca: await readFile(stack.tls.caCertPath) });
    try {
      const error = await registry.deleteManifest('library/alpine', images.alpine.digest).catch((e: unknown) => e);
      expect(error).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    } finally {
      registry.close();
    }
    expect((await craneDigest(ref('v3', 'library/alpine:1'), ciBot())).stdout.trim()).toBe(images.alpine.digest);
  });
});

describe('refusals before any token', () => {
  it('someone with no RBAC is refused by the kube-apiserver (403), and the CLI says so', async () => {
    const error = await refusedToken('nobody', 'registry', ['repository:library/alpine:pull']);
    expect(error.code).toBe(403);
    expect(error.reason).toBe('Forbidden');
    expect(error.message).toContain('User "nobody" cannot create resource "registrytokens" in API group "activity.portcullis.dev" in the namespace "registry"');
    const r = await cli('nobody', 'v3', ['tags', 'library/alpine']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('forbidden: registrytokens.activity.portcullis.dev is forbidden: User "nobody" cannot create resource "registrytokens"');
  });

  it('the activity port itself believes no X-Remote-User from a cluster client certificate (401)', async () => {
    const user = await cp.kubeconfigForUser('mallory');
    const [cert, key] = await Promise.all([readFile(user.certPath), readFile(user.keyPath)]);
    const body = JSON.stringify({
      apiVersion: 'activity.portcullis.dev/v1alpha1',
      kind: 'RegistryToken',
      spec: { registry: 'registry/main', scopes: ['registry:catalog:*'] },
    });
    const answer = await new Promise<{ status: number; body: { reason?: string; message?: string } }>((resolve, reject) => {
      const req = request(
        `${activity.apiUrl}${TOKENS_PATH('registry')}`,
        {
          method: 'POST',
          ca: activity.caCert,
          servername: activity.serverName,
          cert,
          key,
          headers: { 'content-type': 'application/json', 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { reason?: string; message?: string } }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(answer.status).toBe(401);
    expect(answer.body.reason).toBe('Unauthorized');
  });

  it('a registry with deletion turned off: UNSUPPORTED, printed with what it means', async () => {
    // On 2.8: v3.0.0 deletes a tag alone even with storage.delete.enabled false (only digests answer
    // UNSUPPORTED there), so this registry setting does not stop tag deletes on v3.
    await registries['2.8'].restart({ deleteEnabled: false });
    try {
      // --force: ci-bot pulled library/alpine:1 a moment ago, which is not what this test is about.
      const r = await cli('admin', '2.8', ['delete', 'library/alpine:1', '--yes', '--force']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('the registry refused: DELETE library/alpine:1: UNSUPPORTED: The operation is unsupported. (HTTP 405)');
      expect(r.stderr).toContain('the registry has deletion turned off');
      expect((await craneDigest(ref('2.8', 'library/alpine:1'), ciBot())).stdout.trim()).toBe(images.alpine.digest);
    } finally {
      await registries['2.8'].restart({ deleteEnabled: true });
    }
  });
});
