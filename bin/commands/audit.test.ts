// `portcullis audit`: what the flags become (the aggregated API path and query), each refusal of bad
// flags before anything is sent, the table, and the 403 explanation.
import { describe, expect, it } from 'vitest';
import type { RegistryEventList } from '../../activity/apiserver/objects.js';
import { auditRequest, forbiddenMessage, formatOverwrites, formatTable, tagPushesOf, type AuditFlags } from './audit.js';

const flags = (more: Partial<AuditFlags> = {}): AuditFlags => ({ registry: 'registry/main', output: 'table', ...more });

describe('auditRequest', () => {
  it("lists in the Registry's namespace by default, selecting the Registry", () => {
    expect(auditRequest(flags())).toEqual({
      namespace: 'registry',
      path: '/apis/activity.portcullis.dev/v1alpha1/namespaces/registry/registryevents',
      query: { fieldSelector: 'registry=registry/main' },
      output: 'table',
    });
  });

  it('a tenant reads as its own namespace; every filter becomes a field selector term or a parameter', () => {
    expect(
      auditRequest(flags({ namespace: 'team-a', user: 'ci,bot=1', repository: 'team-a/app', action: 'push', since: '24h', limit: '20', output: 'json' })),
    ).toEqual({
      namespace: 'team-a',
      path: '/apis/activity.portcullis.dev/v1alpha1/namespaces/team-a/registryevents',
      query: { fieldSelector: 'registry=registry/main,actor=ci\\,bot\\=1,repository=team-a/app,action=push', since: '24h', limit: '20' },
      output: 'json',
    });
    expect(auditRequest(flags({ since: '2026-11-27T10:00:00Z' })).query.since).toBe('2026-11-27T10:00:00Z');
  });

  it.each([
    ['a registry without namespace', { registry: 'main' }, /--registry must be NAMESPACE\/NAME/],
    ['a bad namespace', { namespace: 'Team_A' }, /--namespace must be a namespace name/],
    ['an unknown action', { action: 'mount' }, /--action must be one of push, pull, delete/],
    ['a since that is neither', { since: 'yesterday' }, /--since must be a duration/],
    ['a zero limit', { limit: '0' }, /--limit must be a positive whole number/],
    ['an unknown output', { output: 'yaml' }, /-o must be table or json/],
    ['an empty user', { user: '' }, /--user must not be empty/],
    ['--tags without --overwrites', { tags: ['v*'] }, /--tags needs --overwrites/],
    ['--overwrites with another action', { overwrites: true, action: 'pull' }, /--action must be push or absent/],
    ['a tag glob with a slash', { overwrites: true, tags: ['v*/x'] }, /--tags takes tag globs/],
  ])('refuses %s', (_, more, message) => {
    expect(() => auditRequest(flags(more))).toThrow(message);
  });
});

describe('--overwrites', () => {
  it('lists pushes only and carries the tag globs', () => {
    const request = auditRequest(flags({ overwrites: true, tags: ['v*'], since: '720h' }));
    expect(request.query).toEqual({ fieldSelector: 'registry=registry/main,action=push', since: '720h' });
    expect(request.overwrites).toEqual(['v*']);
    expect(auditRequest(flags({ overwrites: true })).overwrites).toEqual([]);
    expect(auditRequest(flags()).overwrites).toBeUndefined();
  });

  it('reads pushes with a tag and a digest from the list, and prints who moved which tag', () => {
    const D1 = `sha256:${'a'.repeat(64)}`;
    const D2 = `sha256:${'b'.repeat(64)}`;
    const item = (tag: string | undefined, digest: string, time: string) => ({
      metadata: { name: time, namespace: 'registry', creationTimestamp: time },
      registry: 'registry/main',
      action: 'push',
      repository: 'team-a/app',
      ...(tag === undefined ? {} : { tag }),
      digest,
      actor: 'ci-bot',
    });
    const list = {
      items: [item('v1', D2, '2026-11-27T12:05:00Z'), item(undefined, D2, '2026-11-27T12:04:00Z'), item('v1', D1, '2026-11-27T12:00:00Z')],
    } as unknown as RegistryEventList;
    expect(tagPushesOf(list)).toHaveLength(2);
    const table = formatOverwrites([
      { repository: 'team-a/app', tag: 'v1', previousDigest: D1, digest: D2, timestamp: '2026-11-27T12:05:00Z', actor: 'ci-bot' },
    ]);
    expect(table.split('\n')[1]).toMatch(/^2026-11-27T12:05:00Z\s+team-a\/app\s+v1\s+sha256:aaaaaaaaaaaa\s+sha256:bbbbbbbbbbbb\s+ci-bot$/);
    expect(formatOverwrites([])).toBe('No tag was moved to another digest.\n');
  });
});

describe('formatTable', () => {
  it('prints aligned columns with the digest shortened and anonymous pulls named', () => {
    const list: RegistryEventList = {
      apiVersion: 'activity.portcullis.dev/v1alpha1',
      kind: 'RegistryEventList',
      metadata: {},
      items: [
        {
          apiVersion: 'activity.portcullis.dev/v1alpha1',
          kind: 'RegistryEvent',
          metadata: { name: '1-abcdefabcdef', namespace: 'registry', creationTimestamp: '2026-11-27T11:00:00Z' },
          registry: 'registry/main',
          id: 'e1',
          action: 'pull',
          repository: 'library/base',
          digest: `sha256:${'ab'.repeat(32)}`,
          sourceAddr: '10.0.0.7:4000',
          timestamp: '2026-11-27T11:00:00.000Z',
          receivedAt: '2026-11-27T11:00:00.100Z',
        },
      ],
    };
    expect(formatTable(list)).toBe(
      [
        'TIME                   ACTION   REPOSITORY     TAG   DIGEST                ACTOR         SOURCE',
        '2026-11-27T11:00:00Z   pull     library/base   -     sha256:abababababab   <anonymous>   10.0.0.7:4000',
        '',
      ].join('\n'),
    );
    expect(formatTable({ ...list, items: [] })).toBe('No events found.\n');
  });
});

describe('forbiddenMessage', () => {
  it('names who, what, where and the RoleBinding to ask for, and hints at --namespace for tenants', () => {
    const message = forbiddenMessage('tenant', 'registry', 'registry/main', 'registryevents.activity.portcullis.dev is forbidden: ...');
    expect(message).toContain('user "tenant" may not list registryevents (activity.portcullis.dev) in namespace "registry"');
    expect(message).toContain('kubectl create rolebinding activity-reader -n registry --clusterrole=portcullis-activity-reader --user=tenant');
    expect(message).toContain('pass --namespace YOUR-NAMESPACE');
  });
});
