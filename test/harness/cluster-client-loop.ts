// Clients on the host working through something that happens to the cluster (a rotation, a pod deleted, a
// restart): one after another, a push of a new tag, a full pull (manifest and every blob) and a digest
// lookup, each a fresh crane process that asks the token server for its own token. Every operation that
// fails is recorded with crane's last line; with `retries: 1` a failed operation is tried once more, and
// the first failure is recorded as retried instead (what a CI job's retry would absorb).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { craneDigest, cranePull, cranePush, type ClientContext, type ClientResult } from './clients.js';

export interface ClientLoop {
  /** Operations finished (each counted once, however many attempts it took). */
  operations(): number;
  /** Operations that failed on every attempt. */
  failures(): string[];
  /** Operations that failed once and succeeded when tried again. */
  retried(): string[];
  stop(): Promise<void>;
}

export interface ClientLoopOptions {
  /** repository:tag of an image that exists, to pull. */
  pull: string;
  /** Repository to push new tags to. */
  pushRepository: string;
  /** An OCI layout to push. */
  layoutDir: string;
  ctx: ClientContext;
  registryHost: string;
  retries?: 0 | 1;
}

export function startClientLoop(options: ClientLoopOptions): ClientLoop {
  const { registryHost, ctx } = options;
  let operations = 0;
  let stopped = false;
  const failures: string[] = [];
  const retried: string[] = [];
  const lastLine = (r: ClientResult) => r.stderr.trim().split('\n').slice(-1)[0] ?? '';
  const loop = (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-client-loop-'));
    try {
      for (let i = 0; !stopped; i++) {
        const kind = (['push', 'pull', 'digest'] as const)[i % 3]!;
        const attempt = (): Promise<ClientResult> => {
          if (kind === 'push') return cranePush(options.layoutDir, `${registryHost}/${options.pushRepository}:loop-${i}`, ctx);
          if (kind === 'digest') return craneDigest(`${registryHost}/${options.pull}`, ctx);
          return cranePull(`${registryHost}/${options.pull}`, join(dir, `pull-${i}`), ctx).finally(() =>
            rm(join(dir, `pull-${i}`), { recursive: true, force: true }),
          );
        };
        let r = await attempt();
        if (r.code !== 0 && (options.retries ?? 0) > 0) {
          retried.push(`${new Date().toISOString()} ${kind} ${i}: ${lastLine(r)}`);
          r = await attempt();
        }
        if (r.code !== 0) failures.push(`${new Date().toISOString()} ${kind} ${i}: ${lastLine(r)}`);
        operations += 1;
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return {
    operations: () => operations,
    failures: () => [...failures],
    retried: () => [...retried],
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
