// Which Registries' events a namespace sees, and within which prefixes: the delegation rules the token
// server applies, read the other way round.
import { describe, expect, it } from 'vitest';
import type { NamespaceInfo } from '../../crds/types.js';
import { visibleRegistries, type RegistryDelegation } from './visibility.js';

const main: RegistryDelegation = {
  namespace: 'registry',
  name: 'main',
  delegation: [{ namespaces: { from: 'Selector', selector: { matchLabels: { team: 'a' } } }, repositories: ['${namespace}/**'] }],
};
const other: RegistryDelegation = { namespace: 'other', name: 'mirror', delegation: [] };
const namespaces = new Map<string, NamespaceInfo>([
  ['team-a', { name: 'team-a', labels: { team: 'a' } }],
  ['team-ab', { name: 'team-ab', labels: { team: 'b' } }],
]);

describe('visibleRegistries', () => {
  it("the Registry's own namespace sees all of it", () => {
    expect(visibleRegistries('registry', [main, other], namespaces)).toEqual([{ registry: 'registry/main' }]);
  });

  it('an admitted namespace sees only its delegated prefixes', () => {
    expect(visibleRegistries('team-a', [main, other], namespaces)).toEqual([{ registry: 'registry/main', within: ['team-a/**'] }]);
  });

  it('a namespace the delegation does not select sees nothing (a name prefix is no admission)', () => {
    expect(visibleRegistries('team-ab', [main, other], namespaces)).toEqual([]);
    expect(visibleRegistries('unknown', [main, other], namespaces)).toEqual([]);
  });

  it('from: All admits every namespace, each within its own prefixes', () => {
    const open: RegistryDelegation = { ...other, delegation: [{ namespaces: { from: 'All' }, repositories: ['${namespace}/**', 'shared/${namespace}/*'] }] };
    expect(visibleRegistries('team-ab', [open], namespaces)).toEqual([{ registry: 'other/mirror', within: ['shared/team-ab/*', 'team-ab/**'] }]);
  });
});
