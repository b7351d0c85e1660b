import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatScope, isRepositoryName, parseScopes, type ResourceScope } from './scope.js';

describe('parseScopes', () => {
  const good: [string, string[], ResourceScope[]][] = [
    ['a plain repository scope', ['repository:team/app:pull'], [{ type: 'repository', name: 'team/app', actions: ['pull'] }]],
    ['several actions', ['repository:app:pull,push'], [{ type: 'repository', name: 'app', actions: ['pull', 'push'] }]],
    [
      'a name with host:port (actions after the LAST colon)',
      ['repository:localhost:5000/foo/bar:pull'],
      [{ type: 'repository', name: 'localhost:5000/foo/bar', actions: ['pull'] }],
    ],
    ['a type with a class', ['repository(plugin):vieux/sshfs:pull'], [{ type: 'repository', class: 'plugin', name: 'vieux/sshfs', actions: ['pull'] }]],
    ['the catalog', ['registry:catalog:*'], [{ type: 'registry', name: 'catalog', actions: ['*'] }]],
    [
      'several scopes in one parameter',
      ['repository:a:pull repository:b:push'],
      [
        { type: 'repository', name: 'a', actions: ['pull'] },
        { type: 'repository', name: 'b', actions: ['push'] },
      ],
    ],
    ['empty parameters are ignored', ['', 'repository:a:pull', ''], [{ type: 'repository', name: 'a', actions: ['pull'] }]],
    ['no parameters give no scopes', [], []],
    ['empty actions are dropped', ['repository:a:,pull,,'], [{ type: 'repository', name: 'a', actions: ['pull'] }]],
    ['duplicate actions are removed, first-seen order kept', ['repository:a:push,pull,push'], [{ type: 'repository', name: 'a', actions: ['push', 'pull'] }]],
    ['the same resource twice is merged', ['repository:a:pull', 'repository:a:push,pull'], [{ type: 'repository', name: 'a', actions: ['pull', 'push'] }]],
    [
      'a different class is a different resource',
      ['repository:a:pull repository(plugin):a:pull'],
      [
        { type: 'repository', name: 'a', actions: ['pull'] },
        { type: 'repository', class: 'plugin', name: 'a', actions: ['pull'] },
      ],
    ],
    ['name separators of the reference grammar', ['repository:a.b_c__d---e/f:pull'], [{ type: 'repository', name: 'a.b_c__d---e/f', actions: ['pull'] }]],
    ['an unknown resource type still parses', ['foo:bar:baz'], [{ type: 'foo', name: 'bar', actions: ['baz'] }]],
  ];
  it.each(good)('reads %s', (_sentence, params, scopes) => {
    expect(parseScopes(params)).toEqual({ ok: true, scopes });
  });

  const bad: [string, string, string][] = [
    ['no colon at all', 'repository', 'repository'],
    ['only one colon', 'repository:app', 'repository:app'],
    ['an empty name', 'repository::pull', 'repository::pull'],
    ['an upper-case path component', 'repository:team/App:pull', 'team/App'],
    ['a repository name ending in a separator', 'repository:app-:pull', 'app-'],
    ['an empty path segment', 'repository:team//app:pull', 'team//app'],
    ['a bad type', 'Repo:app:pull', 'Repo'],
    ['an unclosed class', 'repository(plugin:app:pull', 'repository(plugin'],
    ['no actions', 'repository:app:', 'no actions'],
    ['a bad action', 'repository:app:pu$ll', 'pu$ll'],
    ['nine distinct actions', 'repository:app:a,b,c,d,e,f,g,h,i', 'more than 8 actions'],
    ['an action of 65 characters', `repository:app:${'a'.repeat(65)}`, 'bad action'],
  ];
  it.each(bad)('refuses %s, naming the scope', (_sentence, raw, mention) => {
    const r = parseScopes([raw]);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain(mention);
  });

  it('refuses more than maxScopes scopes', () => {
    const params = Array.from({ length: 4 }, (_, i) => `repository:r${i}:pull`);
    expect(parseScopes(params, { maxScopes: 3 }).ok).toBe(false);
    expect(parseScopes(params, { maxScopes: 4 }).ok).toBe(true);
  });
  it('defaults to at most 32 scopes', () => {
    const params = Array.from({ length: 33 }, (_, i) => `repository:r${i}:pull`);
    expect(parseScopes(params).ok).toBe(false);
    expect(parseScopes(params.slice(0, 32)).ok).toBe(true);
  });
  it('refuses a name longer than maxNameLength (255 by default)', () => {
    const long = `a/${'b'.repeat(253)}`;
    expect(parseScopes([`repository:${long}:pull`]).ok).toBe(true);
    expect(parseScopes([`repository:${long}b:pull`]).ok).toBe(false);
    expect(parseScopes(['repository:abcdef:pull'], { maxNameLength: 5 }).ok).toBe(false);
  });
  it('bounds actions per resource after merging: eight are read, a ninth spread over two scopes is refused', () => {
    expect(parseScopes(['repository:app:a,b,c,d,a,b', 'repository:app:e,f,g,h']).ok).toBe(true);
    const r = parseScopes(['repository:app:a,b,c,d,e', 'repository:app:f,g,h,i']);
    expect(r).toEqual({ ok: false, message: 'invalid scope "repository:app:f,g,h,i": more than 8 actions on one resource' });
    expect(parseScopes([`repository:app:${'a'.repeat(64)}`]).ok).toBe(true);
  });
  it('keeps control characters out of messages', () => {
    const r = parseScopes(['repository:a\nb:pull']);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).not.toContain('\n');
  });
});

