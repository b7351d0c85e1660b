import { describe, expect, it } from 'vitest';
import { serializeCredentials } from '../../policy/snapshot-format.js';
import { CREDENTIALS_FORMAT } from '../../policy/types.js';
import { PublishedDocuments, sameSources } from './published-documents.js';

const record = (version: string) => ({ sourceVersion: version, hash: `$2y$04$${version}` });

describe('sameSources', () => {
  it.each([
    ['the same records in other objects', [['ns/a', record('1')]], [['ns/a', record('1')]], true],
    ['a new source version', [['ns/a', record('1')]], [['ns/a', record('2')]], false],
    [
      'a user more',
      [['ns/a', record('1')]],
      [
        ['ns/a', record('1')],
        ['ns/b', record('1')],
      ],
      false,
    ],
    ['another user of the same count', [['ns/a', record('1')]], [['ns/b', record('1')]], false],
  ] as const)('%s', (_name, a, b, same) => {
    expect(sameSources(new Map(a), new Map(b))).toBe(same);
  });
});

describe('PublishedDocuments', () => {
  it('serializes the sources again only when a record changed, sorted by user', () => {
    const documents = new PublishedDocuments();
    const first = documents.sourcesDocument(
      new Map([
        ['ns/b', record('1')],
        ['ns/a', record('1')],
      ]),
    );
    expect(Object.keys(JSON.parse(first.json) as object)).toEqual(['ns/a', 'ns/b']);
    expect(
      documents.sourcesDocument(
        new Map([
          ['ns/a', record('1')],
          ['ns/b', record('1')],
        ]),
      ),
    ).toBe(first);
    const changed = documents.sourcesDocument(
      new Map([
        ['ns/a', record('1')],
        ['ns/b', record('2')],
      ]),
    );
    expect(changed.json).toContain('"sourceVersion":"2"');
    expect(changed.digest).not.toBe(first.digest);
  });

  it('serializes the credentials again when their hashes object or the identity secrets change', () => {
    const documents = new PublishedDocuments();
    const hashes = { alice: '$2y$04$a' };
    const credentials = { format: CREDENTIALS_FORMAT, registries: { 'ns/main': hashes } };
    const first = documents.credentialsDocument('ns/main', credentials);
    expect(first.json).toBe(serializeCredentials(credentials));
    expect(documents.credentialsDocument('ns/main', { ...credentials })).toBe(first);
    const withLdap = { ...credentials, identity: { 'ns/main': { ldapBindPassword: 'bind' } } };
    expect(documents.credentialsDocument('ns/main', withLdap).json).toBe(serializeCredentials(withLdap));
    const other = { format: CREDENTIALS_FORMAT, registries: { 'ns/main': { alice: '$2y$04$b' } } };
    expect(documents.credentialsDocument('ns/main', other).json).toBe(serializeCredentials(other));
  });
});
