// The registrytokens handler between the SubjectAccessReview answers and the signed token: what the
// caller may ask, what the 403s say, and that the token is one the registry would verify (x5c chain to
// the Registry's CA, claims for its service). The cluster reads and the reviews themselves run for real
// in test/e2e/activity-admin.test.ts; here they are tables.
import { X509Certificate, verify } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NamespaceInfo } from '../../crds/types.js';
import { initKeysDir } from '../../pki/init.js';
import { AccessTokenSigner } from '../../wire/access-token.js';
import { KEY_FILES } from '../../wire/files.js';
import { parseSigningKeySet } from '../../wire/signing-key-set.js';
import type { AccessQuestion } from './authorizer.js';
import type { UserInfo } from './front-proxy.js';
import { RegistryUnavailable, type RegistryTokenSources, type TokenRegistry } from './registry-token-sources.js';
import { createRegistryToken, type RegistryTokenDependencies } from './registry-tokens.js';
import { ApiError } from './status.js';

const NOW = new Date('2031-05-06T07:08:09Z');
const main: TokenRegistry = {
  id: 'registry/main',
  namespace: 'registry',
  name: 'main',
  service: 'registry.example.com',
  issuer: 'portcullis',
  tokenTTLSeconds: 900,
  signingAlgorithm: 'ES256',
  delegation: [{ namespaces: { from: 'Selector', selector: { matchLabels: { tenant: 'yes' } } }, repositories: ['${namespace}/**'] }],
};

let dir: string;
let signer: AccessTokenSigner;
let caPem: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-registry-tokens-'));
  await initKeysDir(dir, { algorithm: 'ES256', now: new Date(NOW.getTime() - 60_000) });
  signer = new AccessTokenSigner(parseSigningKeySet(await readFile(join(dir, KEY_FILES.signing), 'utf8')));
  caPem = await readFile(join(dir, KEY_FILES.caCert), 'utf8');
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const namespaces: Record<string, NamespaceInfo> = { 'team-a': { name: 'team-a', labels: { tenant: 'yes' } } };
const sources: RegistryTokenSources = {
  registry: async (namespace, name) => {
    if (`${namespace}/${name}` === main.id) return main;
    if (name === 'broken')
      throw new RegistryUnavailable('not-ready', `Registry ${namespace}/${name} cannot issue tokens: spec.tokenTTL "9y" is not a duration`);
    if (name === 'flaky') throw new Error('registries.portcullis.dev "flaky": etcd leader changed');
    throw new RegistryUnavailable('not-found', `Registry ${namespace}/${name} not found`);
  },
  namespace: async (name) => namespaces[name] ?? { name, labels: {} },
  signer: async () => signer,
};

/** RBAC as "user verb resource namespace" lines. */
function deps(rbac: string[]): RegistryTokenDependencies {
  const allowed = new Set(rbac);
  const asked: string[] = [];
  return {
    sources,
    now: () => NOW,
    authorizer: {
      decide: async (q: AccessQuestion) => {
        asked.push(`${q.user.username} ${q.verb} ${q.resource} ${q.namespace}`);
        return { allowed: allowed.has(`${q.user.username} ${q.verb} ${q.resource} ${q.namespace}`) };
      },
    },
  };
}

const user = (username: string): UserInfo => ({ username, groups: ['system:authenticated'], extra: {} });
const body = (registry: string, ...scopes: string[]) => ({ apiVersion: 'activity.portcullis.dev/v1alpha1', kind: 'RegistryToken', spec: { registry, scopes } });

const admin = ['root create registrytokens registry', 'root get registryimages registry', 'root delete registryimages registry'];
const tenant = ['tina create registrytokens team-a', 'tina get registryimages team-a', 'tina delete registryimages team-a'];

