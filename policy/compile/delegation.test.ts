// Identity patterns: which ones a Registry may use to consent to its tenants' names. The attack: with
// "${namespace}-*", namespace `team` matched `team-a-ci`, a name `team-a`'s grants were written for.
import { describe, expect, it } from 'vitest';
import { admissionOf, identityMatches, namespaceUnambiguous, validateIdentityPattern } from './delegation.js';
import type { Delegation, NamespaceInfo } from '../../crds/types.js';

const NAMESPACES = ['a', 'b', 'a-b', 'b-a', 'team', 'team-a', 'team-a-ci', 't', 't-t', 'x0'];
const FILLERS = ['', 'x', '-', '-x', 'a', 'a-b', '.q', 'b.a', '-a-b', '.a.', 'team-a', '@a', '_b'];

/** Names a pattern matches for some namespace: each `*` filled from FILLERS (every pair for two stars). */
function namesOf(pattern: string): string[] {
  const names = new Set<string>();
  for (const ns of NAMESPACES) {
    const text = pattern.split('${namespace}').join(ns);
    let partial = [''];
    for (const [i, piece] of text.split('*').entries()) {
      partial = i === 0 ? [piece] : partial.flatMap((p) => FILLERS.map((f) => `${p}${f}${piece}`));
    }
    for (const n of partial) names.add(n);
  }
  return [...names];
}

/** A name two namespaces' instances of `pattern` both match, if any. */
function sharedName(pattern: string): string | undefined {
  return namesOf(pattern).find((name) => NAMESPACES.filter((ns) => identityMatches(pattern, ns, name)).length > 1);
}

describe('identity patterns: one namespace per name', () => {
  const cases: [string, boolean][] = [
    ['${namespace}-*', false],
    ['*-${namespace}', false],
    ['${namespace}*', false],
    ['*${namespace}', false],
    ['ci-${namespace}-*', false],
    ['*.${namespace}.*', false],
    ['${namespace}${namespace}.*', true],
    ['${namespace}-x${namespace}.*', true],
    ['${namespace}.*', true],
    ['${namespace}_*', true],
    ['${namespace}@*', true],
    ['ci@${namespace}.*', true],
    ['*@${namespace}', true],
    ['*.${namespace}', true],
    ['*.${namespace}-bots', true],
    ['${namespace}-devs', true],
    ['${namespace}-${namespace}', true],
    ['ci-*', true],
    ['*', true],
  ];
  it.each(cases)('%s: unambiguous %s', (pattern, unambiguous) => {
    expect(namespaceUnambiguous(pattern)).toBe(unambiguous);
    const error = validateIdentityPattern(pattern);
    if (unambiguous) expect(error).toBeUndefined();
    else expect(error).toContain('would let one namespace match another');
  });

  it('the refused patterns do share names between namespaces (the premise), the accepted ones never do', () => {
    for (const [pattern, unambiguous] of cases) {
      // Patterns without ${namespace} match the same names for every namespace by design.
      if (!pattern.includes('${namespace}')) continue;
      const shared = sharedName(pattern);
      if (unambiguous) expect(shared, pattern).toBeUndefined();
      else expect(shared, pattern).toBeDefined();
    }
    expect(identityMatches('${namespace}-*', 'team', 'team-a-ci') && identityMatches('${namespace}-*', 'team-a', 'team-a-ci')).toBe(true);
  });

  it('generated patterns: whatever the rule accepts gives each name one namespace', () => {
    const atoms = ['${namespace}', '*', '-', '.', 'a', '@'];
    let accepted = 0;
    const build = (prefix: string, depth: number): void => {
      if (prefix.includes('${namespace}') && namespaceUnambiguous(prefix)) {
        accepted++;
        expect(sharedName(prefix), prefix).toBeUndefined();
      }
      if (depth === 0) return;
      for (const atom of atoms) build(prefix + atom, depth - 1);
    };
    build('', 4);
    expect(accepted).toBeGreaterThan(100);
  });
});

describe('selecting namespaces by name', () => {
  const byName: Delegation[] = [
    {
      namespaces: {
        from: 'Selector',
        selector: { matchLabels: { team: 'a' }, matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['team-a'] }] },
      },
      repositories: ['${namespace}/**'],
    },
  ];
  const namespaces = new Map<string, NamespaceInfo>([
    // As compiled offline: the manifests carry no kubernetes.io/metadata.name.
    ['team-a', { name: 'team-a', labels: { team: 'a' } }],
    ['library', { name: 'library', labels: { team: 'a' } }],
    // A value the API server would never have set: the name decides.
    ['forged', { name: 'forged', labels: { team: 'a', 'kubernetes.io/metadata.name': 'team-a' } }],
  ]);
  it.each([
    ['team-a', true],
    ['library', false],
    ['forged', false],
  ])('%s admitted: %s', (ns, admitted) => {
    expect(admissionOf('registry', byName, ns, namespaces) !== undefined).toBe(admitted);
  });
});
