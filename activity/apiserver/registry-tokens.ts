// POST .../namespaces/{namespace}/registrytokens: a short-lived registry token for the person the front
// proxy named, carrying what Kubernetes RBAC in that namespace lets them do to the Registry's images
// (policy/registry-token-access.ts), signed with the Registry's own key (wire/access-token.ts), so the
// registry verifies it exactly like a token from the token server. Its subject is `kubernetes:<user>`:
// the registry reports it as the actor of every pull and delete made with it, so the activity trail
// records who deleted. A RegistryUser can never be called that (usernames hold no ':').

import type { NamespaceInfo } from '../../crds/types.js';
import { admissionOf } from '../../policy/compile/delegation.js';
import { registryRelation, registryTokenAccess, type ImagePermissions, type RegistryRelation } from '../../policy/registry-token-access.js';
import { formatScope, type ResourceScope } from '../../policy/scope.js';
import { newTokenId } from '../../wire/access-token.js';
import type { AccessQuestion, Decision } from './authorizer.js';
import type { UserInfo } from './front-proxy.js';
import { GROUP, GROUP_VERSION, REGISTRY_TOKENS } from './group.js';
import { parseRegistryTokenRequest, REGISTRY_IMAGES, type GrantedAccess, type RegistryToken } from './registry-token-object.js';
import { RegistryUnavailable, type RegistryTokenSources, type TokenRegistry } from './registry-token-sources.js';
import { ApiError, badRequest, notFound } from './status.js';

/** A registry token lives at most this long, however long the Registry's own tokens live. */
export const MAX_REGISTRY_TOKEN_SECONDS = 300;
/** The prefix of the token's subject: a Kubernetes user, never a RegistryUser. */
export const KUBERNETES_SUBJECT_PREFIX = 'kubernetes:';

export interface RegistryTokenDependencies {
  sources: RegistryTokenSources;
  /** The SubjectAccessReview authorizer (authorizer.ts), or anything that answers the same questions. */
  authorizer: { decide(question: AccessQuestion): Promise<Decision> };
  now?: () => Date;
}

/** What the server logs about an issued token: who, where, what. Never the token. */
export interface RegistryTokenAudit {
  user: string;
  namespace: string;
  registry: string;
  access: string[];
  withheld: string[];
  jti: string;
}

export interface CreatedRegistryToken {
  status: 201;
  body: RegistryToken;
  audit: RegistryTokenAudit;
}

/** The gate's 403, worded as the kube-apiserver words it. */
function forbidden(user: UserInfo, namespace: string, reason?: string): ApiError {
  return new ApiError(
    'Forbidden',
    `${REGISTRY_TOKENS.name}.${GROUP} is forbidden: User ${JSON.stringify(user.username)} cannot create resource ${JSON.stringify(REGISTRY_TOKENS.name)} ` +
      `in API group ${JSON.stringify(GROUP)} in the namespace ${JSON.stringify(namespace)}${reason ? `: ${reason}` : ''}`,
    { group: GROUP, kind: REGISTRY_TOKENS.name },
  );
}

/**
 * The one refusal for a Registry of another namespace that the caller's namespace gets nothing from:
 * whether it exists, is refused or does not admit the namespace is the Registry namespace's business, so
 * all three read alike (the details are for callers in the Registry's own namespace).
 */
function noAccess(user: UserInfo, namespace: string, registry: string): ApiError {
  return new ApiError('Forbidden', `User ${JSON.stringify(user.username)} in namespace ${JSON.stringify(namespace)} gets no access to Registry ${registry}`, {
    group: GROUP,
    kind: REGISTRY_TOKENS.name,
  });
}

async function readRegistry(sources: RegistryTokenSources, namespace: string, name: string, refusal: ApiError | undefined): Promise<TokenRegistry> {
  try {
    return await sources.registry(namespace, name);
  } catch (error) {
    // Asked from another namespace: the Registry's absence or refusal reads as no access, and a failed
    // read says nothing of the Registry.
    if (refusal !== undefined)
      throw error instanceof RegistryUnavailable ? refusal : new ApiError('ServiceUnavailable', `cannot read Registry ${namespace}/${name}`);
    if (error instanceof RegistryUnavailable) {
      if (error.kind === 'not-found') throw notFound(error.message, { group: 'portcullis.dev', kind: 'registries', name });
      throw new ApiError('ServiceUnavailable', error.message);
    }
    throw new ApiError('ServiceUnavailable', `cannot read Registry ${namespace}/${name}: ${(error as Error).message}`);
  }
}

