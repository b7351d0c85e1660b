import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadManifests } from './manifests.js';

const grant = (name: string, actions: string, extra = '') => `apiVersion: portcullis.dev/v1alpha1
kind: RepositoryGrant
metadata: {name: ${name}, namespace: team}
spec:
  registryRef: {name: main}
  subjects: [{kind: Authenticated}]
  repositories: ["team/**"]
  actions: ${actions}
${extra}`;

const registry = `apiVersion: portcullis.dev/v1alpha1
kind: Registry
metadata: {name: main}
spec: {service: registry.example.com}
`;

describe('loadManifests', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-load-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function file(name: string, text: string): Promise<string> {
    const path = join(dir, name);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, text);
    return path;
  }

  it('reads the examples: every kind sorted, namespaces with labels, nothing wrong', async () => {
    const loaded = await loadManifests(['examples']);
    expect(loaded.errors).toEqual([]);
    expect(loaded.warnings).toEqual([]);
    expect(loaded.registries.map((r) => r.metadata.name)).toEqual(['main']);
    expect(loaded.users.map((u) => `${u.metadata.namespace}/${u.metadata.name}`).sort()).toEqual([
      'registry/alice',
      'registry/bob',
      'registry/ci-bot',
      'team-a/team-a-deployer',
    ]);
    expect(loaded.grants.length).toBe(6);
    expect(loaded.secrets.length).toBe(4);
    expect(loaded.namespaces).toEqual([
      { name: 'registry', labels: {} },
      { name: 'team-a', labels: { team: 'a' } },
    ]);
    expect(loaded.origins.get('RegistryUser registry/bob')).toBe('examples/users.yaml: document 3');
  });

  it('names the file, the document, the object and the field of each error', async () => {
    const path = await file('a.yaml', `${registry}---\n${grant('x', '[pull, pulll]')}---\n${grant('y', '[]')}`);
    const loaded = await loadManifests([path]);
    expect(loaded.errors).toEqual([
      `${path}: document 2 (RepositoryGrant team/x): spec.actions[1]: must be one of pull, push, delete, *`,
      `${path}: document 3 (RepositoryGrant team/y): spec.actions: must not be empty`,
    ]);
    expect(loaded.registries.length).toBe(1);
    expect(loaded.grants).toEqual([]);
  });

  it('puts objects without a namespace in default', async () => {
    const loaded = await loadManifests([await file('b.yaml', registry)]);
    expect(loaded.registries[0]?.metadata.namespace).toBe('default');
  });

  it('flattens kind: List and reads JSON', async () => {
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { password: 'cGFzcw==' } },
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } },
      ],
    };
    const path = await file('list.json', JSON.stringify(list));
    const loaded = await loadManifests([path]);
    expect(loaded.secrets.map((s) => s.metadata.name)).toEqual(['s']);
    expect(loaded.warnings).toEqual([
      `${path}: document 1 item 2 (ConfigMap default/c): ignored (compile reads only portcullis.dev objects, Secrets and Namespaces)`,
    ]);
  });

  it('reads directories recursively, .yaml/.yml/.json only, in name order', async () => {
    const sub = join(dir, 'tree');
    await file('tree/b/grant.yml', grant('g', '[pull]'));
    await file('tree/a.yaml', registry);
    await file('tree/notes.txt', 'not yaml: [');
    await file('tree/.hidden.yaml', 'not: [valid');
    const loaded = await loadManifests([sub]);
    expect(loaded.errors).toEqual([]);
    expect([...loaded.origins.values()]).toEqual([`${join(sub, 'a.yaml')}: document 1`, `${join(sub, 'b', 'grant.yml')}: document 1`]);
  });

  it.each([
    ['invalid YAML', 'kind: [unclosed', /: document 1: invalid YAML: /],
    ['a document that is not a mapping', '- a\n- b\n', /: document 1: must be a Kubernetes object \(a mapping with apiVersion and kind\)$/],
    ['an object without kind', 'apiVersion: v1\nmetadata: {name: x}\n', /: document 1 \(object without kind default\/x\): kind: is required$/],
    [
      'a Secret with data that is not base64',
      'apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {password: "hunter2!"}\n',
      /: document 1 \(Secret default\/s\): data\.password: must be base64 \(use stringData for plain text\)$/,
    ],
    [
      'a Registry with the wrong version',
      registry.replace('v1alpha1', 'v1'),
      /: document 1 \(Registry default\/main\): apiVersion: must be portcullis.dev\/v1alpha1 for kind Registry$/,
    ],
    [
      'an alias bomb',
      `a: &a [x, x, x, x, x, x, x, x, x, x]\n${Array.from(
        { length: 12 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
            .fill(`*${String.fromCharCode(97 + i)}`)
            .join(', ')}]`,
      ).join('\n')}\n`,
      /: document 1: invalid YAML: .*alias/i,
    ],
    [
      'YAML nested past its parser',
      `${'{"kind":"List","items":['.repeat(5000)}{}${']}'.repeat(5000)}`,
      /: document 1: invalid YAML: Maximum call stack size exceeded at line 1, column \d+:; .*; and \d+ more$/,
    ],
  ])('reports %s', async (name, text, expected) => {
    const path = await file(`${name.replace(/\W+/g, '-')}.yaml`, text);
    const loaded = await loadManifests([path]);
    expect(loaded.errors.length).toBe(1);
    expect(loaded.errors[0]?.startsWith(path)).toBe(true);
    expect(loaded.errors[0]).toMatch(expected);
    expect(loaded.errors[0]).not.toContain('hunter2');
  });

  it('reports JSON Lists nested 5,000 deep instead of exhausting the stack', async () => {
    const path = await file('deep.json', `${'{"kind":"List","items":['.repeat(5000)}{}${']}'.repeat(5000)}`);
    const loaded = await loadManifests([path]);
    expect(loaded.errors).toEqual([`${path}: document 1: nested more than 64 deep`]);
    const ten = await file('ten.json', `${'{"kind":"List","items":['.repeat(10)}{}${']}'.repeat(10)}`);
    expect((await loadManifests([ten])).errors).toEqual([`${ten}: document 1${' item 1'.repeat(8)}: Lists nested more than 8 deep`]);
  });

  it('reports a JSON object nested 2,000 deep instead of exhausting the stack in validation', async () => {
    const deep = `{"apiVersion":"portcullis.dev/v1alpha1","kind":"Registry","metadata":{"name":"d"},"spec":${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}`;
    const path = await file('deep-object.json', deep);
    const loaded = await loadManifests([path]);
    expect(loaded.errors).toEqual([`${path}: document 1: nested more than 64 deep`]);
  });

  it('reports an object defined twice, naming where it was first', async () => {
    const one = await file('dup1.yaml', registry);
    const two = await file('dup2.yaml', `---\n${registry}`);
    const loaded = await loadManifests([one, two]);
    expect(loaded.errors).toEqual([`${two}: document 1 (Registry default/main): duplicate Registry default/main, first defined in ${one}: document 1`]);
  });

  it('reports a path that does not exist', async () => {
    const loaded = await loadManifests([join(dir, 'missing')]);
    expect(loaded.errors).toEqual([`${join(dir, 'missing')}: no such file or directory`]);
  });

  it('skips empty documents', async () => {
    const loaded = await loadManifests([await file('empty.yaml', `---\n${registry}---\n---\n`)]);
    expect(loaded.errors).toEqual([]);
    expect(loaded.registries.length).toBe(1);
  });
});
