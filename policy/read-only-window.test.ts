import { describe, expect, it } from 'vitest';
import type { GarbageCollectionStatus, RegistryResource } from '../crds/types.js';
import type { ScopeDecision } from './authorize.js';
import { maintenanceOf, writesRefused } from './read-only-window.js';
import { compileSnapshot } from './snapshot.js';
import { parseSnapshot, serializeSnapshot, snapshotOf } from './snapshot-format.js';
import type { MaintenanceState, RegistryPolicy } from './types.js';

const START = '2031-03-04T05:00:00.000Z';

describe('maintenanceOf: which window phases the snapshot carries', () => {
  it.each<[string, GarbageCollectionStatus | undefined, MaintenanceState | undefined]>([
    ['a Registry that never had a window is writable', undefined, undefined],
    ['Idle is writable, even with the last window recorded', { phase: 'Idle', windowStart: START, windowEnd: START }, undefined],
    ['EnteringReadOnly is read-only (published before the switch)', { phase: 'EnteringReadOnly', windowStart: START }, { readOnly: true, since: START }],
    ['Collecting is read-only', { phase: 'Collecting', windowStart: START }, { readOnly: true, since: START }],
    ['LeavingReadOnly is read-only until the read-write rollout is done', { phase: 'LeavingReadOnly', windowStart: START }, { readOnly: true, since: START }],
    ['a window without a start is read-only with no time', { phase: 'Collecting' }, { readOnly: true }],
    ['a start that is not a time is left out', { phase: 'Collecting', windowStart: 'yesterday' }, { readOnly: true }],
    ['a start is normalised to UTC', { phase: 'Collecting', windowStart: '2031-03-04T06:00:00+01:00' }, { readOnly: true, since: START }],
  ])('%s', (_sentence, status, expected) => {
    expect(maintenanceOf(status)).toEqual(expected);
  });
});

function decision(scope: string, granted: string[]): ScopeDecision {
  const [type = '', name = '', actions = ''] = scope.split(':');
  return { scope: { type, name, actions: actions.split(',') }, granted, grants: granted.length > 0 ? ['ns/grant'] : [], reason: 'test' };
}

const WINDOW: MaintenanceState = { readOnly: true, since: START };

describe('writesRefused: which token requests a read-only registry refuses', () => {
  it.each<[string, MaintenanceState | undefined, ScopeDecision[], string[] | undefined]>([
    ['outside a window nothing is refused', undefined, [decision('repository:a/b:pull,push', ['pull', 'push'])], undefined],
    ['readOnly false refuses nothing', { readOnly: false }, [decision('repository:a/b:pull,push', ['pull', 'push'])], undefined],
    ['a pull is served', WINDOW, [decision('repository:a/b:pull', ['pull'])], undefined],
    ['a login without scopes is served', WINDOW, [], undefined],
    ['a granted push is refused', WINDOW, [decision('repository:a/b:push', ['push'])], ['repository:a/b:push']],
    ['pull,push is refused whole', WINDOW, [decision('repository:a/b:pull,push', ['pull', 'push'])], ['repository:a/b:pull,push']],
    ['a granted delete is refused', WINDOW, [decision('repository:a/b:delete', ['delete'])], ['repository:a/b:delete']],
    ['a granted * is refused', WINDOW, [decision('repository:a/b:*', ['*'])], ['repository:a/b:*']],
    ['a push the caller may not do anyway is not refused (it gets pull, as outside)', WINDOW, [decision('repository:a/b:pull,push', ['pull'])], undefined],
    ['a push nothing grants is not refused', WINDOW, [decision('repository:a/b:push', [])], undefined],
    ['the catalog is a read', WINDOW, [decision('registry:catalog:*', ['*'])], undefined],
    [
      'a push beside pulls of other repositories (a cross-repository mount) is refused, naming only the write',
      WINDOW,
      [decision('repository:a/src:pull', ['pull']), decision('repository:a/dst:pull,push', ['pull', 'push'])],
      ['repository:a/dst:pull,push'],
    ],
  ])('%s', (_sentence, maintenance, decisions, expected) => {
    const refusal = writesRefused(maintenance, decisions);
    expect(refusal?.scopes).toEqual(expected);
    if (refusal !== undefined) expect(refusal.since).toBe(maintenance?.since);
  });

  it('a window without a start refuses with no time', () => {
    expect(writesRefused({ readOnly: true }, [decision('repository:a/b:push', ['push'])])).toEqual({ scopes: ['repository:a/b:push'] });
  });
});

function registry(status?: GarbageCollectionStatus): RegistryResource {
  return {
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'Registry',
    metadata: { name: 'main', namespace: 'registry', generation: 1 },
    spec: { service: 'registry.example.com' },
    ...(status === undefined ? {} : { status: { garbageCollection: status } }),
  };
}

function compiled(status?: GarbageCollectionStatus) {
  const result = compileSnapshot({ registries: [registry(status)], users: [], grants: [], namespaces: [], credentials: new Map() });
  const snapshot = result.registries[0]?.snapshot;
  if (snapshot === undefined) throw new Error('the Registry was not compiled');
  return snapshot;
}

describe('the window in the snapshot', () => {
  it('compileSnapshot carries an open window, and a new generation, so the operator publishes it', () => {
    const before = compiled({ phase: 'Idle' });
    const during = compiled({ phase: 'EnteringReadOnly', windowStart: START, requestId: START });
    expect(before.registries[0]?.maintenance).toBeUndefined();
    expect(during.registries[0]?.maintenance).toEqual({ readOnly: true, since: START });
    expect(during.generation).not.toBe(before.generation);
    // Closing the window gives back the bytes of before: no churn from a window that came and went.
    expect(serializeSnapshot(compiled({ phase: 'Idle', windowStart: START, windowEnd: START, requestId: START }))).toBe(serializeSnapshot(before));
  });

  it('parseSnapshot reads a snapshot with and without the window', () => {
    const during = compiled({ phase: 'Collecting', windowStart: START });
    expect(parseSnapshot(serializeSnapshot(during)).registries[0]?.maintenance).toEqual({ readOnly: true, since: START });
    expect(parseSnapshot(serializeSnapshot(compiled())).registries[0]?.maintenance).toBeUndefined();
  });

  it.each<[string, unknown, string]>([
    ['a non-object', true, 'snapshot.registries[0].maintenance must be an object'],
    ['readOnly not a boolean', { readOnly: 'yes' }, 'snapshot.registries[0].maintenance.readOnly must be a boolean'],
    ['since not a time', { readOnly: true, since: 'soon' }, 'snapshot.registries[0].maintenance.since must be an RFC 3339 time'],
  ])('parseSnapshot refuses a window with %s', (_what, maintenance, message) => {
    const policy = { ...(compiled().registries[0] as RegistryPolicy), maintenance } as unknown as RegistryPolicy;
    expect(() => parseSnapshot(serializeSnapshot(snapshotOf([policy])))).toThrow(message);
  });
});
