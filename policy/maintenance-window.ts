// Garbage-collection maintenance windows as a state machine: (observed state, now) -> the next phase
// and ONE action, like rotation.ts. Distribution's `garbage-collect` must run while nothing writes, so a
// window is: switch the registry read-only and wait for the rollout, run the collector Job on the same
// storage, switch back and wait again. The operator executes the action, records the phase in
// status.garbageCollection and asks again; every decision comes from what is observed (does the pod
// template carry the read-only switch, is the rollout done, has the Job finished), so a killed operator
// resumes from the status.
//
//   Idle -> EnteringReadOnly   a request, a due schedule or a retention run that deleted something
//                              (believable: not in the future; not the run already served; an hour apart)
//   EnteringReadOnly -> Collecting   the read-only template is rolled out everywhere
//   Collecting -> LeavingReadOnly    the Job finished (its termination message is the result), or timeout
//   LeavingReadOnly -> Idle          the read-write template is rolled out; lastResult and windowEnd set
//
// A timed-out collector is deleted, and gone, before the registry takes writes again: a collector that
// still runs while pushes resume can delete blobs a new manifest refers to.

import { CronExpressionParser } from 'cron-parser';
import type { GarbageCollection, GarbageCollectionStatus } from '../crds/types.js';
import { parseGcResult } from './gc-result.js';
import { formatDuration, parseDuration } from './duration.js';
import { Reasons } from './reasons.js';

export const DEFAULT_GC_TIMEOUT = '30m';

export interface WindowSettings {
  schedule?: string;
  afterRetention: boolean;
  timeoutSeconds: number;
}

/** The settings of spec.garbageCollection, or why they are unusable (the CRD checks the shape, not the cron values). */
export function windowSettings(spec: GarbageCollection | undefined): { settings: WindowSettings } | { error: string } {
  const schedule = spec?.schedule?.trim();
  try {
    if (schedule !== undefined) CronExpressionParser.parse(schedule, { currentDate: 0, tz: 'UTC' });
  } catch (error) {
    return { error: `spec.garbageCollection.schedule ${JSON.stringify(schedule)}: ${(error as Error).message}` };
  }
  let timeoutSeconds: number;
  try {
    timeoutSeconds = parseDuration(spec?.timeout ?? DEFAULT_GC_TIMEOUT);
  } catch (error) {
    return { error: `spec.garbageCollection.timeout: ${(error as Error).message}` };
  }
  // Without spec.garbageCollection a registry is never made read-only unasked: only a request opens a window.
  const afterRetention = spec === undefined ? false : (spec.afterRetention ?? true);
  return { settings: { ...(schedule ? { schedule } : {}), afterRetention, timeoutSeconds } };
}

/** The collector Job of the window in progress, as observed. */
export interface CollectorJob {
  finished: boolean;
  succeeded: boolean;
  /** Being deleted (foreground): its pod may still run. */
  deleting: boolean;
  /** The termination message of its pod's container. */
  message?: string;
}

export interface WindowInput {
  now: Date;
  settings: WindowSettings;
  status: GarbageCollectionStatus;
  /** The Registry names a Deployment that exists. */
  managed: boolean;
  /** The Deployment's pod template carries the read-only switch. */
  readOnly: boolean;
  /** The rollout of the current template is complete (observedGeneration, updated and available replicas). */
  rolloutComplete: boolean;
  job?: CollectorJob;
  /** The `portcullis.dev/gc-requested-at` annotation (RFC 3339). */
  request?: string;
  /**
   * completionTime of the newest retention run that deleted something, of a RetentionPolicy the Registry
   * admits (policy/retention/tenancy.ts): newestRetentionRun of their runs.
   */
  retentionDeletedAt?: string;
  /** The Registry's creation: schedules and retention runs before it do not open a window. */
  createdAt: string;
  /**
   * Whether the snapshot published for this Registry carries the window (so token servers refuse pushes
   * with a clear error before the registry answers them with 405). Undefined: not looked at, not waited for.
   */
  snapshotShowsWindow?: boolean;
}

