// Registry.spec.storage as the registry container's settings: Distribution's REGISTRY_STORAGE_* variables,
// the S3 credentials as secretKeyRefs (the keys stay in the user's Secret; the Deployment only names
// them), and for filesystem storage the claim as a volume with its mount. deployment.ts adds these to
// its apply, so server-side apply removes them again when spec.storage goes away.
//
// REGISTRY_STORAGE=<driver> replaces the config file's whole storage section (Distribution parses the
// value as a one-driver map), so every storage setting the registry needs is set here after it: the
// root directory, delete.enabled and the stock image's in-memory blob descriptor cache. Distribution
// applies variables sorted by name (a prefix first), so the user's own REGISTRY_STORAGE_* variables (redirect,
// maintenance) still land on top of the switched section.

import type { RegistryStorage } from '../../crds/types.js';
import { Reasons } from '../../policy/reasons.js';
import { getIfExists, objectPath, Resources, type KubeClient, type ResourceType } from '../../kube/request.js';

export const persistentVolumeClaims: ResourceType = { base: '/api/v1', plural: 'persistentvolumeclaims', namespaced: true };

export const STORAGE_VOLUME = 'portcullis-storage';
/** Not Distribution's /var/lib/registry: a user's Deployment often mounts its own volume there already. */
export const DEFAULT_FILESYSTEM_ROOT = '/var/lib/portcullis-registry';
export const DEFAULT_ACCESS_KEY_KEY = 'accessKey';
export const DEFAULT_SECRET_KEY_KEY = 'secretKey';

export type EnvVar = { name: string; value: string } | { name: string; valueFrom: { secretKeyRef: { name: string; key: string } } };

export interface StorageWiring {
  env: EnvVar[];
  volumeMounts: { name: string; mountPath: string }[];
  volumes: { name: string; persistentVolumeClaim: { claimName: string } }[];
}

const NONE: StorageWiring = { env: [], volumeMounts: [], volumes: [] };

/** The container settings for spec.storage; nothing when it is absent (the Deployment's own storage stays). */
export function storageWiring(storage: RegistryStorage | undefined): StorageWiring {
  if (storage === undefined) return NONE;
  const common: EnvVar[] = [
    { name: 'REGISTRY_STORAGE_DELETE_ENABLED', value: String(storage.deleteEnabled ?? true) },
    { name: 'REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR', value: 'inmemory' },
  ];
  if (storage.s3 !== undefined) {
    const s3 = storage.s3;
    const ref = s3.credentialsSecretRef;
    const env: EnvVar[] = [
      { name: 'REGISTRY_STORAGE', value: 's3' },
      { name: 'REGISTRY_STORAGE_S3_BUCKET', value: s3.bucket },
      { name: 'REGISTRY_STORAGE_S3_REGION', value: s3.region },
      ...(s3.endpoint === undefined
        ? []
        : [
            { name: 'REGISTRY_STORAGE_S3_REGIONENDPOINT', value: s3.endpoint },
            // Distribution's own default is https; an http:// endpoint only works with secure false.
            { name: 'REGISTRY_STORAGE_S3_SECURE', value: String(!s3.endpoint.startsWith('http://')) },
          ]),
      { name: 'REGISTRY_STORAGE_S3_FORCEPATHSTYLE', value: String(s3.forcePathStyle ?? false) },
      ...(s3.rootDirectory === undefined ? [] : [{ name: 'REGISTRY_STORAGE_S3_ROOTDIRECTORY', value: s3.rootDirectory }]),
      ...(ref === undefined
        ? []
        : [
            { name: 'REGISTRY_STORAGE_S3_ACCESSKEY', valueFrom: { secretKeyRef: { name: ref.name, key: ref.accessKeyKey ?? DEFAULT_ACCESS_KEY_KEY } } },
            { name: 'REGISTRY_STORAGE_S3_SECRETKEY', valueFrom: { secretKeyRef: { name: ref.name, key: ref.secretKeyKey ?? DEFAULT_SECRET_KEY_KEY } } },
          ]),
      ...common,
    ];
    return { env, volumeMounts: [], volumes: [] };
  }
  if (storage.filesystem !== undefined) {
    const root = storage.filesystem.rootDirectory ?? DEFAULT_FILESYSTEM_ROOT;
    return {
      env: [{ name: 'REGISTRY_STORAGE', value: 'filesystem' }, { name: 'REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY', value: root }, ...common],
      volumeMounts: [{ name: STORAGE_VOLUME, mountPath: root }],
      volumes: [{ name: STORAGE_VOLUME, persistentVolumeClaim: { claimName: storage.filesystem.claimName } }],
    };
  }
  // The CRD refuses storage with neither driver; an object from before that rule gets no wiring.
  return NONE;
}

export interface StorageProblem {
  reason: string;
  message: string;
}

/**
 * Why spec.storage cannot be wired yet: a missing credentials Secret or key, or a missing claim. Wiring a
 * Deployment to them would leave its new pods stuck in CreateContainerConfigError or Pending while the
 * old ones are gone, so the operator applies nothing until they exist. Messages name objects and keys,
 * never values.
 */
export async function storageProblem(client: KubeClient, namespace: string, storage: RegistryStorage | undefined): Promise<StorageProblem | undefined> {
  const ref = storage?.s3?.credentialsSecretRef;
  if (ref !== undefined) {
    const secret = await getIfExists<{ data?: Record<string, string> }>(client, objectPath(Resources.secrets, namespace, ref.name));
    if (secret === undefined) {
      return { reason: Reasons.SecretNotFound, message: `spec.storage.s3.credentialsSecretRef: Secret ${namespace}/${ref.name} does not exist` };
    }
    const missing = [ref.accessKeyKey ?? DEFAULT_ACCESS_KEY_KEY, ref.secretKeyKey ?? DEFAULT_SECRET_KEY_KEY].filter((key) => !secret.data?.[key]);
    if (missing.length > 0) {
      return {
        reason: Reasons.SecretKeyNotFound,
        message: `spec.storage.s3.credentialsSecretRef: Secret ${namespace}/${ref.name} has no ${missing.join(' or ')} key`,
      };
    }
  }
  const claim = storage?.filesystem?.claimName;
  if (claim !== undefined && (await getIfExists(client, objectPath(persistentVolumeClaims, namespace, claim))) === undefined) {
    return { reason: Reasons.ClaimNotFound, message: `spec.storage.filesystem: PersistentVolumeClaim ${namespace}/${claim} does not exist` };
  }
  return undefined;
}
