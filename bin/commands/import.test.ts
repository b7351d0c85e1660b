import bcrypt from 'bcrypt';
import { Command } from 'commander';
import fc from 'fast-check';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { validateResource } from '../../crds/schema.js';
import { parseCredentials } from '../../policy/snapshot-format.js';
import { compileManifests } from './compile.js';
import { htpasswdToManifests, objectNameFor, register, toYamlDocuments } from './import.js';

// What `htpasswd -B` writes: $2y$ hashes.
const hashY = (password: string) => bcrypt.hashSync(password, 4).replace(/^\$2b\$/, '$2y$');
const PASSWORDS: Record<string, string> = { alice: 'alice-pw', 'Bob.Smith@example.com': 'bob pw with spaces', 'ci-bot': 'c1!' };
const HTPASSWD = `# exported from the old registry\n${Object.entries(PASSWORDS)
  .map(([user, pw]) => `${user}:${hashY(pw)}`)
  .join('\n')}\n\n`;

describe('import htpasswd', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-import-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips: import -> compile -> the old passwords still verify', async () => {
    const result = htpasswdToManifests(HTPASSWD, { registry: 'main', namespace: 'registry' });
    if (!('objects' in result)) throw new Error(result.errors.join('\n'));
    await writeFile(join(dir, 'users.yaml'), toYamlDocuments(result.objects));
    await writeFile(
      join(dir, 'registry.yaml'),
      'apiVersion: portcullis.dev/v1alpha1\nkind: Registry\nmetadata: {name: main, namespace: registry}\nspec: {service: r.example}\n',
    );
    const outDir = join(dir, 'out');
    const outcome = await compileManifests({ files: [dir], outDir, cost: 4 });
    expect(outcome.err).toEqual([]);
    expect(outcome.exitCode).toBe(0);
    const hashes = parseCredentials(await readFile(join(outDir, 'credentials.json'), 'utf8')).registries['registry/main'] ?? {};
    expect(Object.keys(hashes).sort()).toEqual(Object.keys(PASSWORDS).sort());
    for (const [user, password] of Object.entries(PASSWORDS)) {
      expect(await bcrypt.compare(password, hashes[user] ?? ''), user).toBe(true);
      expect(await bcrypt.compare(`${password}x`, hashes[user] ?? ''), user).toBe(false);
    }
  });

  it('prints valid manifests: a Secret and a RegistryUser per user, username kept exact', () => {
    const result = htpasswdToManifests(HTPASSWD, { registry: 'registry/main' });
    if (!('objects' in result)) throw new Error(result.errors.join('\n'));
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML
    const docs = parseAllDocuments(toYamlDocuments(result.objects)).map((d) => d.toJS() as Record<string, any>);
    expect(docs.map((d) => `${d.kind} ${d.metadata.name}`)).toEqual([
      'Secret alice-htpasswd',
      'RegistryUser alice',
      `Secret bob.smith-example.com-${objectNameFor('Bob.Smith@example.com').slice(-8)}-htpasswd`,
      `RegistryUser bob.smith-example.com-${objectNameFor('Bob.Smith@example.com').slice(-8)}`,
      'Secret ci-bot-htpasswd',
      'RegistryUser ci-bot',
    ]);
    expect(docs[0]).toMatchObject({ apiVersion: 'v1', type: 'Opaque', stringData: { htpasswd: expect.stringMatching(/^\$2y\$04\$/) } });
    expect(docs[3]?.spec).toEqual({
      registryRef: { name: 'main', namespace: 'registry' },
      username: 'Bob.Smith@example.com',
      passwordSecretRef: { name: `${docs[3]?.metadata.name}-htpasswd`, key: 'htpasswd' },
    });
    for (const d of docs.filter((x) => x.kind === 'RegistryUser')) expect(validateResource(d)).toEqual([]);
  });

  it.each([
    ['Alice', /^alice-[0-9a-f]{8}$/],
    ['alice', /^alice$/],
    ['__', /^user-[0-9a-f]{8}$/],
    ['a'.repeat(300), /^a+-[0-9a-f]{8}$/],
  ])('names the objects of %s with a DNS-1123 name', (username, expected) => {
    const name = objectNameFor(username);
    expect(name).toMatch(expected);
    expect(name.length + '-htpasswd'.length).toBeLessThanOrEqual(253);
  });

  it('maps any username to a valid, distinct object name', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 140 }), { minLength: 2, maxLength: 5 }), (usernames) => {
        const names = usernames.map(objectNameFor);
        for (const name of names) expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/);
        for (const name of names) expect(name.length).toBeLessThanOrEqual(253 - '-htpasswd'.length);
        expect(new Set(names).size).toBe(names.length);
      }),
    );
  });

  it('refuses a username with a control character, which could never log in', () => {
    expect(htpasswdToManifests(`a\x1bb:${hashY('x')}\n`, { registry: 'main' })).toEqual({
      errors: ['line 1: username "a\\u001bb" must be 1-128 characters without whitespace or control characters'],
    });
  });

  it('refuses non-bcrypt lines by line number and user, never quoting the hash', () => {
    const apr1 = '$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/';
    const text = `alice:${hashY('x')}\nbob:${apr1}\ncarol:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\nnocolon\nalice:${hashY('y')}\ndave:crypt12345678\n`;
    const result = htpasswdToManifests(text, { registry: 'main' });
    expect(result).toEqual({
      errors: [
        'line 2: user "bob" holds an Apache MD5 ($apr1$) hash; only bcrypt ($2y$, $2a$, $2b$) is supported (htpasswd -B)',
        'line 3: user "carol" holds a SHA-1 ({SHA}) hash; only bcrypt ($2y$, $2a$, $2b$) is supported (htpasswd -B)',
        'line 4: expected user:hash',
        'line 5: user "alice" is already defined on line 1',
        'line 6: user "dave" holds not a bcrypt hash (crypt or plain text?); only bcrypt ($2y$, $2a$, $2b$) is supported (htpasswd -B)',
      ],
    });
    expect(JSON.stringify(result)).not.toContain('HqJZim');
  });

  it('refuses a bad registry name and an empty file', () => {
    expect(htpasswdToManifests(`alice:${hashY('x')}`, { registry: 'Main' })).toEqual({
      errors: ['--registry "Main": must be a Registry name, or namespace/name'],
    });
    expect(htpasswdToManifests(`alice:${hashY('x')}`, { registry: 'a/b/c' })).toEqual({
      errors: ['--registry "a/b/c": must be a Registry name, or namespace/name'],
    });
    expect(htpasswdToManifests('\n# nothing\n', { registry: 'main' })).toEqual({ errors: ['no users in the file'] });
  });

  it('registers `import htpasswd FILE --registry NAME` printing YAML on stdout', async () => {
    const file = join(dir, 'htpasswd');
    await writeFile(file, `alice:${hashY('pw')}\n`);
    const program = new Command().exitOverride();
    register(program);
    const writes: string[] = [];
    const original = process.stdout.write.bind(process.stdout);
    process.stdout.write = (chunk: string) => (writes.push(String(chunk)), true);
    try {
      await program.parseAsync(['node', 'portcullis', 'import', 'htpasswd', file, '--registry', 'main', '--namespace', 'registry']);
    } finally {
      process.stdout.write = original;
    }
    const docs = parseAllDocuments(writes.join('')).map((d) => d.toJS() as { kind: string; metadata: { namespace?: string } });
    expect(docs.map((d) => [d.kind, d.metadata.namespace])).toEqual([
      ['Secret', 'registry'],
      ['RegistryUser', 'registry'],
    ]);
  });
});