/**
 * How long EnteringReadOnly waits for the snapshot to carry the window before switching anyway: a
 * Registry whose snapshot cannot be published (refused, too large) must still be collectable.
 */
export const SNAPSHOT_WAIT_SECONDS = 60;

export type WindowAction =
  | { type: 'SetReadOnly' }
  | { type: 'SetReadWrite' }
  | { type: 'WaitForRollout'; timeoutAt?: Date }
  | { type: 'WaitForSnapshot'; timeoutAt: Date }
  | { type: 'CreateJob' }
  | { type: 'WaitForJob'; timeoutAt?: Date }
  | { type: 'DeleteJob' }
  /** Nothing to do; look again after this long (the next scheduled window), if set. */
  | { type: 'None'; requeueAfterSeconds?: number };

export interface WindowStep {
  status: GarbageCollectionStatus;
  action: WindowAction;
  /** A sentence for logs. */
  message: string;
  event?: { type: 'Normal' | 'Warning'; reason: string; note: string };
}

const t = (rfc3339: string | undefined): number => (rfc3339 === undefined ? Number.NaN : Date.parse(rfc3339));

const RETENTION = 'retention:';

/**
 * How far past the operator's clock a retention run's completionTime may lie (nodes' clocks differ a
 * little). A run's summary is a status the retention role writes, not something the operator saw: a
 * completionTime in the future would stay "after the last window" for every window to come.
 */
export const RETENTION_CLOCK_SKEW_SECONDS = 300;

/**
 * The least time from the end of a window a retention run opened to the next window a retention run
 * opens (a run in between waits, it is not dropped). Whoever may write a RetentionPolicy's status can
 * report a fresh run at will; this bounds how often that makes the registry read-only.
 */
export const RETENTION_WINDOW_GAP_SECONDS = 3600;

/** The newest completion time that is a time and not in the future (beyond the skew); the rest cannot be believed. */
export function newestRetentionRun(completionTimes: readonly string[], now: Date): string | undefined {
  const latest = now.getTime() + RETENTION_CLOCK_SKEW_SECONDS * 1000;
  let newest: string | undefined;
  for (const time of completionTimes) {
    const at = t(time);
    if (Number.isFinite(at) && at <= latest && (newest === undefined || at > t(newest))) newest = time;
  }
  return newest;
}

/** A retention run due now, or the time it may open a window (the gap), or nothing to do. */
function retentionTrigger(input: WindowInput, since: number): { requestId: string; why: string } | { notBefore: number } | undefined {
  const { status, now } = input;
  const at = t(input.retentionDeletedAt);
  if (!input.settings.afterRetention || !(at > since) || at > now.getTime() + RETENTION_CLOCK_SKEW_SECONDS * 1000) return undefined;
  if (status.requestId?.startsWith(RETENTION) === true) {
    // The run the last window served (compared as a time: the same instant may be written differently).
    if (at <= t(status.requestId.slice(RETENTION.length))) return undefined;
    const notBefore = t(status.windowEnd ?? status.windowStart) + RETENTION_WINDOW_GAP_SECONDS * 1000;
    if (now.getTime() < notBefore) return { notBefore };
  }
  return { requestId: `${RETENTION}${input.retentionDeletedAt}`, why: `a retention run deleted manifests (${input.retentionDeletedAt})` };
}

/** Everything older than the last window (or the Registry) has been served by it. */
const servedUntil = (input: WindowInput): number => Math.max(t(input.status.windowStart) || 0, t(input.createdAt) || 0);

/** What opens a window now, if anything: its request id and why. */
export function dueTrigger(input: WindowInput): { requestId: string; why: string } | undefined {
  const { status, settings } = input;
  const since = servedUntil(input);
  const request = input.request?.trim();
  // A request is its timestamp: one already served (or older than the last window, e.g. after a scheduled one) is not new.
  if (request && request !== status.requestId && t(request) > since) return { requestId: request, why: `requested at ${request}` };
  const retention = retentionTrigger(input, since);
  if (retention !== undefined && 'requestId' in retention) return retention;
  if (settings.schedule !== undefined) {
    // prev() is strictly before its start: from one millisecond on, a schedule firing right now counts now.
    const fire = CronExpressionParser.parse(settings.schedule, { currentDate: input.now.getTime() + 1, tz: 'UTC' })
      .prev()
      .toDate();
    if (fire.getTime() > since) return { requestId: `schedule:${fire.toISOString()}`, why: `scheduled (${settings.schedule}) at ${fire.toISOString()}` };
  }
  return undefined;
}

