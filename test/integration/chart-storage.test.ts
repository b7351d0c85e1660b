// The chart's bundled registry storage against real helm and a real kube-apiserver: filesystem on the
// chart's PVC (size, storage class, access modes) or an existing claim, S3 (bucket, region, endpoint,
// credentials by secretKeyRef from an existing Secret, no PVC and no data volume), deletion on by
// default; the schema refuses S3 without a bucket and an endpoint with credentials; the renders are
// accepted by the API server. That the variables switch real registries to S3 is registry-s3.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { chartDir, find, helm, one, podSpec, render, type Container, type K8sObject } from '../support/helm-chart.js';

const NS = 'portcullis-system';
const S3_VALUES = [
  '--set',
  'registry.enabled=true',
  '--set',
  'registry.storage.driver=s3',
  '--set',
  'registry.storage.s3.bucket=images',
  '--set',
  'registry.storage.s3.region=eu-west-1',
  '--set',
  'registry.storage.s3.endpoint=http://seaweedfs.storage.svc:8333',
  '--set',
  'registry.storage.s3.forcePathStyle=true',
  '--set',
  'registry.storage.s3.rootDirectory=/registry',
  '--set',
  'registry.storage.s3.existingSecret=s3-credentials',
  '--set',
  'registry.storage.s3.secretKeyKey=secret',
];

const registryContainer = (objects: K8sObject[]): Container => podSpec(one(objects, 'Deployment', 'portcullis-registry')).containers[0]!;
const storageEnv = (c: Container): Record<string, unknown> =>
  Object.fromEntries((c.env ?? []).flatMap((e) => (e.name.startsWith('REGISTRY_STORAGE') ? [[e.name, e.value ?? e.valueFrom]] : [])));

