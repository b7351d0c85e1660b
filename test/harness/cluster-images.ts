// The images the chart runs on a real node, as one docker-save archive for the node's containerd
// (`ctr images import`, RunningCluster.importImage): the Portcullis image built from the Dockerfile as it
// stands by the private Docker engine (as test/integration/image.test.ts builds it), and a Distribution v3
// image made from the registry binary setup.sh built (no registry is reachable to pull `registry:3`). The
// chart runs both with pullPolicy Never.
//
// The build takes minutes, so the archive is kept in node_modules/.cache keyed by a hash of what goes
// into it (the Dockerfile, the build context's sources, the registry binary); every cluster test file
// imports the same archive, and only the newest key is kept. PORTCULLIS_CLUSTER_IMAGES=<archive> uses an
// archive as it is (while working on the tests themselves with sources changing around them).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../local/process.js';
import { repoRoot, toolPath, versions } from '../../local/tools.js';
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

async function contextHash(): Promise<string> {
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
  hash
    .update(REGISTRY_CONFIG)
    .update(REGISTRY_DOCKERFILE)
    .update(versions().DISTRIBUTION_V3_VERSION ?? '');
  return hash.digest('hex').slice(0, 16);
}

export interface ClusterImages {
  /** A docker-save archive holding both images. */
  archive: string;
  /** Chart values naming them, pullPolicy Never (the node has no registry to pull from). */
  values: string[];
  /** Seconds the build took, or 0 when the archive came from the cache. */
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

/** The archive for the sources as they stand, built (several minutes) only when the cache lacks it. */
export async function clusterImages(): Promise<ClusterImages> {
  const given = process.env.PORTCULLIS_CLUSTER_IMAGES;
  if (given) return { archive: given, values: imageValues(), builtSeconds: 0 };
  const key = await contextHash();
  const archive = join(CACHE, `${key}.tar`);
  if (existsSync(archive)) return { archive, values: imageValues(), builtSeconds: 0 };
  const started = Date.now();
  await mkdir(CACHE, { recursive: true });
  const work = await mkdtemp(join(CACHE, 'build-'));
  const engine = await startDocker({ storageDriver: 'overlay2' });
  try {
    const config = join(work, 'docker-config');
    await mkdir(config);
    const docker = async (args: string[], env?: NodeJS.ProcessEnv): Promise<void> => {
      const r = await engine.docker(args, config, undefined, env);
      if (r.code !== 0) throw new Error(`docker ${args[0]} failed: ${r.stdout.slice(-3000)}${r.stderr}`);
    };
    const rootfs = join(repoRoot, '.tools', `node-image-${versions().NODE_IMAGE_VERSION}`, 'rootfs.tar');
    await docker(['import', '--change', 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt', rootfs, 'node:24-bookworm-slim']);
    const portcullis = `${PORTCULLIS_IMAGE.repository}:${PORTCULLIS_IMAGE.tag}`;
    await docker(['build', '--network', 'host', '-t', portcullis, repoRoot], { DOCKER_BUILDKIT: '0' });

    const registryContext = join(work, 'registry');
    await mkdir(registryContext);
    await copyFile(toolPath('registry-v3'), join(registryContext, 'registry'));
    await writeFile(join(registryContext, 'config.yml'), REGISTRY_CONFIG);
    await writeFile(join(registryContext, 'Dockerfile'), REGISTRY_DOCKERFILE);
    const distribution = `${REGISTRY_IMAGE.repository}:${REGISTRY_IMAGE.tag}`;
    await docker(['build', '--network', 'host', '-t', distribution, registryContext], { DOCKER_BUILDKIT: '0' });

    const partial = join(work, 'images.tar');
    await docker(['save', '-o', partial, portcullis, distribution]);
    for (const old of await readdir(CACHE)) if (old.endsWith('.tar')) await rm(join(CACHE, old), { force: true });
    await rename(partial, archive);
  } finally {
    await engine.stop();
    await rm(work, { recursive: true, force: true });
  }
  return { archive, values: imageValues(), builtSeconds: Math.round((Date.now() - started) / 1000) };
}