/** Seconds until an idle registry must look again: the next schedule, or the end of a retention run's wait. */
function untilNextLook(input: WindowInput): number | undefined {
  const schedule = untilNextSchedule(input);
  const retention = retentionTrigger(input, servedUntil(input));
  if (retention === undefined || !('notBefore' in retention)) return schedule;
  const wait = Math.max(1, Math.ceil((retention.notBefore - input.now.getTime()) / 1000));
  return schedule === undefined ? wait : Math.min(schedule, wait);
}

/** Seconds until the schedule next fires; undefined without a schedule. */
function untilNextSchedule(input: WindowInput): number | undefined {
  if (input.settings.schedule === undefined) return undefined;
  const next = CronExpressionParser.parse(input.settings.schedule, { currentDate: input.now, tz: 'UTC' }).next().toDate();
  return Math.max(1, Math.ceil((next.getTime() - input.now.getTime()) / 1000));
}

function describe(result: NonNullable<GarbageCollectionStatus['lastResult']>): string {
  return result.message;
}

/** The report of a finished collector. */
export function collectorResult(job: CollectorJob): NonNullable<GarbageCollectionStatus['lastResult']> {
  const parsed = parseGcResult(job.message ?? '');
  if (!job.succeeded || parsed === undefined) {
    const detail = (job.message ?? '').trim().slice(-300) || 'no termination message';
    return { succeeded: false, message: `the collector Job failed: ${detail}` };
  }
  const bytes = parsed.bytesFreed === undefined ? 'an unmeasured amount (not filesystem storage)' : `${parsed.bytesFreed} bytes`;
  return {
    succeeded: true,
    ...parsed,
    message: `freed ${bytes}: ${parsed.blobsDeleted ?? 0} blobs and ${parsed.manifestsDeleted ?? 0} manifests deleted`,
  };
}

function leave(input: WindowInput, lastResult: NonNullable<GarbageCollectionStatus['lastResult']>, message: string): WindowStep {
  const status: GarbageCollectionStatus = { ...input.status, phase: 'LeavingReadOnly', lastResult };
  return { ...leaving({ ...input, status }), message };
}

function timedOut(input: WindowInput, timeoutAt: number): boolean {
  return Number.isFinite(timeoutAt) && input.now.getTime() >= timeoutAt;
}

/** LeavingReadOnly: stop a collector that still runs, then restore read-write and wait for it. */
function leaving(input: WindowInput): WindowStep {
  const { status, job } = input;
  if (job !== undefined && !job.finished) {
    return job.deleting
      ? { status, action: { type: 'WaitForJob' }, message: 'waiting for the stopped collector to go before the registry takes writes' }
      : { status, action: { type: 'DeleteJob' }, message: 'stopping the collector before the registry takes writes again' };
  }
  if (!input.managed) return finish(input, 'the Deployment is gone');
  if (input.readOnly) return { status, action: { type: 'SetReadWrite' }, message: 'removing the read-only switch from the Deployment' };
  if (!input.rolloutComplete) return { status, action: { type: 'WaitForRollout' }, message: 'waiting for the read-write rollout' };
  return finish(input, 'read-write again');
}

function finish(input: WindowInput, why: string): WindowStep {
  const lastResult = input.status.lastResult ?? { succeeded: false, message: why };
  const status: GarbageCollectionStatus = { ...input.status, phase: 'Idle', windowEnd: input.now.toISOString(), lastResult };
  const elapsed = formatDuration(Math.max(0, Math.round((input.now.getTime() - t(input.status.windowStart)) / 1000)) || 0);
  const note = `maintenance window ${input.status.requestId ?? ''} ended after ${elapsed} (${why}): ${describe(lastResult)}`;
  return {
    status,
    action: { type: 'None' },
    message: note,
    event: lastResult.succeeded
      ? { type: 'Normal', reason: Reasons.GarbageCollectionSucceeded, note }
      : { type: 'Warning', reason: Reasons.GarbageCollectionFailed, note },
  };
}

