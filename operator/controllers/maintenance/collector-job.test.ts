import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RegistryResource } from '../../../crds/types.js';
import type { Deployment } from '../deployment.js';
import { COLLECTOR_SCRIPT, CollectorEnv, collectorJob, collectorJobName, configPath, DEFAULT_CONFIG_PATH, filesystemRoot } from './collector-job.js';
import { READ_ONLY_ENV, READ_ONLY_VALUE, readOnlyApplyPatch } from './read-only.js';

const registry = (over: Partial<RegistryResource['spec']> = {}): RegistryResource => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'Registry',
  metadata: { name: 'main', namespace: 'registry', uid: 'u1' },
  spec: { service: 's', distribution: { deployment: 'd' }, ...over },
});

const deployment: Deployment = {
  metadata: { name: 'd' },
  spec: {
    template: {
      spec: {
        containers: [
          {
            name: 'registry',
            image: 'registry:3.0.0',
            env: [
              { name: READ_ONLY_ENV, value: READ_ONLY_VALUE },
              { name: 'A', value: '1' },
            ],
          },
        ],
      },
    },
  },
};

type JobShape = { metadata: { name: string }; spec: { template: { spec: { containers: { image: string; env: { name: string; value?: string }[] }[] } } } };

describe('collector Job', () => {
  it('is named after its request, within the 63 characters a label value allows', () => {
    const name = collectorJobName('r'.repeat(253), 'schedule:2026-01-01T00:00:00.000Z');
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^r+-gc-[0-9a-f]{10}$/);
    expect(collectorJobName('main', 'a')).not.toBe(collectorJobName('main', 'b'));
  });

  it.each<[string, Parameters<typeof filesystemRoot>, string]>([
    ['filesystem storage: its root directory', [{ filesystem: { claimName: 'c', rootDirectory: '/data' } }, { name: 'r' }], '/data'],
    ['filesystem storage without one: Distribution’s default', [{ filesystem: { claimName: 'c' } }, { name: 'r' }], '/var/lib/registry'],
    ['S3: nothing to measure', [{ s3: { bucket: 'b', region: 'r' } }, { name: 'r' }], ''],
    ['no spec.storage, the container’s own root', [undefined, { name: 'r', env: [{ name: 'REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY', value: '/x' }] }], '/x'],
    ['no spec.storage, the container switched to another driver', [undefined, { name: 'r', env: [{ name: 'REGISTRY_STORAGE', value: 's3' }] }], ''],
  ])('measures %s', (_name, args, expected) => {
    expect(filesystemRoot(...args)).toBe(expected);
  });

  it.each([
    [['serve', '/etc/registry/config.yaml'], '/etc/registry/config.yaml'],
    [[], DEFAULT_CONFIG_PATH],
  ])('reads the config the registry serves: %j', (args, expected) => {
    expect(configPath({ name: 'r', args })).toBe(expected);
  });

  it('runs without the read-only switch, with the registry image unless spec.garbageCollection.image says otherwise', () => {
    const job = collectorJob({
      registry: registry(),
      deployment,
      containerName: 'registry',
      requestId: 'x',
      settings: undefined,
      timeoutSeconds: 60,
    }) as JobShape;
    const c = job.spec.template.spec.containers[0]!;
    expect(c.image).toBe('registry:3.0.0');
    expect(c.env.map((e) => e.name)).not.toContain(READ_ONLY_ENV);
    expect(c.env).toContainEqual({ name: 'A', value: '1' });
    const custom = collectorJob({
      registry: registry(),
      deployment,
      containerName: 'registry',
      requestId: 'x',
      settings: { image: 'gc:1' },
      timeoutSeconds: 60,
    }) as JobShape;
    expect(custom.spec.template.spec.containers[0]!.image).toBe('gc:1');
  });

  it("carries the registry pod's automountServiceAccountToken: a registry without an API token gives its collector none", () => {
    const withoutToken: Deployment = {
      ...deployment,
      spec: { template: { spec: { ...deployment.spec!.template!.spec!, automountServiceAccountToken: false } } },
    };
    const job = collectorJob({
      registry: registry(),
      deployment: withoutToken,
      containerName: 'registry',
      requestId: 'x',
      settings: undefined,
      timeoutSeconds: 60,
    });
    expect((job as { spec: { template: { spec: { automountServiceAccountToken?: boolean } } } }).spec.template.spec.automountServiceAccountToken).toBe(false);
    const plain = collectorJob({ registry: registry(), deployment, containerName: 'registry', requestId: 'x', settings: undefined, timeoutSeconds: 60 });
    expect((plain as { spec: { template: { spec: Record<string, unknown> } } }).spec.template.spec).not.toHaveProperty('automountServiceAccountToken');
  });

  it('a Deployment without the container is an error, not a Job', () => {
    expect(() => collectorJob({ registry: registry(), deployment, containerName: 'nope', requestId: 'x', settings: undefined, timeoutSeconds: 60 })).toThrow(
      'has no container nope',
    );
  });
});

