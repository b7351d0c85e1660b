// Where the binaries built by test/env/setup.sh live, and the versions they were built at. Used by
// `portcullis demo` and by the test harness (test/harness re-exports these modules).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const versionsFile = (root: string): string => join(root, 'test', 'env', 'versions.env');

/**
 * The repository checkout: this file is local/tools.ts, or dist/local/tools.js after a build. Only the
 * demo and the tests need one; the CLI imports this module in installs without it (the container
 * image), so nothing here may fail at import time.
 */
export const repoRoot = [resolve(here, '..'), resolve(here, '..', '..')].find((c) => existsSync(versionsFile(c))) ?? resolve(here, '..');

let versionsCache: Record<string, string> | undefined;

/** The pinned versions from test/env/versions.env. */
export function versions(): Record<string, string> {
  if (versionsCache) return versionsCache;
  if (!existsSync(versionsFile(repoRoot))) {
    throw new Error(`cannot find test/env/versions.env above ${here}: the local control plane and the demo need a repository checkout`);
  }
  const out: Record<string, string> = {};
  for (const line of readFileSync(versionsFile(repoRoot), 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(\S+)/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  versionsCache = out;
  return out;
}

type BuiltTool =
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kube-proxy'
  | 'kubelet'
  | 'etcd'
  | 'crane'
  | 'helm'
  | 'registry-v3'
  | 'oras'
  | 'regctl'
  | 'weed';

const toolVersion: Record<BuiltTool, [dir: string, versionKey: string, binary: string]> = {
  'kube-apiserver': ['kube-apiserver', 'KUBERNETES_VERSION', 'kube-apiserver'],
  'kube-controller-manager': ['kube-controller-manager', 'KUBERNETES_VERSION', 'kube-controller-manager'],
  'kube-scheduler': ['kube-scheduler', 'KUBERNETES_VERSION', 'kube-scheduler'],
  'kube-proxy': ['kube-proxy', 'KUBERNETES_VERSION', 'kube-proxy'],
  kubelet: ['kubelet', 'KUBERNETES_VERSION', 'kubelet'],
  etcd: ['etcd', 'ETCD_VERSION', 'etcd'],
  crane: ['crane', 'CRANE_VERSION', 'crane'],
  helm: ['helm', 'HELM_VERSION', 'helm'],
  'registry-v3': ['registry', 'DISTRIBUTION_V3_VERSION', 'registry'],
  oras: ['oras', 'ORAS_VERSION', 'oras'],
  regctl: ['regctl', 'REGCTL_VERSION', 'regctl'],
  weed: ['weed', 'SEAWEEDFS_VERSION', 'weed'],
};

/** Absolute path of a tool built by setup.sh; throws with the fix when it is missing. */
export function toolPath(name: BuiltTool): string {
  const [dir, versionKey, binary] = toolVersion[name];
  return builtBinaryPath(dir, versions()[versionKey] ?? '', binary);
}

/** Absolute path of `binary` that setup.sh built into .tools/DIR-VERSION; throws with the fix when missing. */
export function builtBinaryPath(dir: string, version: string, binary: string): string {
  const toolsDir = process.env.PORTCULLIS_TOOLS_DIR ?? join(repoRoot, '.tools');
  const path = join(toolsDir, `${dir}-${version}`, binary);
  if (!existsSync(path)) {
    throw new Error(`${dir} ${version} is not built (${path} missing): run 'bash test/env/setup.sh'`);
  }
  return path;
}

/** Debian's Distribution 2.8 binary. */
export const registry28Path = '/usr/bin/docker-registry';
