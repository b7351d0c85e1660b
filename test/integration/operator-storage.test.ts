// The operator wires Registry.spec.storage into the registry Deployment, against a real API server and
// with only the permissions deploy/rbac/operator.yaml grants: S3 settings as REGISTRY_STORAGE_* values
// and the keys as secretKeyRefs, a filesystem claim as a volume and mount; the user's own env, volumes
// and mounts untouched; a missing credentials Secret, key or claim applies nothing and says why on the
// Registry; removing spec.storage takes the wiring back; the API server refuses a storage with two
// drivers or credentials in the endpoint URL; the secret values reach no Deployment, ConfigMap, Event,
// status or log line. That the variables switch real registries to S3 is test/integration/registry-s3.test.ts.
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition, RegistryStorage } from '../../crds/types.js';
import { startOperator, type RunningOperator } from '../../operator/main.js';
import { deployments, type Deployment } from '../../operator/controllers/deployment.js';
import { KubeClient, objectPath, Resources } from '../../kube/request.js';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { waitFor } from '../../local/process.js';
import { leakedParts } from '../support/assert.js';

const NS = 'registry';
const API = 'portcullis.dev/v1alpha1';
const ACCESS_KEY = `AK${randomBytes(9).toString('hex').toUpperCase()}`;
const SECRET_KEY = randomBytes(30).toString('base64url');

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface PodSpec {
  containers: { name: string; env?: EnvVar[]; volumeMounts?: { name: string; mountPath: string }[] }[];
  volumes?: { name: string; emptyDir?: object; persistentVolumeClaim?: { claimName: string } }[];
}

let cp: ControlPlane;
let admin: KubeClient;
let operatorKc: KubeConfig;
let operator: RunningOperator | undefined;
const logLines: string[] = [];
const log = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });

const USER_ENV: EnvVar[] = [
  { name: 'REGISTRY_LOG_LEVEL', value: 'warn' },
  { name: 'REGISTRY_HTTP_SECRET', valueFrom: { secretKeyRef: { name: 'http-secret', key: 'secret' } } },
];

/** A user's Deployment with env, a volume and a mount of its own (at Distribution's default path). */
const userDeployment = (name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: NS },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        containers: [{ name: 'registry', image: 'registry:3.0.0', env: USER_ENV, volumeMounts: [{ name: 'data', mountPath: '/var/lib/registry' }] }],
        volumes: [{ name: 'data', emptyDir: {} }],
      },
    },
  },
});

const S3_STORAGE: RegistryStorage = {
  s3: {
    bucket: 'images',
    region: 'us-east-1',
    endpoint: 'http://seaweedfs.storage.svc:8333',
    forcePathStyle: true,
    rootDirectory: '/registry',
    credentialsSecretRef: { name: 's3-credentials' },
  },
};

const deployment = (name: string): Promise<Deployment> => admin.get<Deployment>(objectPath(deployments, NS, name));
const podSpec = (d: Deployment): PodSpec => d.spec!.template!.spec as unknown as PodSpec;
const registryEnv = (d: Deployment): EnvVar[] => podSpec(d).containers[0]!.env ?? [];
const storageEnv = (d: Deployment): Record<string, unknown> =>
  Object.fromEntries(registryEnv(d).flatMap((e) => (e.name.startsWith('REGISTRY_STORAGE') ? [[e.name, e.value ?? e.valueFrom]] : [])));

async function wired(name: string): Promise<Condition | undefined> {
  const r = await admin.get<{ status?: { conditions?: Condition[] } }>(objectPath(Resources.registries, NS, name));
  return r.status?.conditions?.find((c) => c.type === 'DistributionWired');
}

async function apply(args: string[], input?: string): Promise<void> {
  const r = await kubectl(cp, args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
}

const create = (path: string, body: unknown): Promise<unknown> => admin.request('POST', path, { body });
const registryBody = (name: string, storage: RegistryStorage): unknown => ({
  apiVersion: API,
  kind: 'Registry',
  metadata: { name, namespace: NS },
  spec: { service: `${name}.example.com`, distribution: { deployment: `registry-${name}` }, storage },
});

beforeAll(async () => {
  cp = await startControlPlane();
  admin = new KubeClient(cp.kubeConfig);
  await apply(['apply', '-k', 'crds/']);
  await apply(['wait', '--for=condition=Established', '--timeout=60s', 'crd/registries.portcullis.dev']);
  await create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  await apply(['apply', '-f', 'deploy/rbac/operator.yaml']);
  operatorKc = (await cp.kubeconfigForServiceAccount('portcullis-system', 'portcullis-operator')).kubeConfig;
  await create(`/api/v1/namespaces/${NS}/persistentvolumeclaims`, {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'registry-data' },
    spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: '10Gi' } } },
  });
  for (const name of ['s3', 'fs', 'noclaim']) await create(`/apis/apps/v1/namespaces/${NS}/deployments`, userDeployment(`registry-${name}`));
  const registries = `/apis/portcullis.dev/v1alpha1/namespaces/${NS}/registries`;
  await create(registries, registryBody('s3', S3_STORAGE));
  await create(registries, registryBody('fs', { filesystem: { claimName: 'registry-data' } }));
  await create(registries, registryBody('noclaim', { filesystem: { claimName: 'missing' } }));
  operator = await startOperator({ kubeConfig: operatorKc, log, leaderElect: false, registryNamespaces: [NS], keys: { rolloutPollMs: 500 } });
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  admin?.close();
  await cp?.stop();
});

