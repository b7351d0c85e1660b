// Full pulls (manifest and every blob, crane) of kept images in a loop while something else happens —
// a garbage-collection window — counting pulls and failures: the proof that the window costs no pull.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cranePull, type ClientContext } from './clients.js';

export interface PullLoop {
  pulls(): number;
  /** One line per failed pull: when, what, crane's last line of error. */
  failures(): string[];
  /** Finishes the pull in progress and stops. */
  stop(): Promise<void>;
}

export function startPullLoop(refs: string[], dir: string, ctx: ClientContext): PullLoop {
  let pulls = 0;
  let stopped = false;
  const failures: string[] = [];
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      const ref = refs[i % refs.length] as string;
      const out = join(dir, `pull-${i}`);
      const r = await cranePull(ref, out, ctx);
      pulls += 1;
      if (r.code !== 0) failures.push(`${new Date().toISOString()} ${ref}: ${r.stderr.trim().split('\n').slice(-1)[0]}`);
      await rm(out, { recursive: true, force: true });
    }
  })();
  return {
    pulls: () => pulls,
    failures: () => [...failures],
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
