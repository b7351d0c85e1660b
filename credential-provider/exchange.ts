// The kubelet's image credential provider protocol (credentialprovider.kubelet.k8s.io/v1): the kubelet
// runs the plugin with a CredentialProviderRequest on stdin and reads a CredentialProviderResponse from
// stdout. With KEP-4412 (beta in Kubernetes 1.34) the request carries the pod's ServiceAccount token, bound
// to the pod and minted for the audience the kubelet configuration names (the registry's service). The
// response hands that token to the container runtime as the registry password; the token server verifies
// it with the cluster (TokenReview), so a pod pulls as its own ServiceAccount and no imagePullSecret exists.
// Nothing here talks to the network: the token never leaves the node except to the registry's token server.

export const API_VERSIONS = ['credentialprovider.kubelet.k8s.io/v1'] as const;

export interface CredentialProviderRequest {
  apiVersion: string;
  kind: 'CredentialProviderRequest';
  image: string;
  serviceAccountToken?: string;
  serviceAccountAnnotations?: Record<string, string>;
}

export interface CredentialProviderResponse {
  apiVersion: string;
  kind: 'CredentialProviderResponse';
  cacheKeyType: 'Image' | 'Registry' | 'Global';
  cacheDuration: string;
  auth: Record<string, { username: string; password: string }>;
}

export interface ExchangeOptions {
  /** Registry hosts (HOST[:PORT]) this provider answers for. Empty: the host of any image it is asked about. */
  registries: string[];
  /** The username sent beside the token; token servers ignore it for token logins. */
  username: string;
  /** Upper bound for how long the kubelet reuses the credentials. */
  maxCacheSeconds: number;
  now: () => Date;
}

/** Reused credentials stop this long before the token expires, so no pull starts with a dying token. */
const EXPIRY_MARGIN_SECONDS = 60;

/** The registry host of an image reference, as the runtime resolves it (`docker.io` when none is named). */
export function registryHostOf(image: string): string {
  const first = image.split('/')[0] ?? '';
  const hasHost = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return hasHost ? first : 'docker.io';
}

function tokenExpiry(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp : undefined;
  } catch {
    return undefined;
  }
}

/** Parses stdin. Throws an Error with a sentence for the kubelet's log (never the token). */
export function parseRequest(text: string): CredentialProviderRequest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('stdin is not a JSON CredentialProviderRequest');
  }
  const request = value as Partial<CredentialProviderRequest>;
  if (typeof value !== 'object' || value === null || request.kind !== 'CredentialProviderRequest') throw new Error('stdin is not a CredentialProviderRequest');
  if (!(API_VERSIONS as readonly string[]).includes(request.apiVersion ?? '')) {
    throw new Error(`unsupported apiVersion ${JSON.stringify(request.apiVersion)}: this provider speaks ${API_VERSIONS.join(', ')}`);
  }
  if (typeof request.image !== 'string' || request.image === '') throw new Error('the request names no image');
  return request as CredentialProviderRequest;
}

/** The response for a request: the ServiceAccount token as the password for the image's registry. */
export function respond(request: CredentialProviderRequest, options: ExchangeOptions): CredentialProviderResponse {
  const token = request.serviceAccountToken;
  if (token === undefined || token === '') {
    throw new Error(
      'the request carries no ServiceAccount token: set tokenAttributes.serviceAccountTokenAudience in the kubelet credential provider configuration ' +
        '(Kubernetes 1.34+, KubeletServiceAccountTokenForCredentialProviders)',
    );
  }
  // Fail closed: with a wildcard in matchImages, answering for any host would hand the pod's token to an
  // image's registry that is not ours, which could replay it to our token server until it expires.
  if (options.registries.length === 0) throw new Error('no --registry given: name the registry host(s) this provider answers for');
  const host = registryHostOf(request.image);
  const auth: CredentialProviderResponse['auth'] = {};
  if (options.registries.includes(host)) auth[host] = { username: options.username, password: token };
  const exp = tokenExpiry(token);
  const left = exp === undefined ? 0 : Math.floor(exp - options.now().getTime() / 1000 - EXPIRY_MARGIN_SECONDS);
  const seconds = Math.max(0, Math.min(options.maxCacheSeconds, left));
  return { apiVersion: request.apiVersion, kind: 'CredentialProviderResponse', cacheKeyType: 'Registry', cacheDuration: `${seconds}s`, auth };
}
