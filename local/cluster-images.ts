// Images for the test node's containerd, built from bytes because no registry is reachable: the sandbox
// (pause) image every pod needs, and the probe the cluster's own test runs (test/tools/cluster-images).
// Each is one program in one uncompressed layer (so the layer digest is its diff_id), written as an OCI
// archive that `ctr images import` reads; the io.containerd.image.name annotation names the image.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { blobOf, tarOf, type TarEntry } from './image.js';
import { builtBinaryPath, repoRoot } from './tools.js';

export type ClusterProgram = 'pause' | 'probe';

const PROGRAMS_DIR = join(repoRoot, 'test', 'tools', 'cluster-images');

let programsVersionCache: string | undefined;

/** The cache key setup.sh builds the programs under: a hash of their sources, in the same order as there. */
export function clusterProgramsVersion(): string {
  programsVersionCache ??= createHash('sha256')
    .update(Buffer.concat(['go.mod', 'pause/main.go', 'probe/main.go'].map((f) => readFileSync(join(PROGRAMS_DIR, f)))))
    .digest('hex')
    .slice(0, 12);
  return programsVersionCache;
}

/** The image reference a program is imported under (what pods and containerd's sandbox_image name). */
export function clusterImageRef(program: ClusterProgram): string {
  return `portcullis.local/${program}:${clusterProgramsVersion()}`;
}

/**
 * Writes an OCI archive of `program`'s image to `archivePath` for RunningCluster.importImage, and returns
 * its reference. The entrypoint is the program, run as a user with no name (65532), as distroless images do.
 */
export async function writeClusterImage(program: ClusterProgram, archivePath: string): Promise<string> {
  const ref = clusterImageRef(program);
  const binary = await readFile(builtBinaryPath(program, clusterProgramsVersion(), program));
  const layer = blobOf(tarOf([{ name: program, content: binary, mode: 0o755 }]));
  const config = blobOf(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: [`/${program}`], User: '65532:65532' },
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
    }),
  );
  const manifest = blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.size }],
    }),
  );
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: manifest.digest,
        size: manifest.size,
        annotations: { 'io.containerd.image.name': ref },
      },
    ],
  };
  const entries: TarEntry[] = [
    { name: 'oci-layout', content: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
    { name: 'index.json', content: Buffer.from(JSON.stringify(index)) },
    ...[layer, config, manifest].map((b) => ({ name: `blobs/sha256/${b.digest.slice('sha256:'.length)}`, content: b.data })),
  ];
  await writeFile(archivePath, tarOf(entries));
  return ref;
}
