import { describe, expect, it } from 'vitest';
import { thrownBy } from '../../test/support/assert.js';
import { registryKeyFrom, windowReport } from './gc.js';

describe('portcullis gc', () => {
  it.each<[string, string | undefined, { namespace: string; name: string }]>([
    ['team/main', undefined, { namespace: 'team', name: 'main' }],
    ['main', 'team', { namespace: 'team', name: 'main' }],
    ['main', undefined, { namespace: 'default', name: 'main' }],
  ])('%s (-n %s) names %j', (argument, namespace, expected) => {
    expect(registryKeyFrom(argument, namespace)).toEqual(expected);
  });

  it.each(['a/b/c', '/main', 'team/', ''])('%j is refused with the forms it accepts', (argument) => {
    expect(thrownBy(() => registryKeyFrom(argument, undefined)).message).toBe(`"${argument}" is not NAMESPACE/NAME or NAME`);
  });

  it('prints the window and its result', () => {
    expect(
      windowReport({
        phase: 'Idle',
        windowStart: '2026-11-27T17:00:00.000Z',
        windowEnd: '2026-11-27T17:00:20.000Z',
        lastResult: { succeeded: true, bytesFreed: 10, message: 'freed 10 bytes: 1 blobs and 0 manifests deleted' },
      }),
    ).toBe('window 2026-11-27T17:00:00.000Z .. 2026-11-27T17:00:20.000Z: succeeded, freed 10 bytes: 1 blobs and 0 manifests deleted');
    expect(windowReport({ phase: 'Idle', windowStart: 'a', windowEnd: 'b', lastResult: { succeeded: false, message: 'timed out' } })).toBe(
      'window a .. b: FAILED, timed out',
    );
  });
});