describe('chart: registry storage', () => {
  it('helm lint accepts S3 and filesystem values', async () => {
    for (const values of [S3_VALUES, ['--set', 'registry.enabled=true', '--set', 'registry.persistence.accessModes={ReadWriteMany}']]) {
      const r = await helm(['lint', chartDir, ...values]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
  });

  it('S3: the driver switch and every setting, the keys by secretKeyRef, no data volume and no PVC', async () => {
    const objects = await render('portcullis', NS, S3_VALUES);
    const container = registryContainer(objects);
    expect(storageEnv(container)).toEqual({
      REGISTRY_STORAGE: 's3',
      REGISTRY_STORAGE_S3_BUCKET: 'images',
      REGISTRY_STORAGE_S3_REGION: 'eu-west-1',
      REGISTRY_STORAGE_S3_REGIONENDPOINT: 'http://seaweedfs.storage.svc:8333',
      REGISTRY_STORAGE_S3_SECURE: 'false',
      REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
      REGISTRY_STORAGE_S3_ROOTDIRECTORY: '/registry',
      REGISTRY_STORAGE_S3_ACCESSKEY: { secretKeyRef: { name: 's3-credentials', key: 'accessKey' } },
      REGISTRY_STORAGE_S3_SECRETKEY: { secretKeyRef: { name: 's3-credentials', key: 'secret' } },
      REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR: 'inmemory',
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
    });
    expect(podSpec(one(objects, 'Deployment', 'portcullis-registry')).volumes?.map((v) => v.name)).not.toContain('data');
    expect(container.volumeMounts?.map((m) => m.mountPath)).not.toContain('/var/lib/registry');
    expect(find(objects, 'PersistentVolumeClaim', 'portcullis-registry')).toEqual([]);
    // A rolling update is fine without a ReadWriteOnce volume.
    expect((one(objects, 'Deployment', 'portcullis-registry').spec as { strategy?: unknown }).strategy).toBeUndefined();
  });

  it('S3 on AWS: no endpoint, TLS left on, and no key variables without a Secret (the default credential chain)', async () => {
    const objects = await render('portcullis', NS, [
      '--set',
      'registry.enabled=true',
      '--set',
      'registry.storage.driver=s3',
      '--set',
      'registry.storage.s3.bucket=images',
    ]);
    const env = storageEnv(registryContainer(objects));
    expect(Object.keys(env).filter((k) => /ENDPOINT|SECURE|KEY$/.test(k))).toEqual([]);
    expect(env.REGISTRY_STORAGE_S3_REGION).toBe('us-east-1');
  });

  it('filesystem: the chart’s claim with size, storage class and access modes, mounted where the image stores', async () => {
    const objects = await render('portcullis', NS, [
      '--set',
      'registry.enabled=true',
      '--set',
      'registry.persistence.size=50Gi',
      '--set',
      'registry.persistence.storageClassName=shared',
      '--set',
      'registry.persistence.accessModes={ReadWriteMany}',
    ]);
    expect(storageEnv(registryContainer(objects))).toEqual({
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/var/lib/registry',
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
    });
    const claim = one(objects, 'PersistentVolumeClaim', 'portcullis-registry');
    expect(claim.spec).toEqual({ accessModes: ['ReadWriteMany'], storageClassName: 'shared', resources: { requests: { storage: '50Gi' } } });
    expect(podSpec(one(objects, 'Deployment', 'portcullis-registry')).volumes).toContainEqual({
      name: 'data',
      persistentVolumeClaim: { claimName: 'portcullis-registry' },
    });
    expect(registryContainer(objects).volumeMounts).toContainEqual({ name: 'data', mountPath: '/var/lib/registry' });
  });

  it('filesystem on an existing claim: no PVC rendered, the claim mounted; deletion can be turned off', async () => {
    const objects = await render('portcullis', NS, [
      '--set',
      'registry.enabled=true',
      '--set',
      'registry.persistence.existingClaim=registry-data',
      '--set',
      'registry.deleteEnabled=false',
    ]);
    expect(find(objects, 'PersistentVolumeClaim', 'portcullis-registry')).toEqual([]);
    expect(podSpec(one(objects, 'Deployment', 'portcullis-registry')).volumes).toContainEqual({
      name: 'data',
      persistentVolumeClaim: { claimName: 'registry-data' },
    });
    expect(storageEnv(registryContainer(objects)).REGISTRY_STORAGE_DELETE_ENABLED).toBe('false');
  });

  it.each([
    ['S3 without a bucket', ['--set', 'registry.storage.driver=s3'], 'bucket'],
    ['an unknown driver', ['--set', 'registry.storage.driver=gcs'], 'driver'],
    [
      'credentials in the endpoint',
      ['--set', 'registry.storage.driver=s3', '--set', 'registry.storage.s3.bucket=images', '--set', 'registry.storage.s3.endpoint=http://a:b@s3'],
      'endpoint',
    ],
    ['a bucket name S3 refuses', ['--set', 'registry.storage.driver=s3', '--set', 'registry.storage.s3.bucket=Images_1'], 'bucket'],
  ])('the schema refuses %s', async (_what, values, field) => {
    const r = await helm(['template', 'portcullis', chartDir, '--namespace', NS, '--set', 'registry.enabled=true', ...values]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("values don't meet the specifications of the schema");
    expect(r.stderr).toContain(field);
  });
});

describe('chart: registry storage renders on a real API server', () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
  }, 120_000);
  afterAll(async () => {
    await cp?.stop();
  });

  it.each([
    ['S3', 'storage-s3', S3_VALUES],
    ['filesystem with a ReadWriteMany claim', 'storage-fs', ['--set', 'registry.enabled=true', '--set', 'registry.persistence.accessModes={ReadWriteMany}']],
  ])('the registry Deployment and PVC with %s are accepted by kubectl apply --server-side', async (_what, ns, values) => {
    const objects = await render('portcullis', ns, [...values, '--set', 'crds.enabled=false', '--set', 'registryResource.create=false']);
    const storageObjects = objects.filter((o) => o.metadata.name === 'portcullis-registry' && (o.kind === 'Deployment' || o.kind === 'PersistentVolumeClaim'));
    expect(storageObjects.length).toBe(ns === 'storage-s3' ? 1 : 2);
    await kubectl(cp, ['create', 'namespace', ns]);
    const r = await kubectl(cp, ['apply', '--server-side', '-f', '-'], storageObjects.map((o) => stringify(o)).join('---\n'));
    expect(r.code, r.stderr).toBe(0);
    const applied = JSON.parse((await kubectl(cp, ['-n', ns, 'get', 'deployment', 'portcullis-registry', '-o', 'json'])).stdout) as K8sObject;
    expect(storageEnv(podSpec(applied).containers[0]!)).toEqual(storageEnv(registryContainer(objects)));
  });
});
