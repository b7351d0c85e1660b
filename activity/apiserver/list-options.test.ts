// What a list's query string may ask, and every way of asking something this server cannot honour.
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMIT, escapeFieldValue, MAX_LIMIT, parseListOptions } from './list-options.js';
import { ApiError } from './status.js';

const now = new Date('2026-11-27T12:00:00Z');
const parse = (query: string) => parseListOptions(new URLSearchParams(query), 'team-a', now);

describe('parseListOptions', () => {
  it('reads each selectable field, since and limit', () => {
    const fs = encodeURIComponent('registry=registry/main,actor=alice,repository=team-a/app,action=push,digest=sha256:ab,tag=1.0');
    expect(parse(`fieldSelector=${fs}&since=24h&limit=10`)).toEqual({
      registry: 'registry/main',
      actor: 'alice',
      repository: 'team-a/app',
      action: 'push',
      digest: 'sha256:ab',
      tag: '1.0',
      since: new Date('2026-11-26T12:00:00Z'),
      limit: 10,
    });
  });

  it('takes kubectl spellings: == and escaped commas', () => {
    expect(parse(`fieldSelector=${encodeURIComponent('actor==ci\\,bot,metadata.namespace=team-a')}`)).toEqual({ actor: 'ci,bot', limit: DEFAULT_LIMIT });
  });

  it('reads back what escapeFieldValue wrote (the clients: audit, admin commands, retention)', () => {
    const actor = 'ci,bot=1\\x';
    expect(escapeFieldValue(actor)).toBe('ci\\,bot\\=1\\\\x');
    expect(parse(`fieldSelector=${encodeURIComponent(`actor=${escapeFieldValue(actor)},metadata.namespace=team-a`)}`)).toEqual({ actor, limit: DEFAULT_LIMIT });
  });

  it('a since given as an RFC 3339 time', () => {
    expect(parse('since=2026-11-27T10:30:00Z').since).toEqual(new Date('2026-11-27T10:30:00Z'));
  });

  it('a limit above the maximum is the maximum; kubectl chunking (limit=500) and none are the default', () => {
    expect(parse('limit=999999').limit).toBe(MAX_LIMIT);
    expect(parse('limit=500').limit).toBe(500);
    expect(parse('').limit).toBe(DEFAULT_LIMIT);
  });

  it('another namespace in metadata.namespace matches nothing', () => {
    expect(parse('fieldSelector=metadata.namespace%3Dregistry').otherNamespace).toBe(true);
  });

  it.each([
    ['an unknown field', 'fieldSelector=user%3Dalice', /unknown field "user".*registry, actor, repository/],
    ['a field given twice', 'fieldSelector=actor%3Da,actor%3Db', /actor is given twice/],
    ['!=', 'fieldSelector=actor!%3Dalice', /only = \(exact match\)/],
    ['a term without =', 'fieldSelector=actor', /expected FIELD=VALUE/],
    ['an unknown action', 'fieldSelector=action%3Dmount', /expected one of push, pull, delete/],
    ['a registry that is not NAMESPACE/NAME', 'fieldSelector=registry%3Dmain', /NAMESPACE\/NAME/],
    ['an empty value', 'fieldSelector=actor%3D', /value is empty/],
    ['since that is neither a duration nor a time', 'since=yesterday', /expected a duration \(24h, 90m\) or an RFC 3339 time/],
    ['a negative limit', 'limit=-1', /positive whole number/],
    ['a watch', 'watch=true', /cannot be watched/],
    ['a label selector', 'labelSelector=app%3Dx', /have no labels/],
  ])('refuses %s with 400', (_, query, message) => {
    let caught: unknown;
    try {
      parse(query);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ApiError);
    expect((caught as ApiError).toStatus()).toMatchObject({ code: 400, reason: 'BadRequest', message: expect.stringMatching(message) as string });
  });
});
