// One test node per machine: the kubelet's fixed paths, the KUBE-* iptables chains and the kubepods
// cgroups cannot be shared, and starting a node removes a previous node's leftovers, which would kill a
// node another process is still using. The lock is a file holding its owner's pid, created exclusively;
// a lock whose owner has died is stale and taken over (its node's leftovers are then removed).
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LOCK_PATH = join(tmpdir(), 'portcullis-node.lock');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function owner(): Promise<number | undefined> {
  const text = await readFile(LOCK_PATH, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Takes the machine's node lock, waiting up to `timeoutMs` while another live process holds it.
 * Resolves with a function that releases it.
 */
export async function acquireNodeLock(timeoutMs: number): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await writeFile(LOCK_PATH, `${process.pid}\n`, { flag: 'wx' });
      return async () => {
        if ((await owner()) === process.pid) await rm(LOCK_PATH, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = await owner();
    if (pid === process.pid) throw new Error('this process already runs the test node: stop it before starting another');
    if (pid === undefined || !alive(pid)) {
      await rm(LOCK_PATH, { force: true }); // stale: its owner died (its node's leftovers are removed next)
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`another process (pid ${pid}) runs the test node on this machine (lock ${LOCK_PATH}); only one node can run at a time`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
