import { describe, expect, it } from 'vitest';
import { secretNamespaces, servedNamespaces } from './served-namespaces.js';

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

describe('secretNamespaces', () => {
  it('is the listed namespaces and those holding Registries, sorted; undefined without a list', () => {
    expect(secretNamespaces(undefined, undefined, ['registry'])).toBeUndefined();
    expect(secretNamespaces(undefined, ['team-b', 'team-a', 'team-b'], ['registry'])).toEqual(['registry', 'team-a', 'team-b']);
    expect(secretNamespaces(undefined, ['registry'], ['registry'])).toEqual(['registry']);
  });

  it('narrows to the watched namespace as the other lists do', () => {
    expect(secretNamespaces('team-a', ['team-a', 'team-b'], undefined)).toEqual(['team-a']);
    expect(() => secretNamespaces('other', ['team-a'], undefined)).toThrow(/--namespace other is not among --secret-namespaces team-a/);
  });

  it('refuses a list when Registries may be in any namespace', () => {
    expect(() => secretNamespaces(undefined, ['team-a'], undefined)).toThrow(/--secret-namespaces needs --registry-namespaces/);
    expect(() => secretNamespaces(undefined, [], ['registry'])).toThrow(/--secret-namespaces needs at least one namespace/);
  });
});