describe('storage wiring', () => {
  it('a missing credentials Secret: DistributionWired=False, SecretNotFound, and nothing applied to the Deployment', async () => {
    await waitFor('a wiring problem on s3', async () => (await wired('s3'))?.reason === 'SecretNotFound', 60_000);
    expect(await wired('s3')).toMatchObject({ status: 'False', message: expect.stringContaining(`Secret ${NS}/s3-credentials does not exist`) });
    const d = await deployment('registry-s3');
    expect(registryEnv(d)).toEqual(USER_ENV);
    expect(d.spec?.template?.metadata?.annotations?.['portcullis.dev/bundle-hash']).toBeUndefined();
  });

  it('a Secret without the secret key: SecretKeyNotFound, still nothing applied', async () => {
    await create(`/api/v1/namespaces/${NS}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's3-credentials' },
      stringData: { accessKey: ACCESS_KEY },
    });
    await waitFor('SecretKeyNotFound on s3', async () => (await wired('s3'))?.reason === 'SecretKeyNotFound', 60_000);
    expect((await wired('s3'))?.message).toBe(`spec.storage.s3.credentialsSecretRef: Secret ${NS}/s3-credentials has no secretKey key`);
    expect(registryEnv(await deployment('registry-s3'))).toEqual(USER_ENV);
  });

  it('with both keys the Deployment gets exactly the S3 settings, the keys only as secretKeyRefs', async () => {
    await admin.request('PATCH', objectPath(Resources.secrets, NS, 's3-credentials'), {
      body: { stringData: { secretKey: SECRET_KEY } },
      contentType: 'application/merge-patch+json',
    });
    await waitFor('s3 wired', async () => (await wired('s3'))?.status === 'True', 60_000);
    const d = await deployment('registry-s3');
    expect(storageEnv(d)).toEqual({
      REGISTRY_STORAGE: 's3',
      REGISTRY_STORAGE_S3_BUCKET: 'images',
      REGISTRY_STORAGE_S3_REGION: 'us-east-1',
      REGISTRY_STORAGE_S3_REGIONENDPOINT: 'http://seaweedfs.storage.svc:8333',
      REGISTRY_STORAGE_S3_SECURE: 'false',
      REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
      REGISTRY_STORAGE_S3_ROOTDIRECTORY: '/registry',
      REGISTRY_STORAGE_S3_ACCESSKEY: { secretKeyRef: { name: 's3-credentials', key: 'accessKey' } },
      REGISTRY_STORAGE_S3_SECRETKEY: { secretKeyRef: { name: 's3-credentials', key: 'secretKey' } },
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
      REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR: 'inmemory',
    });
    // The user's own variables, volume and mount are as they were.
    expect(registryEnv(d).filter((e) => !e.name.startsWith('REGISTRY_STORAGE') && !e.name.startsWith('REGISTRY_AUTH_TOKEN_'))).toEqual(USER_ENV);
    expect(
      podSpec(d)
        .volumes?.map((v) => v.name)
        .sort(),
    ).toEqual(['data', 'portcullis-bundle']);
    expect(podSpec(d).containers[0]!.volumeMounts).toContainEqual({ name: 'data', mountPath: '/var/lib/registry' });
  });

  it('filesystem: the claim as a volume mounted where Distribution is told to store, beside the user’s own volume', async () => {
    await waitFor('fs wired', async () => (await wired('fs'))?.status === 'True', 60_000);
    const d = await deployment('registry-fs');
    expect(storageEnv(d)).toEqual({
      REGISTRY_STORAGE: 'filesystem',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/var/lib/portcullis-registry',
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
      REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR: 'inmemory',
    });
    expect(podSpec(d).volumes).toContainEqual({ name: 'portcullis-storage', persistentVolumeClaim: { claimName: 'registry-data' } });
    expect(podSpec(d).volumes).toContainEqual({ name: 'data', emptyDir: {} });
    expect(podSpec(d).containers[0]!.volumeMounts).toEqual(
      expect.arrayContaining([
        { name: 'data', mountPath: '/var/lib/registry' },
        { name: 'portcullis-storage', mountPath: '/var/lib/portcullis-registry' },
      ]),
    );
  });

  it('a missing claim: DistributionWired=False, ClaimNotFound, and nothing applied', async () => {
    await waitFor('ClaimNotFound on noclaim', async () => (await wired('noclaim'))?.reason === 'ClaimNotFound', 60_000);
    expect((await wired('noclaim'))?.message).toBe(`spec.storage.filesystem: PersistentVolumeClaim ${NS}/missing does not exist`);
    const d = await deployment('registry-noclaim');
    expect(registryEnv(d)).toEqual(USER_ENV);
    expect(podSpec(d).volumes?.map((v) => v.name)).toEqual(['data']);
  });

  it('once the claim exists the operator wires it without being told (claims have no watch: it looks again within a minute)', async () => {
    await create(`/api/v1/namespaces/${NS}/persistentvolumeclaims`, {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'missing' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    });
    await waitFor('noclaim wired', async () => (await wired('noclaim'))?.status === 'True', 90_000);
    expect(podSpec(await deployment('registry-noclaim')).volumes).toContainEqual({
      name: 'portcullis-storage',
      persistentVolumeClaim: { claimName: 'missing' },
    });
  }, 120_000);

  it('removing spec.storage takes the storage wiring back and leaves the rest', async () => {
    await admin.request('PATCH', objectPath(Resources.registries, NS, 'fs'), {
      body: { spec: { storage: null } },
      contentType: 'application/merge-patch+json',
    });
    await waitFor('fs storage unwired', async () => Object.keys(storageEnv(await deployment('registry-fs'))).length === 0, 60_000);
    const d = await deployment('registry-fs');
    expect(
      podSpec(d)
        .volumes?.map((v) => v.name)
        .sort(),
    ).toEqual(['data', 'portcullis-bundle']);
    expect(registryEnv(d).filter((e) => !e.name.startsWith('REGISTRY_AUTH_TOKEN_'))).toEqual(USER_ENV);
  });

  it.each([
    ['both drivers', { filesystem: { claimName: 'data' }, s3: { bucket: 'images', region: 'us-east-1' } }, 'set exactly one of filesystem or s3'],
    ['neither driver', { deleteEnabled: true }, 'set exactly one of filesystem or s3'],
    [
      'credentials in the endpoint URL',
      { s3: { bucket: 'images', region: 'us-east-1', endpoint: 'http://user:pass@s3.example.com' } },
      'spec.storage.s3.endpoint',
    ],
    ['an endpoint with a path', { s3: { bucket: 'images', region: 'us-east-1', endpoint: 'https://s3.example.com/other' } }, 'spec.storage.s3.endpoint'],
    ['a bucket name S3 refuses', { s3: { bucket: 'Images_1', region: 'us-east-1' } }, 'spec.storage.s3.bucket'],
    ['a relative root directory', { filesystem: { claimName: 'data', rootDirectory: 'var/lib' } }, 'spec.storage.filesystem.rootDirectory'],
    ['a claim name that is no DNS name', { filesystem: { claimName: 'Data!' } }, 'spec.storage.filesystem.claimName'],
  ])('the API server refuses %s', async (_what, storage, message) => {
    const r = await kubectl(cp, ['create', '-f', '-'], JSON.stringify(registryBody('refused', storage)));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('is invalid');
    expect(r.stderr).toContain(message);
  });

  it('the S3 keys reach no Deployment, ConfigMap, Event, Registry status or log line', async () => {
    const texts = {
      deployments: JSON.stringify(await admin.get(`/apis/apps/v1/namespaces/${NS}/deployments`)),
      configMaps: JSON.stringify(await admin.get(`/api/v1/namespaces/${NS}/configmaps`)),
      events: JSON.stringify(await admin.get(`/apis/events.k8s.io/v1/namespaces/${NS}/events`)),
      registries: JSON.stringify(await admin.get(`/apis/portcullis.dev/v1alpha1/namespaces/${NS}/registries`)),
      logs: logLines.join(''),
    };
    expect(logLines.length).toBeGreaterThan(0);
    for (const secret of [ACCESS_KEY, SECRET_KEY, Buffer.from(SECRET_KEY).toString('base64')]) {
      for (const [where, text] of Object.entries(texts)) expect(leakedParts(text, secret, 12), where).toEqual([]);
    }
  });
});
