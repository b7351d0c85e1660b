import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { crdReference } from './reference.js';

describe('docs/crd-reference.md', () => {
  it('is what crds/reference.ts generates from the CRDs (run `npm run docs` after changing a CRD)', () => {
    const committed = readFileSync(new URL('../docs/crd-reference.md', import.meta.url), 'utf8');
    expect(committed).toBe(crdReference());
  });

  it('documents every kind and its spec fields', () => {
    const text = crdReference();
    for (const field of [
      '## Registry',
      '## RegistryUser',
      '## RepositoryGrant',
      '`spec.service`',
      '`spec.passwordSecretRef.name`',
      '`spec.subjects[].kind`',
      '`spec.actions`',
    ]) {
      expect(text).toContain(field);
    }
  });
});