export function nextWindowStep(input: WindowInput): WindowStep {
  const { status, now } = input;
  const timeoutAt = t(status.windowStart) + input.settings.timeoutSeconds * 1000;
  const deadline = Number.isFinite(timeoutAt) ? { timeoutAt: new Date(timeoutAt) } : {};
  const timeoutMessage = `timed out after ${formatDuration(input.settings.timeoutSeconds)} in phase ${status.phase}; the registry is switched back to read-write`;
  switch (status.phase) {
    case 'Idle': {
      const trigger = dueTrigger(input);
      if (trigger === undefined) {
        const next = untilNextLook(input);
        return { status, action: { type: 'None', ...(next === undefined ? {} : { requeueAfterSeconds: next }) }, message: 'no window due' };
      }
      const started: GarbageCollectionStatus = { phase: 'EnteringReadOnly', windowStart: now.toISOString(), requestId: trigger.requestId };
      if (status.lastResult !== undefined) started.lastResult = status.lastResult;
      if (!input.managed) {
        const lastResult = {
          succeeded: false,
          message: 'the Registry names no Deployment (spec.distribution.deployment) the operator can switch to read-only',
        };
        const failed: GarbageCollectionStatus = { ...started, phase: 'Idle', windowEnd: now.toISOString(), lastResult };
        const note = `maintenance window ${trigger.requestId} not opened: ${lastResult.message}`;
        return { status: failed, action: { type: 'None' }, message: note, event: { type: 'Warning', reason: Reasons.GarbageCollectionFailed, note } };
      }
      const note = `maintenance window ${trigger.requestId} opened (${trigger.why}): the registry becomes read-only, pulls keep working, pushes are refused until it ends`;
      return { status: started, action: { type: 'SetReadOnly' }, message: note, event: { type: 'Normal', reason: Reasons.GarbageCollectionStarted, note } };
    }
    case 'EnteringReadOnly':
      if (timedOut(input, timeoutAt)) return leave(input, { succeeded: false, message: timeoutMessage }, timeoutMessage);
      if (!input.managed)
        return finish({ ...input, status: { ...status, lastResult: { succeeded: false, message: 'the Deployment is gone' } } }, 'the Deployment is gone');
      if (!input.readOnly && input.snapshotShowsWindow === false) {
        const giveUpAt = t(status.windowStart) + SNAPSHOT_WAIT_SECONDS * 1000;
        if (Number.isFinite(giveUpAt) && now.getTime() < giveUpAt) {
          const message = 'waiting for the published snapshot to carry the window, so token servers refuse pushes before the registry does';
          return { status, action: { type: 'WaitForSnapshot', timeoutAt: new Date(giveUpAt) }, message };
        }
      }
      if (!input.readOnly) return { status, action: { type: 'SetReadOnly' }, message: 'adding the read-only switch to the Deployment' };
      if (!input.rolloutComplete) return { status, action: { type: 'WaitForRollout', ...deadline }, message: 'waiting for the read-only rollout' };
      return { status: { ...status, phase: 'Collecting' }, action: { type: 'CreateJob' }, message: 'read-only everywhere: starting the collector' };
    case 'Collecting':
      if (input.job?.finished) {
        const result = collectorResult(input.job);
        return leave(input, result, `collector finished: ${result.message}`);
      }
      if (timedOut(input, timeoutAt)) return leave(input, { succeeded: false, message: timeoutMessage }, timeoutMessage);
      // Read-only must hold while the collector runs; a template someone changed back is switched again.
      if (input.managed && !input.readOnly) return { status, action: { type: 'SetReadOnly' }, message: 'the read-only switch is missing: adding it again' };
      if (input.job === undefined) return { status, action: { type: 'CreateJob' }, message: 'starting the collector' };
      return { status, action: { type: 'WaitForJob', ...deadline }, message: 'waiting for the collector' };
    case 'LeavingReadOnly':
      return leaving(input);
  }
}
