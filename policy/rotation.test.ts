import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  activeKeyInfo,
  nextRotationStep,
  type CAInfo,
  type KeyInfo,
  type RotationInput,
  type RotationRequest,
  type RotationSettings,
  type RotationStatus,
} from './rotation.js';

const H = 3600;
const settings: RotationSettings = {
  rotateEverySeconds: 24 * H,
  certificateLifetimeSeconds: 48 * H,
  caLifetimeSeconds: 365 * 24 * H,
  caRotateBeforeSeconds: 30 * 24 * H,
  tokenTTLSeconds: 300,
  reloadDelaySeconds: 10,
};
const T0 = Date.parse('2026-06-01T00:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();

const ca = (id: string, from = -H, lifetime = settings.caLifetimeSeconds): CAInfo => ({ id, notBefore: iso(from), notAfter: iso(from + lifetime) });
const key = (kid: string, caId: string, from = -H, lifetime = settings.certificateLifetimeSeconds): KeyInfo => ({
  kid,
  caId,
  notBefore: iso(from),
  notAfter: iso(from + lifetime),
});

function input(over: Partial<RotationInput>): RotationInput {
  return {
    now: at(0),
    settings,
    status: { phase: 'Stable' },
    cas: [ca('ca1')],
    bundle: ['ca1'],
    bundleHash: 'h(ca1)',
    rollout: { managed: true, templateBundleHash: 'h(ca1)', complete: true, paused: false },
    keys: [key('k1', 'ca1')],
    ...over,
  };
}

describe('nextRotationStep in Stable', () => {
  it.each<[string, Partial<RotationInput>, string]>([
    ['a registry with no CA gets one', { cas: [], bundle: [], keys: [] }, 'CreateCA'],
    ['a CA not yet in the bundle is published', { bundle: [] }, 'PublishBundle'],
    [
      'a bundle the Deployment has not rolled to is rolled out',
      { rollout: { managed: true, templateBundleHash: 'old', complete: true, paused: false } },
      'RollDeployment',
    ],
    ['a rollout in progress is waited for', { rollout: { managed: true, templateBundleHash: 'h(ca1)', complete: false, paused: false } }, 'WaitForRollout'],
    ['a paused Deployment is reported, not forced', { rollout: { managed: true, templateBundleHash: 'old', complete: true, paused: true } }, 'None'],
    ['an unmanaged registry is not rolled', { rollout: { managed: false, complete: false, paused: false } }, 'None'],
    ['no valid key: one is issued at once', { keys: [] }, 'IssueKey'],
    ['a key older than rotateEvery is replaced', { keys: [key('k1', 'ca1', -25 * H)] }, 'IssueKey'],
    ['a key whose certificate ends within a token lifetime is replaced', { keys: [key('k1', 'ca1', -H, H + 200)] }, 'IssueKey'],
    ['a key rotation request issues a key', { request: 'keys' }, 'IssueKey'],
    [
      'a key rotation request with the new key pending is acknowledged',
      { request: 'keys', keys: [key('k1', 'ca1'), key('k2', 'ca1', 10)] },
      'AcknowledgeRequest',
    ],
    ['an expired key is pruned', { keys: [key('k1', 'ca1'), key('k0', 'ca1', -100 * H)] }, 'PruneKeys'],
    ['a superseded key is pruned once no token it signed can be valid', { keys: [key('k0', 'ca1', -3 * H), key('k1', 'ca1', -H)] }, 'PruneKeys'],
    ['everything current: nothing to do', {}, 'None'],
  ])('%s', (_name, over, expected) => {
    expect(nextRotationStep(input(over)).action.type).toBe(expected);
  });

  it('a superseded key is kept while tokens it signed may still be valid', () => {
    const step = nextRotationStep(input({ keys: [key('k0', 'ca1', -3 * H), key('k1', 'ca1', -100)] }));
    expect(step.action.type).toBe('None');
  });

  it('a scheduled rotation publishes the new key before it is used', () => {
    const step = nextRotationStep(input({ keys: [key('k1', 'ca1', -25 * H)] }));
    expect(step.action).toMatchObject({ type: 'IssueKey', caId: 'ca1' });
    if (step.action.type === 'IssueKey') expect(step.action.notBefore.getTime()).toBe(at(settings.reloadDelaySeconds).getTime());
  });

  it('nothing to do: wakes up when the active key is due', () => {
    const step = nextRotationStep(input({ keys: [key('k1', 'ca1', -H)] }));
    expect(step.action).toEqual({ type: 'None', requeueAfterSeconds: 23 * H });
  });

  it('a CA within caRotateBefore of expiry starts a CA rotation', () => {
    const step = nextRotationStep(input({ cas: [ca('ca1', -340 * 24 * H)] }));
    expect(step.status).toEqual({ phase: 'CAStaged', retiringCA: 'ca1' });
  });

  it.each<[RotationRequest, RotationStatus['phase']]>([
    ['ca', 'CAStaged'],
    ['ca-emergency', 'CAEmergency'],
  ])('a %s request moves to %s and acknowledges the request', (request, phase) => {
    const step = nextRotationStep(input({ request }));
    expect(step.status).toEqual({ phase, retiringCA: 'ca1' });
    expect(step.action.type).toBe('AcknowledgeRequest');
  });

  it('an unpublished second CA (a staging that crashed before its phase was recorded) is resumed', () => {
    const step = nextRotationStep(input({ cas: [ca('ca1'), ca('ca2', 0)] }));
    expect(step.status).toEqual({ phase: 'CAStaged', retiringCA: 'ca1' });
  });
});

describe('nextRotationStep during a CA rotation', () => {
  const staged = (over: Partial<RotationInput>) => input({ status: { phase: 'CAStaged', retiringCA: 'ca1' }, ...over });
  it.each<[string, RotationInput, string]>([
    ['the new CA is created first', staged({}), 'CreateCA'],
    ['then the bundle trusts both', staged({ cas: [ca('ca1'), ca('ca2', 0)] }), 'PublishBundle'],
    ['then the Deployment rolls', staged({ cas: [ca('ca1'), ca('ca2', 0)], bundle: ['ca1', 'ca2'], bundleHash: 'h2' }), 'RollDeployment'],
    [
      'and the rollout is waited for',
      staged({
        cas: [ca('ca1'), ca('ca2', 0)],
        bundle: ['ca1', 'ca2'],
        bundleHash: 'h2',
        rollout: { managed: true, templateBundleHash: 'h2', complete: false, paused: false },
      }),
      'WaitForRollout',
    ],
    ['a request during a rotation is acknowledged and ignored', staged({ cas: [ca('ca1'), ca('ca2', 0)], request: 'keys' }), 'AcknowledgeRequest'],
  ])('%s', (_name, inp, expected) => {
    expect(nextRotationStep(inp).action.type).toBe(expected);
  });

  it('no key is issued from the new CA before the rollout that trusts it completes', () => {
    const step = nextRotationStep(
      staged({
        cas: [ca('ca1'), ca('ca2', 0)],
        bundle: ['ca1', 'ca2'],
        bundleHash: 'h2',
        rollout: { managed: true, templateBundleHash: 'h2', complete: false, paused: false },
      }),
    );
    expect(step.action.type).not.toBe('IssueKey');
    expect(step.status.phase).toBe('CAStaged');
  });

  it('draining waits the token lifetime plus the reload delay after the new key is active', () => {
    const step = nextRotationStep(
      input({
        status: { phase: 'CAIssuing', retiringCA: 'ca1' },
        cas: [ca('ca1'), ca('ca2', 0)],
        bundle: ['ca1', 'ca2'],
        keys: [key('k1', 'ca1'), key('k2', 'ca2', 10)],
      }),
    );
    expect(step.status).toEqual({ phase: 'CADraining', retiringCA: 'ca1', drainUntil: iso(10 + 300 + 10) });
  });

  it('the old CA leaves the bundle only after draining', () => {
    const draining = input({
      status: { phase: 'CADraining', retiringCA: 'ca1', drainUntil: iso(320) },
      cas: [ca('ca1'), ca('ca2', 0)],
      bundle: ['ca1', 'ca2'],
    });
    expect(nextRotationStep(draining).action.type).toBe('Wait');
    expect(nextRotationStep({ ...draining, now: at(320) }).status.phase).toBe('CARetiring');
  });
});

/**
 * A small world that executes the actions: the registry trusts the bundle it was last rolled to,
 * token servers sign with the active key. Whatever the crash points, a token signed at any moment
 * must verify against what the registry trusts, and the rotation must finish.
 */
function simulate(
  request: RotationRequest,
  crashes: Set<number>,
  rolloutTicks: number,
  eagerIssue = false,
): { failures: number; steps: number; final: RotationStatus; cas: string[] } {
  let now = 0;
  let status: RotationStatus = { phase: 'Stable' };
  let cas: CAInfo[] = [ca('ca1')];
  let bundle = ['ca1'];
  let templateHash = 'ca1';
  let rolloutRemaining = 0;
  let trusted = ['ca1'];
  let keys: KeyInfo[] = [key('k1', 'ca1')];
  let pendingRequest: RotationRequest | undefined = request;
  let failures = 0;
  let n = 0;
  let nextId = 2;
  for (let step = 0; step < 400; step++) {
    n = step;
    const active = activeKeyInfo(keys, at(now));
    if (active && !trusted.includes(active.caId) && request !== 'ca-emergency') failures++;
    const result = nextRotationStep({
      now: at(now),
      settings,
      status,
      cas,
      bundle,
      bundleHash: bundle.join('+'),
      rollout: { managed: true, templateBundleHash: templateHash, complete: rolloutRemaining === 0, paused: false },
      keys,
      ...(pendingRequest ? { request: pendingRequest } : {}),
    });
    // A crash loses the status write of this step (write-ahead: the action had not run either).
    if (crashes.has(step)) {
      now += 1;
      continue;
    }
    status = result.status;
    const a = result.action;
    switch (a.type) {
      case 'CreateCA': {
        const id = `ca${nextId++}`;
        cas = [...cas, ca(id, now)];
        // the control: a careless operator signs with the new CA before the registry trusts it
        if (eagerIssue && status.phase !== 'Stable') keys = [...keys, key(`k${nextId++}`, id, now)];
        break;
      }
      case 'PublishBundle':
        bundle = a.caIds;
        break;
      case 'RollDeployment':
        templateHash = bundle.join('+');
        rolloutRemaining = rolloutTicks;
        break;
      case 'WaitForRollout':
        break;
      case 'IssueKey':
        keys = [...keys, key(`k${nextId++}`, a.caId, Math.round((a.notBefore.getTime() - T0) / 1000))];
        break;
      case 'PruneKeys':
        keys = keys.filter((k) => !a.kids.includes(k.kid));
        break;
      case 'DropCA':
        cas = cas.filter((c) => c.id !== a.caId);
        break;
      case 'AcknowledgeRequest':
        pendingRequest = undefined;
        break;
      case 'Wait':
        now = Math.max(now, Math.round((a.until.getTime() - T0) / 1000));
        break;
      case 'None':
        if (status.phase === 'Stable' && a.requeueAfterSeconds > 0 && pendingRequest === undefined) {
          return { failures, steps: n, final: status, cas: cas.map((c) => c.id) };
        }
        break;
    }
    if (rolloutRemaining > 0) {
      rolloutRemaining--;
      if (rolloutRemaining === 0) trusted = templateHash.split('+');
    } else if (a.type === 'RollDeployment') {
      trusted = templateHash.split('+');
    }
    now += 1;
  }
  return { failures, steps: n, final: status, cas: cas.map((c) => c.id) };
}

describe('a simulated CA rotation', () => {
  it('completes with no token signed by a CA the registry does not trust', () => {
    const result = simulate('ca', new Set(), 5);
    expect(result).toMatchObject({ failures: 0, final: { phase: 'Stable' } });
    expect(result.cas).toHaveLength(1);
    expect(result.cas).not.toContain('ca1');
  });

  it('completes with no failures whatever steps crash and however long rollouts take', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 60 }), { maxLength: 12 }), fc.integer({ min: 0, max: 8 }), (crashes, ticks) => {
        const result = simulate('ca', new Set(crashes), ticks);
        expect(result.failures).toBe(0);
        expect(result.final.phase).toBe('Stable');
        expect(result.cas).toHaveLength(1);
        expect(result.cas[0]).not.toBe('ca1');
      }),
      { numRuns: 300 },
    );
  });

  it('a control that issues keys from the new CA before the rollout completes does fail', () => {
    expect(simulate('ca', new Set(), 5, true).failures).toBeGreaterThan(0);
  });

  it('an emergency rotation drops the old CA and its keys', () => {
    const result = simulate('ca-emergency', new Set(), 2);
    expect(result.final.phase).toBe('Stable');
    expect(result.cas).not.toContain('ca1');
  });
});
