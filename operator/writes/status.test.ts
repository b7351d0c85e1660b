import { describe, expect, it } from 'vitest';
import { statusUpdate } from './status.js';

const now = new Date('2025-01-02T03:04:05.678Z');
const ready = { type: 'Ready', status: 'True' as const, reason: 'Ready', message: 'ok' };

describe('statusUpdate', () => {
  it('writes nothing when the object already shows the desired status', () => {
    const current = { observedGeneration: 2, conditions: [{ ...ready, observedGeneration: 2, lastTransitionTime: '2020-01-01T00:00:00Z' }], users: 3 };
    expect(statusUpdate(current, { observedGeneration: 2, conditions: [ready], extra: { users: 3 } }, now)).toBeUndefined();
  });

  it('keeps the transition time while the condition status stays the same', () => {
    const current = { observedGeneration: 1, conditions: [{ ...ready, observedGeneration: 1, lastTransitionTime: '2020-01-01T00:00:00Z' }] };
    const next = statusUpdate(current, { observedGeneration: 2, conditions: [ready] }, now);
    expect(next).toMatchObject({ observedGeneration: 2, conditions: [{ lastTransitionTime: '2020-01-01T00:00:00Z', observedGeneration: 2 }] });
  });

  it('stamps a new transition time when the condition status flips', () => {
    const current = { conditions: [{ ...ready, lastTransitionTime: '2020-01-01T00:00:00Z' }] };
    const next = statusUpdate(current, { conditions: [{ ...ready, status: 'False', reason: 'SecretNotFound' }] }, now);
    expect(next).toMatchObject({ conditions: [{ status: 'False', lastTransitionTime: '2025-01-02T03:04:05Z' }] });
  });

  it('ignores status fields other controllers own', () => {
    const current = { conditions: [{ ...ready, lastTransitionTime: 'x' }], signing: { phase: 'Ready' } };
    expect(statusUpdate(current, { conditions: [ready] }, now)).toBeUndefined();
  });

  it('ignores conditions of types another controller writes, and never sends them', () => {
    const keysReady = { type: 'KeysReady', status: 'True' as const, reason: 'KeysCurrent', message: 'k', lastTransitionTime: 'x' };
    const current = { conditions: [{ ...ready, lastTransitionTime: 'x' }, keysReady] };
    expect(statusUpdate(current, { conditions: [ready] }, now)).toBeUndefined();
    const next = statusUpdate(current, { conditions: [{ ...ready, status: 'False', reason: 'InvalidSpec' }] }, now);
    expect((next?.conditions as { type: string }[]).map((c) => c.type)).toEqual(['Ready']);
  });
});
