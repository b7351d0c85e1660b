// A registry's filesystem storage written straight to disk, in Distribution's layout (checked against
// what a crane push into v3 writes): one config and one layer blob shared by every image, and per tag a
// distinct manifest (an annotation names repository and tag), linked as a real push links it:
//   blobs/sha256/<xx>/<hex>/data                                   the bytes (manifests are blobs too)
//   repositories/<name>/_layers/sha256/<hex>/link                  the config and layer, per repository
//   repositories/<name>/_manifests/revisions/sha256/<hex>/link     each manifest
//   repositories/<name>/_manifests/tags/<tag>/current/link         the tag's digest
//   repositories/<name>/_manifests/tags/<tag>/index/sha256/<hex>/link
// Every link holds `sha256:<hex>` with no newline. Pushing 100,000 manifests through the API would take
// most of an hour; writing them takes a minute.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface GeneratedStorage {
  repositories: string[];
  tags: number;
  manifests: number;
}

const hexOf = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

function writeBlob(root: string, data: Buffer | string): string {
  const hex = hexOf(data);
  const dir = join(root, 'blobs', 'sha256', hex.slice(0, 2), hex);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'data'), data);
  return hex;
}

function link(path: string, hex: string): void {
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'link'), `sha256:${hex}`);
}

/** Tag `t` of every repository: releases 1.0.0 .. 1.(n-1).0. */
export const benchTag = (t: number): string => `1.${t}.0`;

export function writeRegistryStorage(storageDir: string, repositoryCount: number, tagsPerRepository: number): GeneratedStorage {
  const root = join(storageDir, 'docker', 'registry', 'v2');
  const layerBytes = Buffer.alloc(2048, 7);
  const layer = { hex: writeBlob(root, layerBytes), size: layerBytes.length };
  const configText = JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${layer.hex}`] } });
  const config = { hex: writeBlob(root, configText), size: Buffer.byteLength(configText) };
  const repositories: string[] = [];
  for (let r = 0; r < repositoryCount; r++) {
    const name = `bench/app-${String(r).padStart(4, '0')}`;
    repositories.push(name);
    const repo = join(root, 'repositories', ...name.split('/'));
    link(join(repo, '_layers', 'sha256', layer.hex), layer.hex);
    link(join(repo, '_layers', 'sha256', config.hex), config.hex);
    for (let t = 0; t < tagsPerRepository; t++) {
      const tag = benchTag(t);
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${config.hex}`, size: config.size },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${layer.hex}`, size: layer.size }],
        annotations: { 'dev.portcullis.bench': `${name}:${tag}` },
      });
      const hex = writeBlob(root, manifest);
      link(join(repo, '_manifests', 'revisions', 'sha256', hex), hex);
      link(join(repo, '_manifests', 'tags', tag, 'current'), hex);
      link(join(repo, '_manifests', 'tags', tag, 'index', 'sha256', hex), hex);
    }
  }
  return { repositories, tags: repositoryCount * tagsPerRepository, manifests: repositoryCount * tagsPerRepository };
}
