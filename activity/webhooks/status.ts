// A webhook's status subresource, written by its delivery loop. The loop reports every change here; the
// reporter writes a Ready transition promptly (at most one write a second) and everything else — the
// cursor, the backlog, the attempts of a failing delivery — at most every `intervalMs`, so a busy
// registry does not become a busy API server. A write sends the whole status as a merge patch; one that
// would change nothing is not sent. Nothing secret is ever in a status: failure reasons are HTTP statuses
// or error codes, messages name the receiver's host, never its full URL, which may carry a token.

import type { Condition, RegistryWebhookStatus } from '../../crds/types.js';
import type { Timers } from '../../kube/backoff.js';
import { ConditionTypes } from '../../policy/reasons.js';

export interface ReadyState {
  status: 'True' | 'False';
  reason: string;
  message: string;
}

/** What the loop knows; the reporter adds the backlog and the transition time. */
export interface DeliveryState {
  generation?: number;
  ready: ReadyState;
  lastDeliveredEventId?: string;
  lastSuccessTime?: string;
  lastFailure?: { time: string; reason: string; attempts: number };
}

export interface ThrottleOptions {
  /** Between two writes of the same Ready state. */
  intervalMs: number;
  /** Between any two writes, transitions included. */
  transitionGapMs: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = { intervalMs: 5000, transitionGapMs: 1000 };

/** How long to wait before writing: a transition soon, anything else once the interval has passed. */
export function writeDelayMs(last: { at: number; ready: string } | undefined, ready: string, now: number, options: ThrottleOptions): number {
  if (last === undefined) return 0;
  const gap = last.ready === ready ? options.intervalMs : options.transitionGapMs;
  return Math.max(0, last.at + gap - now);
}

const readyKey = (r: ReadyState): string => `${r.status}/${r.reason}`;

/** The status object to write, keeping the condition's transition time while its status is unchanged. */
export function statusObject(state: DeliveryState, backlog: number | undefined, previous: Condition | undefined, now: Date): RegistryWebhookStatus {
  const sameStatus = previous !== undefined && previous.status === state.ready.status && previous.lastTransitionTime !== undefined;
  const ready: Condition = {
    type: ConditionTypes.Ready,
    ...state.ready,
    ...(state.generation !== undefined ? { observedGeneration: state.generation } : {}),
    lastTransitionTime: sameStatus ? previous.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  return {
    ...(state.generation !== undefined ? { observedGeneration: state.generation } : {}),
    conditions: [ready],
    ...(state.lastDeliveredEventId !== undefined ? { lastDeliveredEventId: state.lastDeliveredEventId } : {}),
    ...(state.lastSuccessTime !== undefined ? { lastSuccessTime: state.lastSuccessTime } : {}),
    ...(state.lastFailure !== undefined ? { lastFailure: state.lastFailure } : {}),
    ...(backlog !== undefined ? { backlog } : {}),
  };
}

export interface ReporterOptions {
  write: (status: RegistryWebhookStatus) => Promise<void>;
  /** Matching events not yet delivered; undefined when it cannot be told (e.g. the store is away). */
  backlog: () => Promise<number | undefined>;
  onError: (error: Error) => void;
  timers: Timers;
  throttle: ThrottleOptions;
  /** The status the object shows now (a restart continues from it). */
  initial?: RegistryWebhookStatus;
}

export class StatusReporter {
  private state: DeliveryState | undefined;
  private last: { at: number; ready: string; json: string } | undefined;
  private previousReady: Condition | undefined;
  private timer: unknown;
  private writing: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: ReporterOptions) {
    this.previousReady = options.initial?.conditions?.find((c) => c.type === ConditionTypes.Ready);
  }

  /** The latest known state; a write follows within the throttle. */
  report(state: DeliveryState): void {
    this.state = state;
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped || this.state === undefined || this.timer !== undefined || this.writing !== undefined) return;
    const delay = writeDelayMs(this.last, readyKey(this.state.ready), this.options.timers.now(), this.options.throttle);
    this.timer = this.options.timers.setTimeout(() => {
      this.timer = undefined;
      this.writing = this.flush().finally(() => {
        this.writing = undefined;
        this.schedule();
      });
    }, delay);
  }

  private async flush(): Promise<void> {
    const state = this.state;
    if (state === undefined || this.stopped) return;
    this.state = undefined;
    try {
      const backlog = await this.options.backlog();
      const status = statusObject(state, backlog, this.previousReady, new Date(this.options.timers.now()));
      const { lastTransitionTime: _time, ...comparable } = status.conditions?.[0] as Condition;
      const json = JSON.stringify({ ...status, conditions: [comparable] });
      if (json === this.last?.json) return;
      await this.options.write(status);
      this.previousReady = status.conditions?.[0];
      this.last = { at: this.options.timers.now(), ready: readyKey(state.ready), json };
    } catch (error) {
      // Tried again with the next report; the loop goes on delivering meanwhile.
      // An API server that keeps refusing is asked again once per interval, not in a tight loop.
      this.options.onError(error instanceof Error ? error : new Error(String(error)));
      this.state ??= state;
      this.last = { at: this.options.timers.now(), ready: readyKey(state.ready), json: '' };
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.options.timers.clearTimeout(this.timer);
    this.timer = undefined;
    await this.writing;
  }
}