describe('isRepositoryName', () => {
  const cases: [string, string, boolean][] = [
    ['a single component', 'app', true],
    ['a domain with port', 'localhost:5000/app', true],
    ['a dotted domain', 'registry.example.com/team/app', true],
    ['an IPv6 domain', '[::1]:5000/app', true],
    ['a port without domain path', 'localhost:5000', false],
    ['a leading slash', '/app', false],
    ['upper case in the path', 'team/App', false],
  ];
  it.each(cases)('%s: %s -> %s', (_sentence, name, ok) => {
    expect(isRepositoryName(name)).toBe(ok);
  });
});

// Generators for valid scopes, following the reference grammar.
const alnum = fc.stringMatching(/^[a-z0-9]{1,6}$/);
const separator = fc.constantFrom('.', '_', '__', '-', '--');
const component = fc.tuple(alnum, fc.array(fc.tuple(separator, alnum), { maxLength: 2 })).map(([head, rest]) => head + rest.map(([s, a]) => s + a).join(''));
const domain = fc.constantFrom('localhost:5000', 'registry.example.com', 'reg-1.local:443');
const repoName = fc
  .tuple(fc.option(domain, { nil: undefined }), fc.array(component, { minLength: 1, maxLength: 4 }))
  .map(([d, parts]) => (d === undefined ? parts.join('/') : `${d}/${parts.join('/')}`));
const actions: fc.Arbitrary<string[]> = fc.uniqueArray(fc.constantFrom<string>('pull', 'push', 'delete', '*', 'x-custom'), { minLength: 1, maxLength: 4 });
const scope: fc.Arbitrary<ResourceScope> = fc.oneof(
  fc.record({ type: fc.constant<string>('repository'), name: repoName, actions }),
  fc.record({ type: fc.constant<string>('repository'), class: fc.constantFrom<string>('plugin', 'image'), name: repoName, actions }),
  fc.constant<ResourceScope>({ type: 'registry', name: 'catalog', actions: ['*'] }),
);

describe('parseScopes and formatScope', () => {
  it('round-trip: parse(format(s)) is s', () => {
    fc.assert(
      fc.property(scope, (s) => {
        expect(parseScopes([formatScope(s)])).toEqual({ ok: true, scopes: [s] });
      }),
    );
  });
  it('merging: parsing scopes spread over parameters unions actions per resource', () => {
    fc.assert(
      fc.property(fc.array(scope, { maxLength: 8 }), (scopes) => {
        const r = parseScopes([scopes.map(formatScope).join(' ')]);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        const keys = r.scopes.map((s) => `${s.type}/${s.class ?? ''}/${s.name}`);
        expect(new Set(keys).size).toBe(keys.length);
        for (const s of scopes) {
          const merged = r.scopes.find((m) => m.type === s.type && m.class === s.class && m.name === s.name);
          expect(merged).toBeDefined();
          for (const a of s.actions) expect(merged?.actions).toContain(a);
        }
      }),
    );
  });
  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 80 }), { maxLength: 5 }), (params) => {
        const r = parseScopes(params);
        if (r.ok) for (const s of r.scopes) expect(s.actions.length).toBeGreaterThan(0);
      }),
    );
  });
});
