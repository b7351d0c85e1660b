// `portcullis demo` as a newcomer runs it: started in the background, used with crane and kubectl as
// its instructions say, and stopped with Ctrl-C (SIGINT) leaving nothing running; and stopped while it
// is still starting, which leaves nothing behind either.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl } from '../../local/controlPlane.js';
import { cliPath } from '../harness/portcullis.js';
import { run, startProcess, waitFor, type ManagedProcess } from '../../local/process.js';

/** Pids of the direct children of `pid`. */
function childPids(pid: number): number[] {
  const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => n > 0);
}

/** The pids of `pids` that still name a process. */
function stillRunning(pids: number[]): number[] {
  return pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
}

describe('portcullis demo', () => {
  let demo: ManagedProcess;
  let dir: string;

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

  /** The indented lines of the printed block that starts with `heading`. */
  const block = (heading: string): string[] => {
    const text = demo.output();
    const lines = text.slice(text.indexOf(heading)).split('\n').slice(1);
    return lines
      .slice(
        0,
        lines.findIndex((l) => l.trim() === ''),
      )
      .map((l) => l.trim());
  };

  it('prints commands that work when pasted in order: anonymous pull, alice pushes, bob is refused until a grant changes', async () => {
    const commands = block('Paste in order');
    expect(commands.length).toBeGreaterThanOrEqual(10);
    // One bash, as a user pastes them: each command's output, then its exit status on a marker line.
    const script = commands.map((c, i) => `${c}\necho "### ${i} exit $?"`).join('\n');
    const r = await run('bash', ['-c', script], { timeoutMs: 120_000 });
    const outputs = r.stdout.split(/### \d+ exit \d+\n/);
    const statuses = [...r.stdout.matchAll(/### (\d+) exit (\d+)/g)].map((m) => Number(m[2]));
    expect(statuses, r.stdout + r.stderr).toHaveLength(commands.length);
    /** The output of the first command holding every one of `parts`, after checking its exit status. */
    const check = (parts: string | string[], status: number): string => {
      const wanted = typeof parts === 'string' ? [parts] : parts;
      const i = commands.findIndex((c) => wanted.every((p) => c.includes(p)));
      expect(i, wanted.join(' ')).toBeGreaterThanOrEqual(0);
      expect(statuses[i], `${commands[i]}\n${outputs[i]}\n${r.stderr}`).toBe(status);
      return outputs[i]!;
    };
    expect(check('public/hello:1', 0)).toMatch(/^sha256:[0-9a-f]{64}/);
    check('-u alice', 0);
    check('team-a/app:1    #', 0);
    expect(check(['digest', 'team-a/app:1'], 0)).toMatch(/sha256:/);
    check('-u bob', 0);
    // bob's refusal, as crane prints it: its token lacks push, so Distribution answers crane's first
    // request (a HEAD of the manifest) with 401, which has no body to carry a code.
    const bobPush = commands.findIndex((c) => c.includes('team-a/app:2') && !c.startsWith('sleep'));
    expect(statuses[bobPush]).not.toBe(0);
    expect(r.stderr).toMatch(/team-a\/app\/manifests\/2: unexpected status code 401 Unauthorized/);
    check('patch repositorygrant', 0);
    check('sleep 3', 0);
    expect(check('get registries', 0)).toContain('team-b-write');
    expect(check('grep \'"audit"\'', 0)).toContain('"audit":"token"');
  });

  it('prints a trust directory other clients read: skopeo inspects the sample image with it', async () => {
    const skopeo = block('Other clients').find((c) => c.startsWith('skopeo'))!;
    const r = await run('bash', ['-c', skopeo]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ Name: expect.stringContaining('/public/hello') as unknown });
  });

  it('kubectl get registryusers shows each login name in effect, also where spec.username is not set', async () => {
    const kubeconfig = /export KUBECONFIG=(\S+)/.exec(demo.output())![1]!;
    const users = await kubectl({ kubeconfigPath: kubeconfig }, ['get', 'registryusers', '-A']);
    expect(users.stdout).toMatch(/team-a\s+team-a-deployer\s+main\s+team-a-deployer\s+True/);
    expect(users.stdout).toMatch(/registry\s+alice\s+main\s+alice\s+True/);
  });

  it('stops everything on SIGINT', async () => {
    const children = childPids(demo.child.pid!);
    // etcd, kube-apiserver, the operator, the token server and the registry
    expect(children.length).toBeGreaterThanOrEqual(5);
    demo.child.kill('SIGINT');
    const code = await demo.exited;
    expect(code).toBe(0);
    expect(demo.output()).toContain('demo stopped');
    expect(stillRunning(children)).toEqual([]);
  });
});

describe('portcullis demo stopped while it starts', () => {
  let dir: string;
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('Ctrl-C once the control plane runs: every process it started is gone, and its temporary files', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-demo-start-'));
    // Its own TMPDIR: the control plane's and the demo's directories (keys, etcd data) must go with it. Its
    // own process group, which a terminal's Ctrl-C signals whole: the children get SIGINT too.
    const demo = startProcess('demo', process.execPath, [cliPath, 'demo'], { env: { ...process.env, TMPDIR: dir }, detached: true });
    try {
      await waitFor(
        'the control plane up',
        async () => demo.output().includes('applied the CRDs'),
        180_000,
        () => demo.output(),
      );
      const children = childPids(demo.child.pid!);
      expect(children.length).toBeGreaterThanOrEqual(2); // etcd and kube-apiserver at least
      process.kill(-demo.child.pid!, 'SIGINT');
      process.kill(-demo.child.pid!, 'SIGINT'); // a second Ctrl-C while stopping must not cut the stop short
      expect(await demo.exited).toBe(0);
      expect(demo.output()).toContain('demo stopped');
      expect(stillRunning(children)).toEqual([]);
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await demo.stop(15_000);
    }
  }, 240_000);
});
