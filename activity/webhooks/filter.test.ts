// Which events reach a webhook. The tenant rows are the defence in depth: even a pattern that reaches
// everything delivers nothing outside the delegated prefixes.
import { describe, expect, it } from 'vitest';
import type { EventAction, StoredEvent } from '../event.js';
import { eventFilter, wants } from './filter.js';

function event(repository: string, action: EventAction = 'push', registry = 'registry/main'): StoredEvent {
  return { seq: 1, receivedAt: '2026-11-27T10:00:00Z', id: 'e', registry, action, repository, timestamp: '2026-11-27T10:00:00Z' };
}

const home = { registry: 'registry/main' };
const tenant = { registry: 'registry/main', prefixes: ['team-a/**'] };

describe('wants', () => {
  it.each<[string, Parameters<typeof eventFilter>[0], typeof home, StoredEvent, boolean]>([
    ['the defaults: a push anywhere', {}, home, event('library/nginx'), true],
    ['the defaults: not a pull', {}, home, event('library/nginx', 'pull'), false],
    ['pulls when asked for', { actions: ['pull', 'delete'] }, home, event('library/nginx', 'pull'), true],
    ['a delete when asked for', { actions: ['pull', 'delete'] }, home, event('library/nginx', 'delete'), true],
    ['not another Registry’s event', {}, home, event('library/nginx', 'push', 'registry/other'), false],
    ['a pattern that matches', { repositories: ['team-b/*'] }, home, event('team-b/app'), true],
    ['* is one segment only', { repositories: ['team-b/*'] }, home, event('team-b/app/sub'), false],
    ['a tenant within its prefix', { repositories: ['team-a/**'] }, tenant, event('team-a/app'), true],
    ['defence in depth: ** in a tenant’s webhook still stops at the prefix', { repositories: ['**'] }, tenant, event('team-b/app'), false],
    ['defence in depth: the bare prefix name is another repository', { repositories: ['**'] }, tenant, event('team-a'), false],
  ])('%s', (_sentence, spec, scope, e, expected) => {
    expect(wants(eventFilter(spec, scope), e)).toBe(expected);
  });
});