/** How the asking namespace relates to the Registry; a Namespace's labels are read only for a selector. */
async function relationOf(sources: RegistryTokenSources, registry: TokenRegistry, namespace: string): Promise<RegistryRelation> {
  const needsLabels = namespace !== registry.namespace && registry.delegation.some((e) => e.namespaces.from === 'Selector');
  const namespaces = new Map<string, NamespaceInfo>(needsLabels ? [[namespace, await sources.namespace(namespace)]] : []);
  return registryRelation(registry.id, namespace, admissionOf(registry.namespace, registry.delegation, namespace, namespaces));
}

/** The SubjectAccessReviews the request needs, asked together; an action nobody asked for is not reviewed. */
async function permissionsOf(deps: RegistryTokenDependencies, user: UserInfo, namespace: string, scopes: readonly ResourceScope[]): Promise<ImagePermissions> {
  const asks = (action: string): boolean => scopes.some((s) => s.actions.includes(action) || (s.type === 'registry' && action === 'pull'));
  const review = async (verb: string, needed: boolean): Promise<boolean> =>
    needed && (await deps.authorizer.decide({ user, verb, resource: REGISTRY_IMAGES, namespace })).allowed;
  const [read, remove] = await Promise.all([review('get', asks('pull')), review('delete', asks('delete'))]);
  return { read, delete: remove };
}

export async function createRegistryToken(deps: RegistryTokenDependencies, user: UserInfo, namespace: string, body: unknown): Promise<CreatedRegistryToken> {
  // The kube-apiserver checked this before proxying; asked again, a request that reached the port some
  // other way decides nothing by itself.
  const gate = await deps.authorizer.decide({ user, verb: 'create', resource: REGISTRY_TOKENS.name, namespace });
  if (!gate.allowed) throw forbidden(user, namespace, gate.reason);

  const request = parseRegistryTokenRequest(body, namespace);
  if ('invalid' in request) throw badRequest(`RegistryToken: ${request.invalid}`);
  const foreign = request.registry.namespace !== namespace;
  const refusal = foreign ? noAccess(user, namespace, `${request.registry.namespace}/${request.registry.name}`) : undefined;
  const registry = await readRegistry(deps.sources, request.registry.namespace, request.registry.name, refusal);
  const relation = await relationOf(deps.sources, registry, namespace);
  if (relation.kind === 'none' && refusal !== undefined) throw refusal;
  const permissions = relation.kind === 'none' ? { read: false, delete: false } : await permissionsOf(deps, user, namespace, request.scopes);
  const decided = registryTokenAccess(relation, request.scopes, permissions);
  const withheld = decided.decisions.filter((d) => d.granted.length < d.scope.actions.length).map((d) => ({ scope: formatScope(d.scope), reason: d.reason }));
  if (decided.access.length === 0) {
    throw new ApiError(
      'Forbidden',
      `User ${JSON.stringify(user.username)} in namespace ${JSON.stringify(namespace)} gets no access to Registry ${registry.id}: ` +
        withheld.map((w) => `${w.scope}: ${w.reason}`).join('; '),
      { group: GROUP, kind: REGISTRY_TOKENS.name },
    );
  }

  const now = (deps.now ?? (() => new Date()))();
  let signer;
  try {
    signer = await deps.sources.signer(registry);
  } catch (error) {
    throw new ApiError('ServiceUnavailable', error instanceof RegistryUnavailable ? error.message : `cannot read the signing keys of Registry ${registry.id}`);
  }
  const key = signer.keyFor(registry.id, registry.signingAlgorithm, now);
  if (key === undefined) throw new ApiError('ServiceUnavailable', `Registry ${registry.id} has no signing key valid now`);
  const access: GrantedAccess[] = decided.access.map((s) => ({
    type: s.type,
    ...(s.class === undefined ? {} : { class: s.class }),
    name: s.name,
    actions: s.actions,
  }));
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + Math.min(MAX_REGISTRY_TOKEN_SECONDS, registry.tokenTTLSeconds);
  const jti = newTokenId();
  const token = signer.sign(key, {
    iss: registry.issuer,
    sub: `${KUBERNETES_SUBJECT_PREFIX}${user.username}`,
    aud: registry.service,
    exp,
    nbf: iat,
    iat,
    jti,
    access,
  });
  return {
    status: 201,
    body: {
      apiVersion: GROUP_VERSION,
      kind: 'RegistryToken',
      metadata: { namespace, creationTimestamp: new Date(iat * 1000).toISOString() },
      spec: { registry: registry.id, scopes: request.scopes.map(formatScope) },
      status: { token, expirationTimestamp: new Date(exp * 1000).toISOString(), service: registry.service, access, withheld },
    },
    audit: { user: user.username, namespace, registry: registry.id, access: decided.access.map(formatScope), withheld: withheld.map((w) => w.scope), jti },
  };
}
