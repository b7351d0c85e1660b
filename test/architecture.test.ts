// The house is one-way: operator/ and token-server/ share wire/ (the contract), kube/ (Kubernetes
// plumbing) and policy/ (the pure core), and never import each other; the shared rooms import neither.
// And no source file grows past what a reader takes in at once.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../local/tools.js';

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(repoRoot, dir))) {
    const path = join(dir, entry);
    if (statSync(join(repoRoot, path)).isDirectory()) out.push(...sources(path));
    else if (path.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** The repository-relative files a source file imports (relative imports only). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(repoRoot, file), 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) found.push(normalize(join(dirname(file), m[1] as string)));
  return found;
}

const top = (path: string): string => path.split('/')[0] as string;

/** Which top-level folders each folder may import (besides itself and npm packages). */
const ALLOWED: Record<string, string[]> = {
  policy: ['crds'],
  wire: ['policy'],
  kube: ['policy'],
  'token-server': ['policy', 'wire', 'kube', 'crds'],
  operator: ['policy', 'wire', 'kube', 'crds', 'credentials', 'pki'],
  // The activity server (registry notifications, the audit trail, webhooks): a third process beside the
  // other two, speaking to them only through wire/ and the cluster.
  activity: ['policy', 'wire', 'kube', 'crds'],
  // Runs on every node for the kubelet: it needs nothing of the house.
  'credential-provider': [],
  // Image lifecycle (retention runs): the registry API, the trail's and tokens' API types, the planner.
  lifecycle: ['policy', 'wire', 'kube', 'crds', 'activity'],
};

/** Packages policy/ may use: computation only, no I/O (a CEL interpreter evaluates claim conditions; cron-parser computes fire times from an instant it is given; semver orders versions for keepNewestSemver). */
const PURE_PACKAGES = ['node:crypto', '@marcbachmann/cel-js', 'cron-parser', 'semver'];

describe('architecture', () => {
  it.each(Object.keys(ALLOWED))('%s/ imports only what it may (operator/ and token-server/ never each other)', (folder) => {
    const wrong: string[] = [];
    for (const file of sources(folder).filter((f) => !f.endsWith('.test.ts'))) {
      for (const target of importsOf(file)) {
        const to = top(target);
        if (to !== folder && !(ALLOWED[folder] ?? []).includes(to)) wrong.push(`${file} -> ${target}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('policy/ is a pure core: no I/O, no Kubernetes client, no clock', () => {
    const impure: string[] = [];
    for (const file of sources('policy').filter((f) => !f.endsWith('.test.ts'))) {
      const text = readFileSync(join(repoRoot, file), 'utf8');
      for (const m of text.matchAll(/from\s+['"]([^'"]+)['"]/g)) {
        const spec = m[1] as string;
        if (spec.startsWith('.')) continue;
        if (!PURE_PACKAGES.includes(spec)) impure.push(`${file} imports ${spec}`);
      }
      if (/\bnew Date\(\)|Date\.now\(\)/.test(text)) impure.push(`${file} reads the clock`);
    }
    expect(impure).toEqual([]);
  });

  it('no source file over 400 lines (tests and generated files aside)', () => {
    const folders = [
      'policy',
      'wire',
      'kube',
      'token-server',
      'operator',
      'activity',
      'bin',
      'lifecycle',
      'crds',
      'pki',
      'credentials',
      'credential-provider',
      'local',
      'bench',
    ];
    const long = folders
      .flatMap(sources)
      .filter((f) => !f.endsWith('.test.ts'))
      .map((f) => [relative(repoRoot, join(repoRoot, f)), readFileSync(join(repoRoot, f), 'utf8').split('\n').length] as const)
      .filter(([, lines]) => lines > 400);
    expect(long).toEqual([]);
  });

  it('reads the imports it checks (token-server/ does import policy/)', () => {
    const seen = sources('token-server').flatMap(importsOf).map(top);
    expect(seen).toContain('policy');
  });
});
