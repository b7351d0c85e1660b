// Where the binaries built by test/env/setup.sh live, and the versions they were built at. Used by
// `portcullis demo` and by the test harness (test/harness re-exports these modules).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository checkout: this file is local/tools.ts, or dist/local/tools.js after a build. */
function findRepoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [resolve(here, '..'), resolve(here, '..', '..')]) {
    if (existsSync(join(candidate, 'test', 'env', 'versions.env'))) return candidate;
  }
  throw new Error(`cannot find test/env/versions.env above ${here}: the local control plane needs a repository checkout`);
}

export const repoRoot = findRepoRoot();

function readVersions(): Record<string, string> {
  const text = readFileSync(join(repoRoot, 'test', 'env', 'versions.env'), 'utf8');
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(\S+)/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export const versions = readVersions();

const toolsDir = process.env.PORTCULLIS_TOOLS_DIR ?? join(repoRoot, '.tools');

type BuiltTool = 'kube-apiserver' | 'etcd' | 'crane' | 'helm' | 'registry-v3';

const toolVersion: Record<BuiltTool, [dir: string, version: string | undefined, binary: string]> = {
  'kube-apiserver': ['kube-apiserver', versions.KUBERNETES_VERSION, 'kube-apiserver'],
  etcd: ['etcd', versions.ETCD_VERSION, 'etcd'],
  crane: ['crane', versions.CRANE_VERSION, 'crane'],
  helm: ['helm', versions.HELM_VERSION, 'helm'],
  'registry-v3': ['registry', versions.DISTRIBUTION_V3_VERSION, 'registry'],
};

/** Absolute path of a tool built by setup.sh; throws with the fix when it is missing. */
export function toolPath(name: BuiltTool): string {
  const [dir, version, binary] = toolVersion[name];
  const path = join(toolsDir, `${dir}-${version}`, binary);
  if (!existsSync(path)) {
    throw new Error(`${name} ${version} is not built (${path} missing): run 'bash test/env/setup.sh'`);
  }
  return path;
}

/** Debian's Distribution 2.8 binary. */
export const registry28Path = '/usr/bin/docker-registry';
