// Distribution 2.8 and v3 on S3 storage, against a real S3-compatible server (SeaweedFS, local/s3.ts):
// crane pushes a multi-part-sized image and pulls it back byte-identical, with the objects in the bucket;
// the operator's variables (controllers/storage.ts's storageWiring, secretKeyRefs resolved as the kubelet
// would) switch a registry whose config file says filesystem to S3; and the refusals: SeaweedFS refuses
// an unsigned request, and a registry holding a wrong secret key cannot write.
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryStorage } from '../../crds/types.js';
import { storageWiring } from '../../operator/controllers/storage.js';
import { buildImage, type BuiltImage } from '../../local/image.js';
import { startRegistry, type RegistryFlavor } from '../../local/registry.js';
import { startS3Server, type RunningS3Server } from '../../local/s3.js';
import { cranePull, cranePush } from '../harness/clients.js';

let s3: RunningS3Server;
let work: string;
let image: BuiltImage;
const flavors: RegistryFlavor[] = ['2.8', 'v3'];

beforeAll(async () => {
  s3 = await startS3Server();
  work = await mkdtemp(join(tmpdir(), 'portcullis-s3-test-'));
  // 12 MiB of random bytes: more than one part of Distribution's multipart upload to S3 (chunks of 10 MiB).
  image = await buildImage(join(work, 'image'), { layerBytes: 12 * 1024 * 1024 });
}, 120_000);

afterAll(async () => {
  await s3?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The pod's environment as the kubelet resolves the operator's variables: secretKeyRefs read from the Secret. */
function resolvedEnv(storage: RegistryStorage, secret: Record<string, string>): Record<string, string> {
  return Object.fromEntries(storageWiring(storage).env.map((e) => [e.name, 'value' in e ? e.value : secret[e.valueFrom.secretKeyRef.key]!]));
}

/** Every blob of the layout pushed is in the layout pulled, with the same bytes. */
async function expectSameBlobs(pulledDir: string): Promise<void> {
  const blobs = join('blobs', 'sha256');
  const pushed = await readdir(join(image.layoutDir, blobs));
  expect(pushed.length).toBe(3);
  for (const name of pushed) {
    expect((await readFile(join(pulledDir, blobs, name))).equals(await readFile(join(image.layoutDir, blobs, name))), name).toBe(true);
  }
}

describe.each(flavors)('Distribution %s on S3', (flavor) => {
  it('a push and a pull through the s3 driver of the config file: byte-identical, the blobs in the bucket', async () => {
    const root = `/file-${flavor.replace('.', '')}`;
    const registry = await startRegistry({
      flavor,
      s3: { endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, accessKey: s3.accessKey, secretKey: s3.secretKey, rootDirectory: root },
    });
    try {
      const push = await cranePush(image.layoutDir, `${registry.host}/team/app:1`);
      expect(push.code, `${push.stderr}\n${registry.logs()}`).toBe(0);
      const pulled = join(work, `pulled-file-${flavor}`);
      const pull = await cranePull(`${registry.host}/team/app:1`, pulled);
      expect(pull.code, `${pull.stderr}\n${registry.logs()}`).toBe(0);
      await expectSameBlobs(pulled);
      const keys = await s3.objectKeys(root);
      const layer = image.manifest.match(/"layers":\[\{[^}]*"digest":"sha256:([0-9a-f]{64})"/)![1]!;
      expect(keys).toContain(`${root.slice(1)}/docker/registry/v2/blobs/sha256/${layer.slice(0, 2)}/${layer}/data`);
      expect(keys).toContain(`${root.slice(1)}/docker/registry/v2/repositories/team/app/_manifests/tags/1/current/link`);
    } finally {
      await registry.stop();
    }
  }, 120_000);

  it("the operator's variables switch a registry configured for the filesystem to S3", async () => {
    const root = `/env-${flavor.replace('.', '')}`;
    const storageDir = await mkdtemp(join(work, `fs-${flavor}-`));
    const storage: RegistryStorage = {
      s3: { bucket: s3.bucket, region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, rootDirectory: root, credentialsSecretRef: { name: 'c' } },
    };
    // local/registry.ts writes storage.filesystem into the config file, as the registry image's own does.
    const registry = await startRegistry({ flavor, storageDir, env: resolvedEnv(storage, { accessKey: s3.accessKey, secretKey: s3.secretKey }) });
    try {
      const push = await cranePush(image.layoutDir, `${registry.host}/team/env:1`);
      expect(push.code, `${push.stderr}\n${registry.logs()}`).toBe(0);
      const pulled = join(work, `pulled-env-${flavor}`);
      const pull = await cranePull(`${registry.host}/team/env:1`, pulled);
      expect(pull.code, `${pull.stderr}\n${registry.logs()}`).toBe(0);
      await expectSameBlobs(pulled);
      expect(await s3.objectKeys(root)).toContain(`${root.slice(1)}/docker/registry/v2/repositories/team/env/_manifests/tags/1/current/link`);
      // Nothing went to the directory of the config file.
      expect(await readdir(storageDir)).toEqual([]);
    } finally {
      await registry.stop();
    }
  }, 120_000);

  it('with a wrong secret key the registry cannot write: the upload is refused with its error, and the bucket gets nothing', async () => {
    const root = `/wrong-${flavor.replace('.', '')}`;
    const registry = await startRegistry({
      flavor,
      s3: { endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, accessKey: s3.accessKey, secretKey: `${s3.secretKey}x`, rootDirectory: root },
    });
    try {
      const response = await fetch(`${registry.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
      const body = await response.text();
      expect(response.status, body).toBe(500);
      expect(JSON.parse(body)).toMatchObject({ errors: [{ code: 'UNKNOWN' }] });
      // The detail: v3 quotes S3's refusal of the signature; 2.8 only names its driver's failed request.
      expect(body).toContain(flavor === '2.8' ? '"detail":{"DriverName":"s3aws","Enclosed":{"RequestFailure":{}}}' : 'SignatureDoesNotMatch');
      // Distribution's error detail quotes S3's refusal, never the key it signed with.
      expect(body).not.toContain(s3.secretKey);
      const push = await cranePush(image.layoutDir, `${registry.host}/team/app:1`);
      expect(push.code).not.toBe(0);
      expect(await s3.objectKeys(root)).toEqual([]);
    } finally {
      await registry.stop();
    }
  }, 120_000);
});

describe('SeaweedFS itself', () => {
  it('refuses an unsigned write with 403 AccessDenied', async () => {
    const response = await fetch(`${s3.endpoint}/${s3.bucket}/planted`, { method: 'PUT', body: 'x' });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('<Code>AccessDenied</Code>');
    expect(await s3.objectKeys('/planted')).toEqual([]);
  });

  it('refuses a request signed with a wrong secret key', async () => {
    // A presigned-style query with the right access key and a made-up signature.
    const url = new URL(`${s3.endpoint}/${s3.bucket}/planted`);
    const date = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
    url.search = new URLSearchParams({
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': `${s3.accessKey}/${date.slice(0, 8)}/${s3.region}/s3/aws4_request`,
      'X-Amz-Date': date,
      'X-Amz-Expires': '300',
      'X-Amz-SignedHeaders': 'host',
      'X-Amz-Signature': '0'.repeat(64),
    }).toString();
    const response = await fetch(url, { method: 'PUT', body: 'x' });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
    expect(await s3.objectKeys('/planted')).toEqual([]);
  });
});
