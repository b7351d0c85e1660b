// What issuing a registry token reads from the cluster: the Registry (its service, issuer, token
// lifetime, algorithm and delegation, validated by the same rules the operator compiles with), the
// asking Namespace's labels (delegation selectors) and the Registry's signing Secret, which the operator
// writes and the token server reads (wire/names.ts, wire/signing-key-set.ts).
//
// Each is read on demand and kept for `cacheMs` (default 10 s): tokens are asked for by people running
// a command, not by every pull, so no watch is kept open per Registry; a rotated key or an edited
// delegation is seen within the cache time. Identical reads in flight share one request. A failed read
// is not kept.

import type { Delegation, NamespaceInfo, RegistryResource } from '../../crds/types.js';
import { isNotFound, objectPath, Resources, type KubeClient } from '../../kube/request.js';
import { acceptRegistries } from '../../policy/compile/registries.js';
import type { SigningAlgorithm } from '../../policy/types.js';
import { AccessTokenSigner } from '../../wire/access-token.js';
import { KEY_FILES } from '../../wire/files.js';
import { signingSecretName } from '../../wire/names.js';
import { parseSigningKeySet } from '../../wire/signing-key-set.js';

/** A Registry as a token needs it. */
export interface TokenRegistry {
  /** "namespace/name". */
  id: string;
  namespace: string;
  name: string;
  service: string;
  issuer: string;
  tokenTTLSeconds: number;
  signingAlgorithm: SigningAlgorithm;
  delegation: Delegation[];
}

/** Why a Registry cannot issue tokens now; the sentence is safe to show the caller (no key material). */
export class RegistryUnavailable extends Error {
  constructor(
    readonly kind: 'not-found' | 'not-ready',
    message: string,
  ) {
    super(message);
    this.name = 'RegistryUnavailable';
  }
}

export interface RegistryTokenSources {
  /** The Registry; throws RegistryUnavailable when it does not exist or its spec is refused. */
  registry(namespace: string, name: string): Promise<TokenRegistry>;
  /** The labels of a Namespace, as admissionOf reads them (a missing Namespace has none). */
  namespace(name: string): Promise<NamespaceInfo>;
  /** A signer over the Registry's current signing keys; throws RegistryUnavailable when there are none. */
  signer(registry: TokenRegistry): Promise<AccessTokenSigner>;
}

export interface KubernetesTokenSourcesOptions {
  client: KubeClient;
  cacheMs?: number;
  now?: () => number;
}

/** Keeps each value for `ttlMs`; concurrent reads of one key share one load; failures are not kept. */
class ShortCache<T> {
  private readonly entries = new Map<string, { value: Promise<T>; expires: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  get(key: string, load: () => Promise<T>): Promise<T> {
    const at = this.now();
    const hit = this.entries.get(key);
    if (hit !== undefined && hit.expires > at) return hit.value;
    const value = load();
    this.entries.set(key, { value, expires: at + this.ttlMs });
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    // Bounded by the number of Registries and Namespaces asked about; expired entries go on the next miss.
    for (const [k, e] of this.entries) if (e.expires <= at) this.entries.delete(k);
    return value;
  }
}

export function kubernetesTokenSources(options: KubernetesTokenSourcesOptions): RegistryTokenSources {
  const { client } = options;
  const ttl = options.cacheMs ?? 10_000;
  const now = options.now ?? Date.now;
  const registries = new ShortCache<TokenRegistry>(ttl, now);
  const namespaces = new ShortCache<NamespaceInfo>(ttl, now);
  const signers = new ShortCache<AccessTokenSigner>(ttl, now);

  const readRegistry = async (namespace: string, name: string): Promise<TokenRegistry> => {
    const id = `${namespace}/${name}`;
    let object: RegistryResource;
    try {
      object = await client.get<RegistryResource>(objectPath(Resources.registries, namespace, name));
    } catch (error) {
      if (isNotFound(error)) throw new RegistryUnavailable('not-found', `Registry ${id} not found`);
      throw error;
    }
    const { accepted, refused } = acceptRegistries([object]);
    const registry = accepted.get(id);
    if (registry === undefined) {
      const why = refused.get(id)?.conditions.find((c) => c.type === 'Ready')?.message ?? 'its spec is refused';
      throw new RegistryUnavailable('not-ready', `Registry ${id} cannot issue tokens: ${why}`);
    }
    const { policy } = registry;
    return {
      id,
      namespace,
      name,
      service: policy.service,
      issuer: policy.issuer,
      tokenTTLSeconds: policy.tokenTTLSeconds,
      signingAlgorithm: policy.signingAlgorithm,
      delegation: registry.delegation,
    };
  };

  const readNamespace = async (name: string): Promise<NamespaceInfo> => {
    try {
      const ns = await client.get<{ metadata: { labels?: Record<string, string> } }>(objectPath(Resources.namespaces, undefined, name));
      return { name, labels: ns.metadata.labels ?? {} };
    } catch (error) {
      if (isNotFound(error)) return { name, labels: {} };
      throw error;
    }
  };

  const readSigner = async (registry: TokenRegistry): Promise<AccessTokenSigner> => {
    const secretName = signingSecretName(registry.name);
    const where = `Secret ${registry.namespace}/${secretName}`;
    let secret: { data?: Record<string, string> };
    try {
      secret = await client.get<{ data?: Record<string, string> }>(objectPath(Resources.secrets, registry.namespace, secretName));
    } catch (error) {
      if (isNotFound(error)) throw new RegistryUnavailable('not-ready', `Registry ${registry.id} has no signing keys yet (${where} not found)`);
      throw error;
    }
    const encoded = secret.data?.[KEY_FILES.signing];
    if (encoded === undefined) throw new RegistryUnavailable('not-ready', `${where} has no ${KEY_FILES.signing}`);
    // parseSigningKeySet's messages never quote the text (it holds private keys).
    try {
      return new AccessTokenSigner(parseSigningKeySet(Buffer.from(encoded, 'base64').toString('utf8')));
    } catch (error) {
      throw new RegistryUnavailable('not-ready', `${where}: ${(error as Error).message}`);
    }
  };

  return {
    registry: (namespace, name) => registries.get(`${namespace}/${name}`, () => readRegistry(namespace, name)),
    namespace: (name) => namespaces.get(name, () => readNamespace(name)),
    signer: (registry) => signers.get(registry.id, () => readSigner(registry)),
  };
}
