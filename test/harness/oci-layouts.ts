// OCI image layouts built from bytes for the retention tests: single-platform images whose layer is
// given (so two images can share a blob), and multi-platform indexes whose platform images share a layer
// with another image. `crane push DIR REF` pushes the index (its children by digest, then the index).
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { blobOf, tarWithFile, type Blob } from '../../local/image.js';

export interface LayoutImage {
  digest: string;
  size: number;
  /** The config and layer blobs. */
  blobs: Blob[];
}

export interface Layout {
  layoutDir: string;
  /** What the layout's index.json points at: the image, or the index. */
  digest: string;
  /** An index's platform images; empty for an image. */
  children: LayoutImage[];
  /** Every blob of the image or of the index's children (config and layers). */
  blobs: Blob[];
}

/** A gzipped one-file layer of random content. */
export function randomLayer(bytes = 1024): Blob {
  return blobOf(gzipSync(tarWithFile('hello.txt', randomBytes(bytes))));
}

function imageOf(layer: Blob, architecture: string): { manifest: Blob; blobs: Blob[] } {
  const config = blobOf(JSON.stringify({ architecture, os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [layer.digest] } }));
  const manifest = blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
    }),
  );
  return { manifest, blobs: [config, layer] };
}

async function writeLayout(layoutDir: string, blobs: Blob[], top: { mediaType: string; blob: Blob }): Promise<void> {
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  for (const b of blobs) await writeFile(join(layoutDir, 'blobs', 'sha256', b.digest.slice('sha256:'.length)), b.data);
  await writeFile(join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(layoutDir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: top.mediaType, digest: top.blob.digest, size: top.blob.size }],
    }),
  );
}

/** A linux image of one layer (random unless given). */
export async function imageLayout(layoutDir: string, options: { layer?: Blob; architecture?: string } = {}): Promise<Layout> {
  const { manifest, blobs } = imageOf(options.layer ?? randomLayer(), options.architecture ?? 'amd64');
  await writeLayout(layoutDir, [...blobs, manifest], { mediaType: 'application/vnd.oci.image.manifest.v1+json', blob: manifest });
  return { layoutDir, digest: manifest.digest, children: [], blobs };
}

/** An index of one image per architecture; `layers[i]` is the layer of the i-th (random unless given). */
export async function indexLayout(layoutDir: string, architectures: string[], layers: (Blob | undefined)[] = []): Promise<Layout> {
  const images = architectures.map((architecture, i) => ({ architecture, ...imageOf(layers[i] ?? randomLayer(), architecture) }));
  const index = blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: images.map((m) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: m.manifest.digest,
        size: m.manifest.size,
        platform: { architecture: m.architecture, os: 'linux' },
      })),
    }),
  );
  const blobs = images.flatMap((m) => m.blobs);
  await writeLayout(layoutDir, [...blobs, ...images.map((m) => m.manifest), index], { mediaType: 'application/vnd.oci.image.index.v1+json', blob: index });
  return { layoutDir, digest: index.digest, children: images.map((m) => ({ digest: m.manifest.digest, size: m.manifest.size, blobs: m.blobs })), blobs };
}
