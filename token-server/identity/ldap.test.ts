import { FilterParser, SearchRequest, type EqualityFilter } from 'ldapts';
import { describe, expect, it } from 'vitest';
import { escapeFilterValue, fill } from './ldap.js';
import { peekJwt } from './jwt-shape.js';

describe('escapeFilterValue', () => {
  it.each([
    ['dana', 'dana'],
    ['*', '\\2a'],
    ['dana)(uid=*', 'dana\\29\\28uid=\\2a'],
    ['back\\slash', 'back\\5cslash'],
    ['nul\u0000byte', 'nul\\00byte'],
    ['josé', 'josé'],
  ])('%j becomes %j: a login name cannot change the filter', (raw, escaped) => {
    expect(escapeFilterValue(raw)).toBe(escaped);
  });
});

/** What ldapts puts on the wire for a filled filter: the parsed filter and the search request's bytes. */
function sent(template: string, username: string, dn?: string): { filter: EqualityFilter; wire: Buffer } {
  const filter = FilterParser.parseString(fill(template, dn === undefined ? { username } : { username, dn }));
  return { filter: filter as EqualityFilter, wire: new SearchRequest({ messageId: 1, baseDN: 'dc=example', filter }).write() };
}

describe('the filter ldapts sends', () => {
  it('asks the directory for a name beyond ASCII as its UTF-8, not byte by byte (josé, not josÃ©)', () => {
    for (const name of ['josé', 'Łukasz', '山田', 'zoë🙂']) {
      const { filter, wire } = sent('(uid={username})', name);
      expect(filter.constructor.name).toBe('EqualityFilter');
      expect(filter.value).toBe(name);
      expect(wire.includes(Buffer.from(name, 'utf8'))).toBe(true);
    }
  });

  it('sends an injection attempt as one literal value of one equality filter', () => {
    const { filter, wire } = sent('(uid={username})', '*)(uid=*');
    expect(filter.constructor.name).toBe('EqualityFilter');
    expect([filter.attribute, filter.value]).toEqual(['uid', '*)(uid=*']);
    expect(wire.includes(Buffer.from('*)(uid=*'))).toBe(true);
    expect(sent('(uid={username})', 'back\\slash\u0000').filter.value).toBe('back\\slash\u0000');
  });

  it("takes `$` in a name literally, never as the template's text around the placeholder", () => {
    const template = '(&(objectClass=person)(uid={username}))';
    expect(fill(template, { username: "a$`$'$&" })).toBe("(&(objectClass=person)(uid=a$`$'$&))");
    expect(() => FilterParser.parseString(fill(template, { username: '$`' }))).not.toThrow();
  });

  it('fills a {dn} placeholder once: a username spelling {dn} stays itself', () => {
    expect(fill('(|(member={dn})(memberUid={username}))', { username: '{dn}', dn: 'uid=josé,ou=people' })).toBe(
      '(|(member=uid=josé,ou=people)(memberUid={dn}))',
    );
  });
});

describe('peekJwt', () => {
  const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url');
  it('reads the header and claims of a compact JWS without verifying', () => {
    expect(peekJwt(`${b64({ alg: 'RS256' })}.${b64({ iss: 'https://i', sub: 's' })}.sig`)).toEqual({ alg: 'RS256', claims: { iss: 'https://i', sub: 's' } });
  });
  it.each([
    ['a password', 'correct horse battery staple'],
    ['two parts', `${b64({ alg: 'none' })}.${b64({})}`],
    ['a header that is not JSON', `bm90IGpzb24.${b64({})}.sig`],
    ['an oversized token', `${b64({ alg: 'RS256' })}.${'a'.repeat(20_000)}.sig`],
  ])('is undefined for %s', (_name, password) => {
    expect(peekJwt(password)).toBeUndefined();
  });
});
