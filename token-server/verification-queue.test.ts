import { describe, expect, it } from 'vitest';
import { clientKey } from './client-key.js';
import { VerificationBusy, VerificationQueue } from './verification-queue.js';

/** A task the test finishes by hand, recording when it started. */
function gate(log: string[], name: string): { task: () => Promise<string>; open: () => void } {
  let open!: () => void;
  const done = new Promise<void>((resolve) => (open = resolve));
  return {
    task: async () => {
      log.push(name);
      await done;
      return name;
    },
    open: () => open(),
  };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('VerificationQueue', () => {
  it('runs at most `concurrency` tasks at once', async () => {
    const q = new VerificationQueue({ concurrency: 2, maxQueued: 10, perClient: 10, runningPerClient: 10 });
    const log: string[] = [];
    const gates = ['a', 'b', 'c'].map((n) => gate(log, n));
    const results = gates.map((g, i) => q.run(clientKey(`client-${i}`), g.task));
    await tick();
    expect(log).toEqual(['a', 'b']);
    expect(q.stats).toEqual({ running: 2, queued: 1 });
    gates[0]!.open();
    await tick();
    await tick();
    expect(log).toEqual(['a', 'b', 'c']);
    gates[1]!.open();
    gates[2]!.open();
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c']);
    expect(q.stats).toEqual({ running: 0, queued: 0 });
  });

  it('serves waiting clients round-robin: a flood from one address delays another by at most one turn', async () => {
    const q = new VerificationQueue({ concurrency: 1, maxQueued: 100, perClient: 100, runningPerClient: 1 });
    const log: string[] = [];
    const flood = Array.from({ length: 6 }, (_, i) => gate(log, `flood-${i}`));
    const runs = flood.map((g) => q.run(clientKey('flood'), g.task));
    const honest = gate(log, 'honest');
    runs.push(q.run(clientKey('honest'), honest.task));
    const finish = async (g: { open: () => void }) => {
      g.open();
      await tick();
      await tick();
    };
    await tick();
    expect(log).toEqual(['flood-0']);
    await finish(flood[0]!);
    expect(log).toEqual(['flood-0', 'flood-1']);
    await finish(flood[1]!);
    expect(log).toEqual(['flood-0', 'flood-1', 'honest']);
    await finish(honest);
    for (const g of flood.slice(2)) await finish(g);
    await Promise.all(runs);
    expect(log).toEqual(['flood-0', 'flood-1', 'honest', 'flood-2', 'flood-3', 'flood-4', 'flood-5']);
  });

  it('one address never holds every slot: another client starts at once while the first floods', async () => {
    const q = new VerificationQueue({ concurrency: 2, maxQueued: 100, perClient: 100, runningPerClient: 1 });
    const log: string[] = [];
    const flood = Array.from({ length: 5 }, (_, i) => gate(log, `flood-${i}`));
    const runs = flood.map((g) => q.run(clientKey('flood'), g.task));
    await tick();
    expect(log).toEqual(['flood-0']);
    expect(q.stats).toEqual({ running: 1, queued: 4 });
    const honest = gate(log, 'honest');
    runs.push(q.run(clientKey('honest'), honest.task));
    await tick();
    expect(log).toEqual(['flood-0', 'honest']);
    honest.open();
    for (const g of flood) g.open();
    await Promise.all(runs);
    expect(log).toHaveLength(6);
  });

  it('refuses at once, without running it, work over the per-client limit', async () => {
    const q = new VerificationQueue({ concurrency: 1, maxQueued: 100, perClient: 2, runningPerClient: 1 });
    const log: string[] = [];
    const gates = [gate(log, 'a'), gate(log, 'b')];
    const running = gates.map((g) => q.run(clientKey('x'), g.task));
    const refused = q.run(clientKey('x'), async () => {
      log.push('never');
      return 'never';
    });
    await expect(refused).rejects.toBeInstanceOf(VerificationBusy);
    await expect(refused).rejects.toMatchObject({ scope: 'client' });
    const other = gate(log, 'other');
    const fromElsewhere = q.run(clientKey('y'), other.task);
    for (const g of [...gates, other]) g.open();
    await Promise.all([...running, fromElsewhere]);
    expect(log).not.toContain('never');
    expect(log).toContain('other');
  });

  it('refuses work when the whole queue is full', async () => {
    const q = new VerificationQueue({ concurrency: 1, maxQueued: 1, perClient: 10, runningPerClient: 1 });
    const log: string[] = [];
    const a = gate(log, 'a');
    const b = gate(log, 'b');
    const runs = [q.run(clientKey('1'), a.task), q.run(clientKey('2'), b.task)];
    await expect(q.run(clientKey('3'), async () => 'c')).rejects.toMatchObject({ scope: 'server' });
    a.open();
    b.open();
    await Promise.all(runs);
  });

  it('a task that throws frees its place', async () => {
    const q = new VerificationQueue({ concurrency: 1, maxQueued: 1, perClient: 1, runningPerClient: 1 });
    await expect(q.run(clientKey('x'), async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await q.run(clientKey('x'), async () => 'again')).toBe('again');
  });
});
