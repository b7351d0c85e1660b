// Distribution 2.8 and v3 on S3 storage, against a real S3-compatible server (SeaweedFS, local/s3.ts):
// crane pushes a multi-part-sized image and pulls it back byte-identical, with the objects in the bucket;
// the operator's variables (controllers/storage.ts's storageWiring, secretKeyRefs resolved as the kubelet
// would) switch a registry whose config file says filesystem to S3; `registry garbage-collect` given the
// same variables (as the collector Job gets them) frees a deleted image's blobs in the bucket and keeps
// what a tag needs; and the refusals: SeaweedFS refuses an unsigned request, and a registry holding a
// wrong secret key cannot write.
import { lstat, readFile, readdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryStorage } from '../../crds/types.js';
import { storageWiring } from '../../operator/controllers/storage.js';
import { buildImage, type BuiltImage } from '../../local/image.js';
import { startRegistry, type RegistryFlavor } from '../../local/registry.js';
import { run } from '../../local/process.js';
import { startS3Server, type RunningS3Server } from '../../local/s3.js';
import { registry28Path, toolPath } from '../../local/tools.js';
import { cranePull, cranePush } from '../harness/clients.js';

let s3: RunningS3Server;
let s3StartedAt: number;
let work: string;
let image: BuiltImage;
const flavors: RegistryFlavor[] = ['2.8', 'v3'];

beforeAll(async () => {
  s3StartedAt = Date.now() - 1000; // mtimes have a coarser clock than Date.now()
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
async function expectSameBlobs(pulledDir: string, pushedImage: BuiltImage = image): Promise<void> {
  const blobs = join('blobs', 'sha256');
  const pushed = await readdir(join(pushedImage.layoutDir, blobs));
  expect(pushed.length).toBe(3);
  for (const name of pushed) {
    expect((await readFile(join(pulledDir, blobs, name))).equals(await readFile(join(pushedImage.layoutDir, blobs, name))), name).toBe(true);
  }
}

/** The bucket key of a blob's data under a registry root. */
const blobKey = (root: string, digest: string): string => {
  const hex = digest.replace('sha256:', '');
  return `${root.slice(1)}/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
};
const layerDigest = (built: BuiltImage): string => (JSON.parse(built.manifest) as { layers: { digest: string }[] }).layers[0]!.digest;

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

  it('garbage-collect with the same variables frees a deleted image in the bucket and keeps what a tag needs', async () => {
    const root = `/gc-${flavor.replace('.', '')}`;
    const storage: RegistryStorage = {
      s3: { bucket: s3.bucket, region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, rootDirectory: root, credentialsSecretRef: { name: 'c' } },
    };
    const env = resolvedEnv(storage, { accessKey: s3.accessKey, secretKey: s3.secretKey });
    const storageDir = await mkdtemp(join(work, `gc-${flavor}-`));
    const [kept, doomed] = await Promise.all(['kept', 'doomed'].map((name) => buildImage(join(work, `${name}-${flavor}`))));
    const options = { flavor, storageDir, env };
    const registry = await startRegistry(options);
    try {
      for (const [built, tag] of [
        [kept!, 'kept'],
        [doomed!, 'doomed'],
      ] as const) {
        const push = await cranePush(built.layoutDir, `${registry.host}/team/gc:${tag}`);
        expect(push.code, push.stderr).toBe(0);
      }
      const deleted = await fetch(`${registry.url}/v2/team/gc/manifests/${doomed!.digest}`, { method: 'DELETE' });
      expect(deleted.status).toBe(202);
    } finally {
      await registry.stop();
    }
    expect(await s3.objectKeys(root)).toContain(blobKey(root, layerDigest(doomed!)));

    // As the collector Job runs it: the image's config file (filesystem) with the container's variables.
    const config = join(storageDir, 'config.yml');
    await writeFile(config, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(storageDir, 'unused')}\n`);
    const { AWS_CA_BUNDLE: _unused, ...inherited } = process.env;
    const gc = await run(flavor === '2.8' ? registry28Path : toolPath('registry-v3'), ['garbage-collect', config], { env: { ...inherited, ...env } });
    expect(gc.code, gc.stdout + gc.stderr).toBe(0);
    expect(gc.stdout + gc.stderr).toMatch(/blobs marked, [1-9][0-9]* blobs and [0-9]+ manifests eligible for deletion/);

    const keys = await s3.objectKeys(root);
    expect(keys).not.toContain(blobKey(root, layerDigest(doomed!)));
    expect(keys).not.toContain(blobKey(root, doomed!.digest));
    expect(keys).toContain(blobKey(root, layerDigest(kept!)));
    const again = await startRegistry(options);
    try {
      const pulled = join(work, `pulled-gc-${flavor}`);
      const pull = await cranePull(`${again.host}/team/gc:kept`, pulled);
      expect(pull.code, `${pull.stderr}\n${again.logs()}`).toBe(0);
      await expectSameBlobs(pulled, kept);
    } finally {
      await again.stop();
    }
  }, 180_000);

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

describe('the S3 server as the tests run it', () => {
  it('writes its log nowhere outside its own directory (glog defaults to files in /tmp)', async () => {
    const written: string[] = [];
    for (const name of await readdir(tmpdir())) {
      if (!name.startsWith('weed.')) continue;
      if ((await lstat(join(tmpdir(), name))).mtimeMs >= s3StartedAt) written.push(name);
    }
    expect(written).toEqual([]);
  });
});
