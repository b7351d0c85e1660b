import { describe, expect, it } from 'vitest';
import { refersToRegistry, registryKeyOf, splitKey } from './object-keys.js';

type Referring = Parameters<typeof registryKeyOf>[0];

const cases: { name: string; object: Referring }[] = [
  { name: 'a ref by name, in its own namespace', object: { metadata: { name: 'g', namespace: 'team' }, spec: { registryRef: { name: 'main' } } } },
  {
    name: 'a ref naming another namespace',
    object: { metadata: { name: 'g', namespace: 'team' }, spec: { registryRef: { name: 'main', namespace: 'infra' } } },
  },
  { name: 'an empty ref namespace (its own)', object: { metadata: { name: 'g', namespace: 'team' }, spec: { registryRef: { name: 'main', namespace: '' } } } },
  { name: 'no namespace at all (default)', object: { metadata: { name: 'g' }, spec: { registryRef: { name: 'main' } } } },
  { name: 'no ref', object: { metadata: { name: 'g', namespace: 'team' } } },
  { name: 'a ref without a name', object: { metadata: { name: 'g', namespace: 'team' }, spec: { registryRef: {} } } },
];

const registries = ['team/main', 'infra/main', 'default/main', 'team/', 'team/other', 'main/team'];

describe('refersToRegistry', () => {
  for (const { name, object } of cases) {
    it(`agrees with registryKeyOf for ${name}`, () => {
      for (const key of registries) expect([key, refersToRegistry(object, splitKey(key))]).toEqual([key, registryKeyOf(object) === key]);
      // Each object refers to exactly one of them, at most.
      expect(registries.filter((key) => refersToRegistry(object, splitKey(key))).length).toBeLessThanOrEqual(1);
    });
  }
});
