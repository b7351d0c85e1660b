import { describe, expect, it } from 'vitest';
import { servedNamespaces } from './served-namespaces.js';

describe('servedNamespaces', () => {
  it('is the listed namespaces, narrowed to the watched namespace', () => {
    expect(servedNamespaces(undefined, undefined)).toBeUndefined();
    expect(servedNamespaces('team', undefined)).toBeUndefined();
    expect(servedNamespaces(undefined, ['registry', 'big', 'registry'])).toEqual(['registry', 'big']);
    expect(servedNamespaces('big', ['registry', 'big'])).toEqual(['big']);
  });

  it('refuses a list that leaves nothing to serve, naming the flag', () => {
    expect(() => servedNamespaces(undefined, [])).toThrow(/--registry-namespaces needs at least one namespace/);
    expect(() => servedNamespaces('team', ['registry'])).toThrow(/--namespace team is not among --registry-namespaces registry/);
    expect(() => servedNamespaces('team', ['registry'], '--retention-namespaces')).toThrow(/--namespace team is not among --retention-namespaces registry/);
  });
});
