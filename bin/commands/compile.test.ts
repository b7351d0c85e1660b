import bcrypt from 'bcrypt';
import { Command } from 'commander';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCredentials, parseSnapshot } from '../../policy/snapshot-format.js';
import { compileManifests, register } from './compile.js';

const COST = 4;

describe('portcullis compile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-compile-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('compiles the examples: every object Ready, files written, passwords verifiable', async () => {
    const outDir = join(dir, 'examples');
    const outcome = await compileManifests({ files: ['examples'], outDir, cost: COST });
    expect(outcome.err).toEqual([]);
    expect(outcome.exitCode).toBe(0);
    expect(outcome.out[0]).toMatch(/^Registry registry\/main \(service registry\.example\.com\): 4 users, 6 grants, generation [0-9a-f]{12}$/);

    const snapshot = parseSnapshot(await readFile(join(outDir, 'snapshot.json'), 'utf8'));
    expect(snapshot.registries.map((r) => r.users.map((u) => u.username))).toEqual([['alice', 'bob', 'ci-bot', 'team-a-deployer']]);
    const credentials = parseCredentials(await readFile(join(outDir, 'credentials.json'), 'utf8'));
    const hashes = credentials.registries['registry/main'] ?? {};
    expect(await bcrypt.compare('alice-example-password', hashes.alice ?? '')).toBe(true);
    expect(await bcrypt.compare('bob-example-password', hashes.bob ?? '')).toBe(true);
    expect(await bcrypt.compare('team-a-deployer-example-password', hashes['team-a-deployer'] ?? '')).toBe(true);
    expect((await stat(join(outDir, 'credentials.json'))).mode & 0o777).toBe(0o600);
  });

  it('writes byte-identical files when compiling unchanged input again', async () => {
    const outDir = join(dir, 'again');
    await compileManifests({ files: ['examples'], outDir, cost: COST });
    const first = [await readFile(join(outDir, 'snapshot.json'), 'utf8'), await readFile(join(outDir, 'credentials.json'), 'utf8')];
    await compileManifests({ files: ['examples'], outDir, cost: COST });
    const second = [await readFile(join(outDir, 'snapshot.json'), 'utf8'), await readFile(join(outDir, 'credentials.json'), 'utf8')];
    expect(second).toEqual(first);
  });

  it('refuses invalid manifests with file, document and field, and writes nothing', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(
      bad,
      'apiVersion: portcullis.dev/v1alpha1\nkind: RepositoryGrant\nmetadata: {name: x, namespace: registry}\n' +
        'spec:\n  registryRef: {name: main}\n  subjects: [{kind: User}]\n  repositories: ["a/**"]\n  actions: [pull]\n',
    );
    const outDir = join(dir, 'bad-out');
    const outcome = await compileManifests({ files: ['examples', bad], outDir, cost: COST });
    expect(outcome.exitCode).toBe(2);
    expect(outcome.wrote).toBe(false);
    expect(outcome.err).toEqual([
      `error: ${bad}: document 1 (RepositoryGrant registry/x): spec.subjects[0].name: User and Group subjects need a name`,
      'error: 1 invalid manifest(s); nothing written',
    ]);
    await expect(stat(outDir)).rejects.toThrow();
  });

  it('exits 2 and names every object that is not Ready; --allow-not-ready writes anyway', async () => {
    const extra = join(dir, 'not-ready.yaml');
    await writeFile(
      extra,
      `apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: grab-all, namespace: team-a}
spec:
  registryRef: {name: main, namespace: registry}
  subjects: [{kind: User, name: team-a-deployer}]
  repositories: ["team-b/**"]
  actions: [push]
---
apiVersion: portcullis.dev/v1alpha1
kind: RegistryUser
metadata: {name: carol, namespace: registry}
spec:
  registryRef: {name: main}
  passwordSecretRef: {name: carol-password}
`,
    );
    const outDir = join(dir, 'not-ready-out');
    const refused = await compileManifests({ files: ['examples', extra], outDir, cost: COST });
    expect(refused.exitCode).toBe(2);
    expect(refused.wrote).toBe(false);
    expect(refused.err).toHaveLength(3);
    expect(refused.err[0]).toMatch(/^not ready: RegistryUser registry\/carol: Ready=False SecretNotFound: .*carol-password/);
    expect(refused.err[1]).toMatch(/^not ready: RepositoryGrant team-a\/grab-all: Ready=False OutsideDelegatedPrefix: /);
    expect(refused.err[2]).toBe('error: 2 object(s) not Ready; nothing written (--allow-not-ready writes anyway)');

    const written = await compileManifests({ files: ['examples', extra], outDir, cost: COST, allowNotReady: true });
    expect(written.exitCode).toBe(2);
    expect(written.wrote).toBe(true);
    const snapshot = parseSnapshot(await readFile(join(outDir, 'snapshot.json'), 'utf8'));
    expect(snapshot.registries[0]?.grants.map((g) => g.source)).not.toContain('team-a/grab-all');
  });

  it('refuses input without any Registry', async () => {
    const outcome = await compileManifests({ files: ['examples/grants.yaml'], outDir: join(dir, 'none'), cost: COST });
    expect(outcome.exitCode).toBe(2);
    expect(outcome.err).toEqual(['error: no Registry in examples/grants.yaml; nothing written']);
  });

  it('registers `compile` with -f (repeatable) and -o', async () => {
    const program = new Command().exitOverride();
    register(program);
    const outDir = join(dir, 'cli');
    const previous = process.exitCode;
    const writes: string[] = [];
    const original = process.stdout.write.bind(process.stdout);
    process.stdout.write = (chunk: string) => (writes.push(String(chunk)), true);
    try {
      await program.parseAsync([
        'node',
        'portcullis',
        'compile',
        '-f',
        'examples/00-namespaces.yaml',
        '-f',
        'examples/registry.yaml',
        '-o',
        outDir,
        '--bcrypt-cost',
        '4',
      ]);
    } finally {
      process.stdout.write = original;
    }
    expect(process.exitCode ?? 0).toBe(0);
    process.exitCode = previous;
    expect(writes.join('')).toContain('Registry registry/main (service registry.example.com): 0 users, 0 grants');
    expect(parseSnapshot(await readFile(join(outDir, 'snapshot.json'), 'utf8')).registries).toHaveLength(1);
  });
});
