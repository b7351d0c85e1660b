import { describe, expect, it } from 'vitest';
import { findTagOverwrites, type TagPush } from './tag-overwrites.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const D3 = `sha256:${'3'.repeat(64)}`;
const push = (tag: string, digest: string, minute: number, repository = 'team-a/app', actor = 'ci-bot'): TagPush => ({
  repository,
  tag,
  digest,
  timestamp: new Date(Date.UTC(2026, 10, 27, 12, minute)).toISOString(),
  actor,
});

describe('findTagOverwrites', () => {
  it('reports a tag moved to another digest, with who moved it and when', () => {
    const found = findTagOverwrites([push('v1.0.0', D1, 1), push('v1.0.0', D2, 5, 'team-a/app', 'mallory')]);
    expect(found).toEqual([
      { repository: 'team-a/app', tag: 'v1.0.0', previousDigest: D1, digest: D2, timestamp: push('x', D1, 5).timestamp, actor: 'mallory' },
    ]);
  });

  it('does not report the same digest pushed again (a CI re-run)', () => {
    expect(findTagOverwrites([push('v1.0.0', D1, 1), push('v1.0.0', D1, 2), push('v1.0.0', D1, 3)])).toEqual([]);
  });

  it('orders by time, whatever order the trail returned (newest first)', () => {
    const found = findTagOverwrites([push('v1', D3, 9), push('v1', D2, 5), push('v1', D1, 1)]);
    expect(found.map((o) => [o.previousDigest, o.digest])).toEqual([
      [D1, D2],
      [D2, D3],
    ]);
  });

  it('keeps repositories and tags apart', () => {
    expect(findTagOverwrites([push('v1', D1, 1, 'a'), push('v1', D2, 2, 'b'), push('v2', D3, 3, 'a')])).toEqual([]);
  });

  it('reports only tags matching the globs when given', () => {
    const pushes = [push('latest', D1, 1), push('latest', D2, 2), push('v1.0.0', D1, 3), push('v1.0.0', D2, 4)];
    expect(findTagOverwrites(pushes, ['v*']).map((o) => o.tag)).toEqual(['v1.0.0']);
    expect(findTagOverwrites(pushes).map((o) => o.tag)).toEqual(['latest', 'v1.0.0']);
  });

  it('reports a tag that goes back to its first digest as a second overwrite', () => {
    expect(findTagOverwrites([push('v1', D1, 1), push('v1', D2, 2), push('v1', D1, 3)])).toHaveLength(2);
  });
});
