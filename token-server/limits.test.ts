import { describe, expect, it } from 'vitest';
import { clientKey } from './client-key.js';
import { DEFAULT_LIMITS, LoginThrottle } from './limits.js';

const C = clientKey('192.0.2.7');
const T0 = Date.parse('2026-11-29T12:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);

function throttle(clock: { now: Date }): LoginThrottle {
  return new LoginThrottle({ ...DEFAULT_LIMITS, failuresPerAddress: 3, failuresPerAccountAndAddress: 100, failureWindowSeconds: 60 }, () => clock.now);
}

/** Logs `account` in successfully at `seconds`, so it is a known client at C. */
function knownAt(t: LoginThrottle, account: string, seconds: number): void {
  const admitted = t.begin(account, C, at(seconds));
  if (!('attempt' in admitted)) throw new Error('refused');
  admitted.attempt.succeeded();
}

function fail(t: LoginThrottle, account: string, seconds: number): void {
  const admitted = t.begin(account, C, at(seconds));
  if (!('attempt' in admitted)) throw new Error(`${account} refused at ${seconds}s`);
  admitted.attempt.failed();
}

describe('LoginThrottle', () => {
  it("counts a known client's failure when it ends: one that began longer ago than the window still takes a place", () => {
    const clock = { now: at(0) };
    const t = throttle(clock);
    knownAt(t, 'alice', 0);
    const slow = t.begin('alice', C, at(1));
    if (!('attempt' in slow)) throw new Error('refused');
    fail(t, 'guess-1', 100);
    fail(t, 'guess-2', 101);
    // alice's check began at 1 s and ends, wrong, at 102 s (a slow directory, a long queue).
    clock.now = at(102);
    slow.attempt.failed();
    // Three failures within the last minute: the address is spent for anyone not known there.
    expect(t.begin('mallory', C, at(103))).toEqual({ retryAfterSeconds: expect.any(Number) });
  });

  it('succeededAsAnother gives the places back and makes nobody known', () => {
    const clock = { now: at(0) };
    const t = throttle(clock);
    const shared = t.begin('dana', C, at(0));
    if (!('attempt' in shared)) throw new Error('refused');
    shared.attempt.succeededAsAnother();
    expect(t.isKnownClient('dana', C, at(1))).toBe(false);
    for (let i = 0; i < 3; i++) fail(t, 'dana', 2 + i);
    // Not known: dana's next attempt faces the spent address budget like anyone's.
    expect(t.begin('dana', C, at(6))).toEqual({ retryAfterSeconds: expect.any(Number) });
  });
});
