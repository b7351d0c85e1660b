// Milliseconds spent in each named phase of one piece of work, for a debug line: cheap enough to run on
// every reconcile (one clock read per phase), whether or not the line is written.
import { performance } from 'node:perf_hooks';

export class PhaseTimer {
  private readonly start = performance.now();
  private last = this.start;
  private readonly spent: Record<string, number> = {};

  /** Ends the phase named `phase` now; a name marked twice adds up. */
  mark(phase: string): void {
    const now = performance.now();
    this.spent[phase] = (this.spent[phase] ?? 0) + (now - this.last);
    this.last = now;
  }

  /** Each phase's milliseconds (one decimal), and `total` since the timer was made. */
  phases(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [phase, ms] of Object.entries(this.spent)) out[phase] = Math.round(ms * 10) / 10;
    out.total = Math.round((this.last - this.start) * 10) / 10;
    return out;
  }
}
