import { describe, expect, it } from 'vitest';
import type { GarbageCollectionStatus } from '../crds/types.js';
import { formatGcResult, parseGcResult, parseGcSummary } from './gc-result.js';
import {
  newestRetentionRun,
  nextWindowStep,
  RETENTION_CLOCK_SKEW_SECONDS,
  RETENTION_WINDOW_GAP_SECONDS,
  SNAPSHOT_WAIT_SECONDS,
  windowSettings,
  type WindowInput,
  type WindowSettings,
} from './maintenance-window.js';
import { Reasons } from './reasons.js';

const T0 = Date.parse('2026-06-01T12:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();
const settings: WindowSettings = { afterRetention: true, timeoutSeconds: 1800 };
const CREATED = iso(-86_400);

function input(over: Partial<WindowInput>): WindowInput {
  return { now: at(0), settings, status: { phase: 'Idle' }, managed: true, readOnly: false, rolloutComplete: true, createdAt: CREATED, ...over };
}

const inWindow = (phase: GarbageCollectionStatus['phase'], startedAgo = 60, extra: Partial<GarbageCollectionStatus> = {}): GarbageCollectionStatus => ({
  phase,
  windowStart: iso(-startedAgo),
  requestId: iso(-startedAgo - 1),
  ...extra,
});
const finished = { finished: true, succeeded: true, deleting: false, message: 'bytesFreed=2048 blobsDeleted=3 manifestsDeleted=0' };
const running = { finished: false, succeeded: false, deleting: false };

describe('nextWindowStep: what opens a window', () => {
  it.each<[string, Partial<WindowInput>, string | undefined]>([
    ['nothing requested, no schedule, no retention run: nothing', {}, undefined],
    ['a new request opens a window for it', { request: iso(-5) }, iso(-5)],
    [
      'the request the last window served does not open another',
      { request: iso(-500), status: { phase: 'Idle', requestId: iso(-500), windowStart: iso(-400) } },
      undefined,
    ],
    [
      'a request older than the last window (a scheduled one ran since) does not open another',
      { request: iso(-500), status: { phase: 'Idle', requestId: 'schedule:x', windowStart: iso(-100) } },
      undefined,
    ],
    ['a request that is not a timestamp is ignored', { request: 'now please' }, undefined],
    ['a retention run that deleted something after the last window opens one', { retentionDeletedAt: iso(-30) }, `retention:${iso(-30)}`],
    [
      'a retention run before the last window does not',
      { retentionDeletedAt: iso(-300), status: { phase: 'Idle', windowStart: iso(-200), requestId: 'x' } },
      undefined,
    ],
    [
      'a retention run "completed" in the future (a forged status) opens nothing: it would stay after every window',
      { retentionDeletedAt: '2099-01-01T00:00:00Z' },
      undefined,
    ],
    ['a completionTime just ahead of the clock (skew) counts', { retentionDeletedAt: iso(RETENTION_CLOCK_SKEW_SECONDS) }, `retention:${iso(300)}`],
    ['a completionTime past the skew allowance does not', { retentionDeletedAt: iso(RETENTION_CLOCK_SKEW_SECONDS + 1) }, undefined],
    [
      'the retention run the last window served does not open a second one, though it is after that window started',
      { retentionDeletedAt: iso(200), status: { phase: 'Idle', windowStart: iso(-5000), windowEnd: iso(-4000), requestId: `retention:${iso(200)}` } },
      undefined,
    ],
    [
      'nor when the same instant is written differently',
      {
        retentionDeletedAt: iso(200),
        status: { phase: 'Idle', windowStart: iso(-5000), windowEnd: iso(-4000), requestId: `retention:${iso(200).replace('.000Z', 'Z')}` },
      },
      undefined,
    ],
    [
      'a new retention run within the gap after a retention window waits',
      { retentionDeletedAt: iso(-30), status: { phase: 'Idle', windowStart: iso(-600), windowEnd: iso(-300), requestId: `retention:${iso(-700)}` } },
      undefined,
    ],
    [
      'once the gap is over it opens one',
      {
        now: at(RETENTION_WINDOW_GAP_SECONDS - 300),
        retentionDeletedAt: iso(-30),
        status: { phase: 'Idle', windowStart: iso(-600), windowEnd: iso(-300), requestId: `retention:${iso(-700)}` },
      },
      `retention:${iso(-30)}`,
    ],
    [
      'the gap follows only windows retention opened: after a requested one, a run opens one at once',
      { retentionDeletedAt: iso(-30), status: { phase: 'Idle', windowStart: iso(-600), windowEnd: iso(-300), requestId: iso(-700) } },
      `retention:${iso(-30)}`,
    ],
    ['afterRetention false ignores retention runs', { retentionDeletedAt: iso(-30), settings: { ...settings, afterRetention: false } }, undefined],
    [
      'a schedule that fired since the last window opens one',
      { settings: { ...settings, schedule: '0 * * * *' }, status: { phase: 'Idle', windowStart: iso(-7200), requestId: 'x' } },
      `schedule:${iso(0)}`,
    ],
    [
      'a schedule that has not fired since the last window does not',
      { now: at(1800), settings: { ...settings, schedule: '0 * * * *' }, status: { phase: 'Idle', windowStart: iso(10), requestId: 'x' } },
      undefined,
    ],
    ['a schedule that last fired before the Registry existed does not', { settings: { ...settings, schedule: '0 0 1 1 *' } }, undefined],
  ])('%s', (_name, over, requestId) => {
    const step = nextWindowStep(input(over));
    if (requestId === undefined) {
      expect(step.action.type).toBe('None');
      expect(step.status).toEqual(over.status ?? { phase: 'Idle' });
    } else {
      expect(step.action).toEqual({ type: 'SetReadOnly' });
      expect(step.status).toMatchObject({ phase: 'EnteringReadOnly', requestId, windowStart: (over.now ?? at(0)).toISOString() });
      expect(step.event).toMatchObject({ type: 'Normal', reason: Reasons.GarbageCollectionStarted });
    }
  });

  it('an idle registry with a schedule comes back when it next fires', () => {
    const step = nextWindowStep(input({ now: at(1800), settings: { ...settings, schedule: '0 * * * *' }, status: { phase: 'Idle', windowStart: iso(10) } }));
    expect(step.action).toEqual({ type: 'None', requeueAfterSeconds: 1800 });
  });

  it('a forged future run is never served, so it opens nothing however often the operator looks', () => {
    let status: GarbageCollectionStatus = { phase: 'Idle' };
    for (const hours of [0, 1, 24, 24 * 365]) {
      const step = nextWindowStep(input({ now: at(hours * 3600), status, retentionDeletedAt: '2099-01-01T00:00:00Z' }));
      expect(step.action.type).toBe('None');
      status = step.status;
    }
    expect(status).toEqual({ phase: 'Idle' });
  });

  it('a retention run waiting for the gap is looked at again when the gap ends, or at the next schedule if sooner', () => {
    const status: GarbageCollectionStatus = { phase: 'Idle', windowStart: iso(-600), windowEnd: iso(-300), requestId: `retention:${iso(-700)}` };
    expect(nextWindowStep(input({ status, retentionDeletedAt: iso(-30) })).action).toEqual({ type: 'None', requeueAfterSeconds: 3300 });
    const hourly = { ...settings, schedule: '15 * * * *' };
    expect(nextWindowStep(input({ status, settings: hourly, retentionDeletedAt: iso(-30) })).action).toEqual({ type: 'None', requeueAfterSeconds: 900 });
  });

  it('a request on a Registry without a Deployment is answered with a failure, not a window', () => {
    const step = nextWindowStep(input({ request: iso(-5), managed: false }));
    expect(step.action.type).toBe('None');
    expect(step.status).toMatchObject({ phase: 'Idle', requestId: iso(-5), windowEnd: iso(0), lastResult: { succeeded: false } });
    expect(step.event).toMatchObject({ type: 'Warning', reason: Reasons.GarbageCollectionFailed });
  });

  it('a new window keeps the last result until it has its own', () => {
    const lastResult = { succeeded: true, bytesFreed: 1, message: 'freed 1 byte' };
    const step = nextWindowStep(
      input({ request: iso(-5), status: { phase: 'Idle', lastResult, windowStart: iso(-900), windowEnd: iso(-800), requestId: 'old' } }),
    );
    expect(step.status).toEqual({ phase: 'EnteringReadOnly', windowStart: iso(0), requestId: iso(-5), lastResult });
  });
});

describe('newestRetentionRun', () => {
  it.each<[string, string[], string | undefined]>([
    ['none', [], undefined],
    ['the newest', [iso(-300), iso(-30), iso(-100)], iso(-30)],
    ['a future one (forged) does not hide the real newest', [iso(-30), '2099-01-01T00:00:00Z'], iso(-30)],
    ['within the skew allowance counts', [iso(-30), iso(120)], iso(120)],
    ['what is not a time is left out', ['soon', iso(-30)], iso(-30)],
  ])('%s', (_name, times, expected) => {
    expect(newestRetentionRun(times, at(0))).toBe(expected);
  });
});

describe('nextWindowStep: through the window', () => {
  it.each<[string, Partial<WindowInput>, string, GarbageCollectionStatus['phase']]>([
    ['entering: the template lacks the switch, so it is added', { status: inWindow('EnteringReadOnly') }, 'SetReadOnly', 'EnteringReadOnly'],
    [
      'entering: the switch waits until the published snapshot carries the window (token servers refuse pushes first)',
      { status: inWindow('EnteringReadOnly', 5), snapshotShowsWindow: false },
      'WaitForSnapshot',
      'EnteringReadOnly',
    ],
    [
      'entering: the snapshot carries the window, so the switch is added',
      { status: inWindow('EnteringReadOnly', 5), snapshotShowsWindow: true },
      'SetReadOnly',
      'EnteringReadOnly',
    ],
    [
      'entering: a snapshot that never carries the window delays the switch by at most SNAPSHOT_WAIT_SECONDS',
      { status: inWindow('EnteringReadOnly', SNAPSHOT_WAIT_SECONDS), snapshotShowsWindow: false },
      'SetReadOnly',
      'EnteringReadOnly',
    ],
    [
      'entering: once switched, the snapshot is no reason to wait (a token server restart must not undo a window)',
      { status: inWindow('EnteringReadOnly', 5), snapshotShowsWindow: false, readOnly: true },
      'CreateJob',
      'Collecting',
    ],
    [
      'entering: the read-only rollout is waited for',
      { status: inWindow('EnteringReadOnly'), readOnly: true, rolloutComplete: false },
      'WaitForRollout',
      'EnteringReadOnly',
    ],
    ['entering: rolled out read-only, the collector starts', { status: inWindow('EnteringReadOnly'), readOnly: true }, 'CreateJob', 'Collecting'],
    ['collecting: a missing Job is created', { status: inWindow('Collecting'), readOnly: true }, 'CreateJob', 'Collecting'],
    ['collecting: a running Job is waited for', { status: inWindow('Collecting'), readOnly: true, job: running }, 'WaitForJob', 'Collecting'],
    ['collecting: a switch someone removed is put back', { status: inWindow('Collecting'), readOnly: false, job: running }, 'SetReadOnly', 'Collecting'],
    [
      'collecting: a finished Job ends the collection, read-write comes back',
      { status: inWindow('Collecting'), readOnly: true, job: finished },
      'SetReadWrite',
      'LeavingReadOnly',
    ],
    ['leaving: the read-write rollout is waited for', { status: inWindow('LeavingReadOnly'), rolloutComplete: false }, 'WaitForRollout', 'LeavingReadOnly'],
    ['leaving: a switch still there is removed', { status: inWindow('LeavingReadOnly'), readOnly: true }, 'SetReadWrite', 'LeavingReadOnly'],
    [
      'leaving: a collector still running is stopped first',
      { status: inWindow('LeavingReadOnly'), readOnly: true, job: running },
      'DeleteJob',
      'LeavingReadOnly',
    ],
    [
      'leaving: a collector being stopped is waited for, read-only held',
      { status: inWindow('LeavingReadOnly'), readOnly: true, job: { ...running, deleting: true } },
      'WaitForJob',
      'LeavingReadOnly',
    ],
    [
      'leaving: rolled out read-write, the window ends',
      { status: inWindow('LeavingReadOnly', 60, { lastResult: { succeeded: true, message: 'ok' } }) },
      'None',
      'Idle',
    ],
  ])('%s', (_name, over, action, phase) => {
    const step = nextWindowStep(input(over));
    expect(step.action.type).toBe(action);
    expect(step.status.phase).toBe(phase);
  });

  it('the Job result becomes lastResult', () => {
    const step = nextWindowStep(input({ status: inWindow('Collecting'), readOnly: true, job: finished }));
    expect(step.status.lastResult).toEqual({
      succeeded: true,
      bytesFreed: 2048,
      blobsDeleted: 3,
      manifestsDeleted: 0,
      message: 'freed 2048 bytes: 3 blobs and 0 manifests deleted',
    });
  });

  it.each<[string, { succeeded: boolean; message?: string }, string]>([
    [
      'a failed Job is a failure with its message',
      { succeeded: false, message: 'panic: storage unreachable' },
      'the collector Job failed: panic: storage unreachable',
    ],
    ['a Job that reports nothing is a failure', { succeeded: true, message: '' }, 'the collector Job failed: no termination message'],
  ])('%s', (_name, job, message) => {
    const step = nextWindowStep(input({ status: inWindow('Collecting'), readOnly: true, job: { finished: true, deleting: false, ...job } }));
    expect(step.status.lastResult).toEqual({ succeeded: false, message });
    expect(step.action.type).toBe('SetReadWrite');
  });

  it('the end records windowEnd and an Event with the bytes freed', () => {
    const lastResult = { succeeded: true, bytesFreed: 2048, message: 'freed 2048 bytes: 3 blobs and 0 manifests deleted' };
    const step = nextWindowStep(input({ status: inWindow('LeavingReadOnly', 90, { lastResult }) }));
    expect(step.status).toEqual({ ...inWindow('LeavingReadOnly', 90), phase: 'Idle', windowEnd: iso(0), lastResult });
    expect(step.event).toMatchObject({ type: 'Normal', reason: Reasons.GarbageCollectionSucceeded });
    expect(step.event?.note).toContain('freed 2048 bytes');
    expect(step.event?.note).toContain('after 1m30s');
  });

  it('a failed window ends with a Warning', () => {
    const step = nextWindowStep(input({ status: inWindow('LeavingReadOnly', 90, { lastResult: { succeeded: false, message: 'boom' } }) }));
    expect(step.event).toMatchObject({ type: 'Warning', reason: Reasons.GarbageCollectionFailed });
  });
});

describe('nextWindowStep: timeout', () => {
  const late = 1801;
  it.each<[string, Partial<WindowInput>, string]>([
    [
      'a rollout that never completes: read-write comes back',
      { status: inWindow('EnteringReadOnly', late), readOnly: true, rolloutComplete: false },
      'SetReadWrite',
    ],
    [
      'a collector still running: it is stopped before read-write comes back',
      { status: inWindow('Collecting', late), readOnly: true, job: running },
      'DeleteJob',
    ],
  ])('%s', (_name, over, action) => {
    const step = nextWindowStep(input(over));
    expect(step.action.type).toBe(action);
    expect(step.status.phase).toBe('LeavingReadOnly');
    expect(step.status.lastResult).toEqual({ succeeded: false, message: expect.stringContaining('timed out after 30m') as string });
  });

  it('a collector that finished just before the deadline counts', () => {
    const step = nextWindowStep(input({ status: inWindow('Collecting', late), readOnly: true, job: finished }));
    expect(step.status.lastResult?.succeeded).toBe(true);
  });

  it('waits carry the deadline, so the operator looks again in time', () => {
    const step = nextWindowStep(input({ status: inWindow('Collecting', 60), readOnly: true, job: running }));
    expect(step.action).toEqual({ type: 'WaitForJob', timeoutAt: at(1740) });
  });
});

describe('windowSettings', () => {
  it.each<[string, Parameters<typeof windowSettings>[0], ReturnType<typeof windowSettings>]>([
    ['no spec.garbageCollection: only on request (never after retention), 30m', undefined, { settings: { afterRetention: false, timeoutSeconds: 1800 } }],
    ['an empty spec.garbageCollection: after retention, 30m', {}, { settings: { afterRetention: true, timeoutSeconds: 1800 } }],
    [
      'a schedule and a timeout',
      { schedule: ' 0 3 * * 0 ', timeout: '1h', afterRetention: false },
      { settings: { schedule: '0 3 * * 0', afterRetention: false, timeoutSeconds: 3600 } },
    ],
    ['an impossible minute is refused', { schedule: '99 * * * *' }, { error: expect.stringContaining('schedule "99 * * * *"') as string }],
    ['a bad timeout is refused', { timeout: 'soon' }, { error: expect.stringContaining('timeout') as string }],
  ])('%s', (_name, spec, expected) => {
    expect(windowSettings(spec)).toEqual(expected);
  });
});

describe('the collector report', () => {
  it.each<[string, string, ReturnType<typeof parseGcSummary>]>([
    [
      '2.8 and v3 end with the same summary',
      'a/b\n3 blobs marked, 2 blobs and 1 manifests eligible for deletion\nblob eligible for deletion: sha256:x\n',
      { blobsDeleted: 2, manifestsDeleted: 1 },
    ],
    ['no summary, no counts', 'panic: no storage\n', undefined],
  ])('%s', (_name, output, expected) => {
    expect(parseGcSummary(output)).toEqual(expected);
  });

  it('round-trips, leaving out what is unknown', () => {
    expect(formatGcResult({ blobsDeleted: 2, manifestsDeleted: 0 })).toBe('blobsDeleted=2 manifestsDeleted=0');
    expect(parseGcResult(formatGcResult({ bytesFreed: 10, blobsDeleted: 2, manifestsDeleted: 0 }))).toEqual({
      bytesFreed: 10,
      blobsDeleted: 2,
      manifestsDeleted: 0,
    });
    expect(parseGcResult('collector exited 1')).toBeUndefined();
  });
});
