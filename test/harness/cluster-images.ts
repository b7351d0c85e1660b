// The images the chart runs on a real node, as docker-save archives for the node's containerd
// (`ctr images import`, RunningCluster.importImage): the Portcullis image built from the Dockerfile as it
// stands by a private Docker engine, and a Distribution v3 image made from the registry binary setup.sh
// built (no registry is reachable to pull `registry:3`). The chart runs both with pullPolicy Never.
//
// The Portcullis build takes minutes, so its archive is kept in node_modules/.cache keyed by a hash of
// the build context's sources (only the newest key is kept). test/integration/image.test.ts, which builds
// the same Dockerfile earlier in `npm test`, saves its image there under the key it computed before
// building (keepPortcullisImage): a run pays for one build. The Distribution archive is keyed by the
// registry's version and files. PORTCULLIS_CLUSTER_IMAGES=<archive>[,<archive>] uses archives as they
// are (while working on the tests themselves with sources changing around them).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../local/process.js';
import { repoRoot, toolPath, versions } from '../../local/tools.js';
import type { ClientResult } from './clients.js';
import { startDocker } from './docker.js';

export const PORTCULLIS_IMAGE = { repository: 'portcullis', tag: 'cluster' };
export const REGISTRY_IMAGE = { repository: 'distribution', tag: 'cluster' };

const CACHE = join(repoRoot, 'node_modules', '.cache', 'portcullis-cluster-images');

// What the Distribution image reads when it starts: the official image's config, every value of which the
// chart's REGISTRY_* environment overrides or completes.
const REGISTRY_CONFIG = `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
`;

const REGISTRY_DOCKERFILE = `FROM scratch
COPY registry /bin/registry
COPY config.yml /etc/distribution/config.yml
USER 65532:65532
ENTRYPOINT ["/bin/registry"]
CMD ["serve", "/etc/distribution/config.yml"]
`;

/** Paths of the build context that `npm run build` does not read: they must not bust the cache. */
const NOT_BUILT = /^(test|docs|bench|hack|charts|deploy|examples)\/|\.md$/;

