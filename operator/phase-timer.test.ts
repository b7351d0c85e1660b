import { describe, expect, it, vi } from 'vitest';
import { performance } from 'node:perf_hooks';
import { PhaseTimer } from './phase-timer.js';

describe('PhaseTimer', () => {
  it('gives each phase the time since the previous mark, adds a repeated phase, and totals them', () => {
    const clock = vi.spyOn(performance, 'now');
    try {
      for (const t of [100, 103.04, 110, 111, 131.5]) clock.mockReturnValueOnce(t);
      const timer = new PhaseTimer();
      timer.mark('lists');
      timer.mark('compile');
      timer.mark('lists');
      timer.mark('publish');
      expect(timer.phases()).toEqual({ lists: 4, compile: 7, publish: 20.5, total: 31.5 });
    } finally {
      clock.mockRestore();
    }
  });
});
