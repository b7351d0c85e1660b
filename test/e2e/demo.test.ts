// `portcullis demo` as a newcomer runs it: started in the background, used with crane and kubectl as
// its instructions say, and stopped with Ctrl-C (SIGINT) leaving nothing running.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { craneDigest, cranePush, registryRefusal } from '../harness/clients.js';
import { kubectl } from '../../local/controlPlane.js';
import { buildImage } from '../harness/image.js';
import { cliPath } from '../harness/portcullis.js';
import { startProcess, waitFor, type ManagedProcess } from '../../local/process.js';
import type { TestTLS } from '../../local/tls.js';

/** Pids of the direct children of `pid`. */
function childPids(pid: number): number[] {
  const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => n > 0);
}

describe('portcullis demo', () => {
  let demo: ManagedProcess;
  let dir: string;
  const field = (name: string): string => {
    const m = new RegExp(`${name}\\s+(\\S+)`).exec(demo.output());
    if (!m) throw new Error(`demo output has no ${name} line:\n${demo.output()}`);
    return m[1]!;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-demo-test-'));
    demo = startProcess('demo', process.execPath, [cliPath, 'demo']);
    await waitFor(
      'the demo ready line',
      async () => {
        if (demo.child.exitCode !== null) throw new Error(`demo exited with ${demo.child.exitCode}`);
        return demo.output().includes('portcullis demo ready');
      },
      180_000,
      () => demo.output(),
    );
  });
  afterAll(async () => {
    await demo?.stop(15_000);
    await rm(dir, { recursive: true, force: true });
  });

  it('prints working commands: alice pushes and pulls team-a/app, bob may not push there until a grant changes', async () => {
    const ca = field('CA');
    const host = /registry\s+https:\/\/(\S+)/.exec(demo.output())![1]!;
    const kubeconfig = /export KUBECONFIG=(\S+)/.exec(demo.output())![1]!;
    const tls = { caCertPath: ca, env: { SSL_CERT_FILE: ca } } as unknown as TestTLS;
    const image = await buildImage(join(dir, 'img'));
    const alice = { tls, auth: { username: 'alice', password: 'alice-example-password' } };
    const bob = { tls, auth: { username: 'bob', password: 'bob-example-password' } };
    const pushed = await cranePush(image.layoutDir, `${host}/team-a/app:1`, alice);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect((await craneDigest(`${host}/team-a/app:1`, alice)).stdout.trim()).toBe(image.digest);
    const refused = await cranePush(image.layoutDir, `${host}/team-a/app:2`, bob);
    expect(registryRefusal(refused), refused.stderr).toBe('UNAUTHORIZED');

    // the kubectl command the demo prints
    const patched = await kubectl({ kubeconfigPath: kubeconfig }, [
      '-n',
      'registry',
      'patch',
      'repositorygrant',
      'team-b-write',
      '--type=merge',
      '-p',
      '{"spec":{"repositories":["team-b/**","team-a/**"]}}',
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    await waitFor('bob to be allowed to push team-a/**', async () => (await cranePush(image.layoutDir, `${host}/team-a/app:2`, bob)).code === 0, 30_000);
  });

  it('stops everything on SIGINT', async () => {
    const children = childPids(demo.child.pid!);
    // etcd, kube-apiserver, the operator, the token server and the registry
    expect(children.length).toBeGreaterThanOrEqual(5);
    demo.child.kill('SIGINT');
    const code = await demo.exited;
    expect(code).toBe(0);
    expect(demo.output()).toContain('demo stopped');
    const alive = children.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    expect(alive).toEqual([]);
  });
});