/** The cache key of the Portcullis image: a hash of every file of the build context the build reads. */
export async function portcullisImageKey(): Promise<string> {
  const listed = await run('git', ['ls-files', '-co', '--exclude-standard'], { cwd: repoRoot, timeoutMs: 30_000 });
  if (listed.code !== 0) throw new Error(`git ls-files: ${listed.stderr}`);
  const files = listed.stdout
    .split('\n')
    .filter((f) => f !== '' && !NOT_BUILT.test(f))
    .sort();
  const hash = createHash('sha256');
  for (const file of files) {
    const path = join(repoRoot, file);
    if (!existsSync(path)) continue; // deleted in the work tree
    hash
      .update(file)
      .update('\0')
      .update(await readFile(path))
      .update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

const distributionKey = (): string =>
  createHash('sha256')
    .update(REGISTRY_CONFIG)
    .update(REGISTRY_DOCKERFILE)
    .update(versions().DISTRIBUTION_V3_VERSION ?? '')
    .digest('hex')
    .slice(0, 16);

const portcullisArchive = (key: string): string => join(CACHE, `portcullis-${key}.tar`);
const distributionArchive = (): string => join(CACHE, `distribution-${distributionKey()}.tar`);
const portcullisRef = `${PORTCULLIS_IMAGE.repository}:${PORTCULLIS_IMAGE.tag}`;
const distributionRef = `${REGISTRY_IMAGE.repository}:${REGISTRY_IMAGE.tag}`;

type Docker = (args: string[], env?: NodeJS.ProcessEnv) => Promise<ClientResult>;

/** `docker save` of `ref` into the cache as `archive`, every older archive of the same kind removed. */
async function saveToCache(docker: Docker, ref: string, archive: string, kind: 'portcullis' | 'distribution'): Promise<void> {
  await mkdir(CACHE, { recursive: true });
  const partial = join(await mkdtemp(join(CACHE, 'save-')), 'image.tar');
  try {
    const saved = await docker(['save', '-o', partial, ref]);
    if (saved.code !== 0) throw new Error(`docker save ${ref} failed: ${saved.stderr}`);
    // Older keys, and the combined archives of before the split (named <key>.tar).
    for (const old of await readdir(CACHE)) if (old.startsWith(`${kind}-`) || /^[0-9a-f]{16}\.tar$/.test(old)) await rm(join(CACHE, old), { force: true });
    await rename(partial, archive);
  } finally {
    await rm(join(partial, '..'), { recursive: true, force: true });
  }
}

/**
 * Keeps a Portcullis image built from the sources hashed to `key` (portcullisImageKey, taken before the
 * build began) for the cluster tests, tagged as the chart's values name it.
 */
export async function keepPortcullisImage(docker: Docker, builtRef: string, key: string): Promise<void> {
  const tagged = await docker(['tag', builtRef, portcullisRef]);
  if (tagged.code !== 0) throw new Error(`docker tag ${builtRef} failed: ${tagged.stderr}`);
  await saveToCache(docker, portcullisRef, portcullisArchive(key), 'portcullis');
}

export interface ClusterImages {
  /** docker-save archives holding both images. */
  archives: string[];
  /** Chart values naming them, pullPolicy Never (the node has no registry to pull from). */
  values: string[];
  /** Seconds the builds took, or 0 when both archives came from the cache. */
  builtSeconds: number;
}

export const imageValues = (): string[] => [
  `image.repository=${PORTCULLIS_IMAGE.repository}`,
  `image.tag=${PORTCULLIS_IMAGE.tag}`,
  'image.pullPolicy=Never',
  `registry.image.repository=${REGISTRY_IMAGE.repository}`,
  `registry.image.tag=${REGISTRY_IMAGE.tag}`,
  'registry.image.pullPolicy=Never',
];

/** The archives for the sources as they stand, built (several minutes) only when the cache lacks them. */
export async function clusterImages(): Promise<ClusterImages> {
  const given = process.env.PORTCULLIS_CLUSTER_IMAGES;
  if (given) return { archives: given.split(','), values: imageValues(), builtSeconds: 0 };
  const key = await portcullisImageKey();
  const portcullis = portcullisArchive(key);
  const distribution = distributionArchive();
  const archives = [portcullis, distribution];
  if (archives.every((a) => existsSync(a))) return { archives, values: imageValues(), builtSeconds: 0 };

  const started = Date.now();
  await mkdir(CACHE, { recursive: true });
  const work = await mkdtemp(join(CACHE, 'build-'));
  const engine = await startDocker({ storageDriver: 'overlay2' });
  try {
    const config = join(work, 'docker-config');
    await mkdir(config);
    const docker: Docker = (args, env) => engine.docker(args, config, undefined, env);
    const must = async (args: string[], env?: NodeJS.ProcessEnv): Promise<void> => {
      const r = await docker(args, env);
      if (r.code !== 0) throw new Error(`docker ${args[0]} failed: ${r.stdout.slice(-3000)}${r.stderr}`);
    };
    if (!existsSync(portcullis)) {
      const rootfs = join(repoRoot, '.tools', `node-image-${versions().NODE_IMAGE_VERSION}`, 'rootfs.tar');
      await must(['import', '--change', 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt', rootfs, 'node:24-bookworm-slim']);
      await must(['build', '--network', 'host', '-t', portcullisRef, repoRoot], { DOCKER_BUILDKIT: '0' });
      await saveToCache(docker, portcullisRef, portcullis, 'portcullis');
    }
    if (!existsSync(distribution)) {
      const registryContext = join(work, 'registry');
      await mkdir(registryContext);
      await copyFile(toolPath('registry-v3'), join(registryContext, 'registry'));
      await writeFile(join(registryContext, 'config.yml'), REGISTRY_CONFIG);
      await writeFile(join(registryContext, 'Dockerfile'), REGISTRY_DOCKERFILE);
      await must(['build', '--network', 'host', '-t', distributionRef, registryContext], { DOCKER_BUILDKIT: '0' });
      await saveToCache(docker, distributionRef, distribution, 'distribution');
    }
  } finally {
    await engine.stop();
    await rm(work, { recursive: true, force: true });
  }
  return { archives, values: imageValues(), builtSeconds: Math.round((Date.now() - started) / 1000) };
}
