import { describe, expect, it } from 'vitest';
import type { RegistryStorage } from '../../crds/types.js';
import { deploymentApplyPatch } from './deployment.js';
import { DEFAULT_FILESYSTEM_ROOT, STORAGE_VOLUME, storageWiring } from './storage.js';

interface PatchShape {
  spec: {
    template: {
      spec: {
        containers: { name: string; env: { name: string; value?: string; valueFrom?: unknown }[]; volumeMounts: { name: string; mountPath: string }[] }[];
        volumes: { name: string; [k: string]: unknown }[];
      };
    };
  };
}

const patchFor = (storage: RegistryStorage | undefined): PatchShape =>
  deploymentApplyPatch({
    namespace: 'registry',
    deploymentName: 'registry',
    containerName: 'distribution',
    registryName: 'main',
    spec: { service: 'registry.example.com', ...(storage === undefined ? {} : { storage }) },
    bundleHash: 'h1',
  }) as unknown as PatchShape;

const storageEnv = (patch: PatchShape): Record<string, unknown> =>
  Object.fromEntries(
    patch.spec.template.spec.containers[0]!.env.filter((e) => e.name.startsWith('REGISTRY_STORAGE')).map((e) => [e.name, e.value ?? e.valueFrom]),
  );

describe('storage wiring in the apply patch', () => {
  it('without spec.storage the apply carries no storage field, so the Deployment keeps its own', () => {
    const patch = patchFor(undefined);
    expect(storageEnv(patch)).toEqual({});
    expect(patch.spec.template.spec.volumes.map((v) => v.name)).toEqual(['portcullis-bundle']);
    expect(patch.spec.template.spec.containers[0]!.volumeMounts.map((m) => m.name)).toEqual(['portcullis-bundle']);
  });

  it('S3 on an S3-compatible server: the driver switch, every setting, and the credentials only as secretKeyRefs', () => {
    const patch = patchFor({
      s3: {
        bucket: 'images',
        region: 'us-east-1',
        endpoint: 'http://seaweedfs.storage:8333',
        credentialsSecretRef: { name: 's3-credentials', accessKeyKey: 'id', secretKeyKey: 'key' },
        rootDirectory: '/registry',
        forcePathStyle: true,
      },
    });
    expect(storageEnv(patch)).toEqual({
      REGISTRY_STORAGE: 's3',
      REGISTRY_STORAGE_S3_BUCKET: 'images',
      REGISTRY_STORAGE_S3_REGION: 'us-east-1',
      REGISTRY_STORAGE_S3_REGIONENDPOINT: 'http://seaweedfs.storage:8333',
      REGISTRY_STORAGE_S3_SECURE: 'false',
      REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
      REGISTRY_STORAGE_S3_ROOTDIRECTORY: '/registry',
      REGISTRY_STORAGE_S3_ACCESSKEY: { secretKeyRef: { name: 's3-credentials', key: 'id' } },
      REGISTRY_STORAGE_S3_SECRETKEY: { secretKeyRef: { name: 's3-credentials', key: 'key' } },
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
      REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR: 'inmemory',
    });
    // S3 needs no volume.
    expect(patch.spec.template.spec.volumes.map((v) => v.name)).toEqual(['portcullis-bundle']);
  });

  it('S3 on AWS: no endpoint and no secure switch, default key names, path style off, deletion as asked', () => {
    expect(storageEnv(patchFor({ s3: { bucket: 'images', region: 'eu-west-1', credentialsSecretRef: { name: 'aws' } }, deleteEnabled: false }))).toEqual({
      REGISTRY_STORAGE: 's3',
      REGISTRY_STORAGE_S3_BUCKET: 'images',
      REGISTRY_STORAGE_S3_REGION: 'eu-west-1',
      REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'false',
      REGISTRY_STORAGE_S3_ACCESSKEY: { secretKeyRef: { name: 'aws', key: 'accessKey' } },
      REGISTRY_STORAGE_S3_SECRETKEY: { secretKeyRef: { name: 'aws', key: 'secretKey' } },
      REGISTRY_STORAGE_DELETE_ENABLED: 'false',
      REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR: 'inmemory',
    });
  });

  it('an https endpoint keeps TLS on; without credentialsSecretRef no key variables (the AWS default chain)', () => {
    const env = storageEnv(patchFor({ s3: { bucket: 'images', region: 'us-east-1', endpoint: 'https://s3.example.com' } }));
    expect(env.REGISTRY_STORAGE_S3_SECURE).toBe('true');
    expect(Object.keys(env).filter((k) => k.endsWith('KEY'))).toEqual([]);
  });

  it('filesystem: the claim as a named volume mounted at the root directory Distribution is told to use', () => {
    const patch = patchFor({ filesystem: { claimName: 'registry-data' } });
    expect(storageEnv(patch)).toEqual({
      REGISTRY_STORAGE: 'filesystem',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: DEFAULT_FILESYSTEM_ROOT,
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
      REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR: 'inmemory',
    });
    expect(patch.spec.template.spec.volumes).toContainEqual({ name: STORAGE_VOLUME, persistentVolumeClaim: { claimName: 'registry-data' } });
    expect(patch.spec.template.spec.containers[0]!.volumeMounts).toContainEqual({ name: STORAGE_VOLUME, mountPath: DEFAULT_FILESYSTEM_ROOT });
  });

  it('filesystem with a root directory mounts the claim there', () => {
    const wiring = storageWiring({ filesystem: { claimName: 'data', rootDirectory: '/data/registry' } });
    expect(wiring.volumeMounts).toEqual([{ name: STORAGE_VOLUME, mountPath: '/data/registry' }]);
    expect(wiring.env).toContainEqual({ name: 'REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY', value: '/data/registry' });
  });
});
