// What the operator's /healthz and /readyz say, from the informers' and workers' own bookkeeping:
// - not ready: a cache has not listed yet, or a watch has been failing or silent past its deadline (a
//   replica that cannot see the cluster should not count as available, leader or not);
// - not live: a worker has been stuck in one reconcile past `wedgedAfterMs`, or a watch has been silent
//   past twice its deadline without even failing (its watchdog should have restarted it): restarting
//   the process is the cure for both. An API server outage makes a replica unready, never unlive.

import type { InFlight } from './reconciler.js';

export interface WatchHealth {
  synced: boolean;
  lastActivityAt: number;
  failing: boolean;
  staleAfterMs: number;
}

export interface HealthReport {
  live: boolean;
  ready: boolean;
  problems: string[];
}

export function healthReport(watches: ReadonlyMap<string, WatchHealth>, inFlight: InFlight | undefined, now: number, wedgedAfterMs: number): HealthReport {
  const problems: string[] = [];
  let live = true;
  let ready = true;
  for (const [name, w] of watches) {
    const silentMs = now - w.lastActivityAt;
    if (!w.synced) {
      ready = false;
      problems.push(`${name}: not listed yet`);
    } else if (silentMs > w.staleAfterMs) {
      ready = false;
      problems.push(`${name}: ${w.failing ? 'failing' : 'silent'} for ${Math.round(silentMs / 1000)} s`);
      if (!w.failing && silentMs > 2 * w.staleAfterMs) live = false;
    }
  }
  const oldest = inFlight?.oldest(now);
  if (oldest !== undefined && oldest.ms > wedgedAfterMs) {
    live = false;
    problems.push(`${oldest.controller} worker stuck on ${oldest.key} for ${Math.round(oldest.ms / 1000)} s`);
  }
  return { live, ready, problems };
}