describe('read-only patch', () => {
  it('on: one env variable in the named container; off: the container with nothing, which removes it', () => {
    const target = { namespace: 'n', deploymentName: 'd', containerName: 'registry' };
    const on = readOnlyApplyPatch({ ...target, readOnly: true }) as { spec: { template: { spec: { containers: unknown[] } } } };
    expect(on.spec.template.spec.containers).toEqual([{ name: 'registry', env: [{ name: READ_ONLY_ENV, value: '{"enabled":true}' }] }]);
    const off = readOnlyApplyPatch({ ...target, readOnly: false }) as { spec: { template: { spec: { containers: unknown[] } } } };
    expect(off.spec.template.spec.containers).toEqual([{ name: 'registry' }]);
  });
});

/** Runs the wrapper with real sh, du and sed, and `registry` a stand-in script; returns exit code and termination message. */
async function runWrapper(registryScript: string, root: boolean, duWithoutB = false): Promise<{ code: number; message: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-wrapper-'));
  try {
    await mkdir(join(dir, 'bin'));
    await mkdir(join(dir, 'root'));
    await mkdir(join(dir, 'work'));
    await writeFile(join(dir, 'root', 'blob'), Buffer.alloc(5000));
    await writeFile(join(dir, 'bin', 'registry'), `#!/bin/sh\n${registryScript}\n`);
    await chmod(join(dir, 'bin', 'registry'), 0o755);
    if (duWithoutB) {
      // A du without -b (BusyBox): refuses it, answers -sk.
      await writeFile(join(dir, 'bin', 'du'), `#!/bin/sh\n[ "$1" = -sb ] && { echo "du: invalid option -- 'b'" >&2; exit 1; }\nexec /usr/bin/du "$@"\n`);
      await chmod(join(dir, 'bin', 'du'), 0o755);
    }
    const env = {
      PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}`,
      ROOT: join(dir, 'root'),
      [CollectorEnv.config]: '/config.yml',
      [CollectorEnv.root]: root ? join(dir, 'root') : '',
      [CollectorEnv.terminationLog]: join(dir, 'termination-log'),
      [CollectorEnv.workDir]: join(dir, 'work'),
    };
    const code = await new Promise<number>((resolve) =>
      execFile('/bin/sh', ['-c', COLLECTOR_SCRIPT], { env }, (error) => resolve(error ? Number(error.code ?? 1) : 0)),
    );
    return { code, message: (await readFile(join(dir, 'termination-log'), 'utf8')).trim() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('the wrapper (real sh, du, sed)', () => {
  it('reports the bytes du saw go and the counts of the summary line', async () => {
    const r = await runWrapper('rm "$ROOT/blob"; echo "3 blobs marked, 1 blobs and 0 manifests eligible for deletion"', true);
    expect(r.code).toBe(0);
    expect(r.message).toBe('bytesFreed=5000 blobsDeleted=1 manifestsDeleted=0');
  });

  it('with a du that has no -b: the KiB du -sk reports, in bytes', async () => {
    const r = await runWrapper('rm "$ROOT/blob"; echo "3 blobs marked, 1 blobs and 0 manifests eligible for deletion"', true, true);
    expect(r.code).toBe(0);
    // 5000 bytes take two 4 KiB blocks on the usual file systems: whole KiB of disk usage, not apparent bytes.
    expect(r.message).toMatch(/^bytesFreed=\d+ blobsDeleted=1 manifestsDeleted=0$/);
    expect(Number(/bytesFreed=(\d+)/.exec(r.message)?.[1]) % 1024).toBe(0);
    expect(Number(/bytesFreed=(\d+)/.exec(r.message)?.[1])).toBeGreaterThanOrEqual(4096);
  });

  it('without a filesystem root: only the counts', async () => {
    const r = await runWrapper('echo "3 blobs marked, 2 blobs and 1 manifests eligible for deletion"', false);
    expect(r.message).toBe('blobsDeleted=2 manifestsDeleted=1');
  });

  it('a collector that fails: exit 1 and its exit code and output in the message', async () => {
    const r = await runWrapper('echo "panic: storage unreachable"; exit 3', true);
    expect(r.code).toBe(1);
    expect(r.message).toBe('registry garbage-collect exited 3:\npanic: storage unreachable');
  });
});