async function refusal(promise: Promise<unknown>): Promise<{ code: number; reason: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ApiError) return { code: error.code, reason: error.reason, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('registrytokens: refusals', () => {
  it('without create registrytokens in the namespace, nothing else is asked', async () => {
    const r = await refusal(
      createRegistryToken(deps(['root get registryimages registry']), user('root'), 'registry', body('registry/main', 'registry:catalog:*')),
    );
    expect(r).toMatchObject({ code: 403, reason: 'Forbidden' });
    expect(r.message).toBe(
      'registrytokens.activity.portcullis.dev is forbidden: User "root" cannot create resource "registrytokens" in API group "activity.portcullis.dev" in the namespace "registry"',
    );
  });

  it('a tenant asking for a repository outside its prefixes gets a 403 naming the prefixes', async () => {
    const r = await refusal(createRegistryToken(deps(tenant), user('tina'), 'team-a', body('registry/main', 'repository:library/alpine:pull')));
    expect(r.code).toBe(403);
    expect(r.message).toBe(
      'User "tina" in namespace "team-a" gets no access to Registry registry/main: repository:library/alpine:pull: ' +
        'repository "library/alpine" is outside the prefixes Registry registry/main delegates to namespace team-a: "team-a/**"',
    );
  });

  it('RBAC in a namespace the Registry does not admit gives nothing', async () => {
    const rbac = ['eve create registrytokens other', 'eve get registryimages other', 'eve delete registryimages other'];
    const r = await refusal(createRegistryToken(deps(rbac), user('eve'), 'other', body('registry/main', 'repository:other/app:pull')));
    expect(r.code).toBe(403);
    expect(r.message).toBe('User "eve" in namespace "other" gets no access to Registry registry/main');
  });

  it("from another namespace, a Registry's absence, refusal or not admitting it read alike (no oracle)", async () => {
    const rbac = ['eve create registrytokens other', 'eve get registryimages other'];
    const ask = (registry: string) => refusal(createRegistryToken(deps(rbac), user('eve'), 'other', body(registry, 'repository:x/y:pull')));
    const answers = await Promise.all(['registry/nope', 'registry/main', 'registry/broken'].map(ask));
    // Before: a 404 "not found", a 403 "does not admit namespace other" and a 503 quoting the refused spec.
    for (const [i, answer] of answers.entries()) {
      const registry = ['registry/nope', 'registry/main', 'registry/broken'][i] as string;
      expect(answer).toEqual({ code: 403, reason: 'Forbidden', message: `User "eve" in namespace "other" gets no access to Registry ${registry}` });
    }
    // A failed read says nothing of the Registry.
    expect(await ask('registry/flaky')).toEqual({ code: 503, reason: 'ServiceUnavailable', message: 'cannot read Registry registry/flaky' });
  });

  it("in the Registry's own namespace, its absence and refusal are told", async () => {
    const r = await refusal(createRegistryToken(deps(admin), user('root'), 'registry', body('registry/broken', 'registry:catalog:*')));
    expect(r).toMatchObject({ code: 503, message: 'Registry registry/broken cannot issue tokens: spec.tokenTTL "9y" is not a duration' });
  });

  it('RBAC in the tenant namespace does not reach the Registry namespace', async () => {
    const r = await refusal(createRegistryToken(deps(tenant), user('tina'), 'registry', body('registry/main', 'repository:team-a/app:pull')));
    expect(r.message).toMatch(/cannot create resource "registrytokens" .* namespace "registry"/);
  });

  it('push is refused even to an administrator', async () => {
    const r = await refusal(createRegistryToken(deps(admin), user('root'), 'registry', body('registry/main', 'repository:library/alpine:push')));
    expect(r.code).toBe(403);
    expect(r.message).toMatch(/push is never given/);
  });

  it.each([
    ['a body that is no object', 'nope', /the body must be a RegistryToken object/],
    ['another kind', { ...body('registry/main', 'registry:catalog:*'), kind: 'Secret' }, /kind must be RegistryToken/],
    ['a registry that is no name', body('registry/../x', 'registry:catalog:*'), /spec.registry "registry\/..\/x" is not NAMESPACE\/NAME/],
    ['no scopes', body('registry/main'), /spec.scopes must list at least one scope/],
    ['a bad scope', body('registry/main', 'repository:team-a/App:pull'), /is not a valid repository name/],
  ])('%s is a 400', async (_, request, message) => {
    const r = await refusal(createRegistryToken(deps(admin), user('root'), 'registry', request));
    expect(r).toMatchObject({ code: 400, reason: 'BadRequest' });
    expect(r.message).toMatch(message);
  });

  it('a Registry that does not exist is a 404', async () => {
    const r = await refusal(createRegistryToken(deps(admin), user('root'), 'registry', body('registry/nope', 'registry:catalog:*')));
    expect(r).toMatchObject({ code: 404, reason: 'NotFound', message: 'Registry registry/nope not found' });
  });
});

describe('registrytokens: the token', () => {
  it('carries what RBAC allows, for kubernetes:<user>, lives at most 5 minutes, and verifies against the Registry CA', async () => {
    const created = await createRegistryToken(
      deps(['root create registrytokens registry', 'root get registryimages registry']),
      user('root'),
      'registry',
      body('registry/main', 'repository:library/alpine:pull,delete', 'registry:catalog:*'),
    );
    expect(created.status).toBe(201);
    const { status } = created.body;
    expect(status.access).toEqual([
      { type: 'repository', name: 'library/alpine', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    expect(status.withheld).toEqual([
      { scope: 'repository:library/alpine:pull,delete', reason: 'pull on repository "library/alpine"; withheld: delete needs delete on registryimages' },
    ]);
    expect(status.expirationTimestamp).toBe(new Date(NOW.getTime() + 300_000).toISOString());
    expect(status.service).toBe('registry.example.com');
    const claims = claimsOf(status.token);
    expect(claims).toMatchObject({ iss: 'portcullis', sub: 'kubernetes:root', aud: 'registry.example.com', iat: NOW.getTime() / 1000 });
    expect(claims.exp).toBe(NOW.getTime() / 1000 + 300);
    expect(claims.access).toEqual(status.access);
    expect(created.audit).toMatchObject({ user: 'root', registry: 'registry/main', access: ['repository:library/alpine:pull', 'registry:catalog:*'] });
    expect(JSON.stringify(created.audit)).not.toContain(status.token);

    // What Distribution does: the x5c leaf chains to the CA in its bundle, and signed the token.
    const [header, payload, signature] = status.token.split('.') as [string, string, string];
    const x5c = (JSON.parse(Buffer.from(header, 'base64url').toString()) as { x5c: string[] }).x5c;
    const leaf = new X509Certificate(Buffer.from(x5c[0] as string, 'base64'));
    expect(leaf.verify(new X509Certificate(caPem).publicKey)).toBe(true);
    expect(verify('sha256', Buffer.from(`${header}.${payload}`), { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'))).toBe(
      true,
    );
  });

  it('a tenant gets its own repositories, and the Registry TTL when shorter than 5 minutes', async () => {
    const short: RegistryTokenSources = { ...sources, registry: async () => ({ ...main, tokenTTLSeconds: 120 }) };
    const created = await createRegistryToken(
      { ...deps(tenant), sources: short },
      user('tina'),
      'team-a',
      body('registry/main', 'repository:team-a/app:pull,delete'),
    );
    expect(created.body.status.access).toEqual([{ type: 'repository', name: 'team-a/app', actions: ['pull', 'delete'] }]);
    expect(claimsOf(created.body.status.token).exp).toBe(NOW.getTime() / 1000 + 120);
  });
});
