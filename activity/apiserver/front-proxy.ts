// Who sent a request: only the kube-apiserver's front proxy may say, and it says it in headers.
// The kube-apiserver publishes how to recognise it in ConfigMap kube-system/extension-apiserver-authentication
// (the CA its client certificate chains to, the names that certificate may carry, the header names);
// headers are believed only on a connection whose client certificate chained to that CA (checked by
// TLS, server.ts) and whose common name is allowed. Anything else is refused: this server has no other
// way to authenticate anyone, so a cluster client certificate or a bearer token sent here directly
// names nobody.

/** The ConfigMap the kube-apiserver publishes for aggregated API servers (the built-in Role
 * extension-apiserver-authentication-reader lets a ServiceAccount get it). */
export const AUTHENTICATION_CONFIGMAP = { namespace: 'kube-system', name: 'extension-apiserver-authentication' } as const;

export interface FrontProxyConfig {
  /** PEM bundle: the request-header CA(s). */
  clientCA: string;
  /** Common names the proxy's certificate may carry; empty: any certificate of the CA. */
  allowedNames: string[];
  usernameHeaders: string[];
  groupHeaders: string[];
  extraHeaderPrefixes: string[];
  uidHeaders: string[];
}

/** The authenticated caller, as a SubjectAccessReview names it. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

function stringList(data: Readonly<Record<string, string>>, key: string): string[] {
  const raw = data[key];
  if (raw === undefined || raw === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error(`${key} is not a JSON list`);
  }
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) throw new Error(`${key} is not a list of strings`);
  return parsed;
}

/** Reads the ConfigMap's data; throws a sentence when the front proxy is not configured. */
export function parseFrontProxyConfig(data: Readonly<Record<string, string>> | undefined): FrontProxyConfig {
  const clientCA = data?.['requestheader-client-ca-file'];
  if (data === undefined || clientCA === undefined || !clientCA.includes('BEGIN CERTIFICATE')) {
    throw new Error(
      `${AUTHENTICATION_CONFIGMAP.namespace}/${AUTHENTICATION_CONFIGMAP.name} has no requestheader-client-ca-file: ` +
        'the kube-apiserver runs without --requestheader-client-ca-file, so no aggregated API can be reached',
    );
  }
  const config = {
    clientCA,
    allowedNames: stringList(data, 'requestheader-allowed-names'),
    usernameHeaders: stringList(data, 'requestheader-username-headers'),
    groupHeaders: stringList(data, 'requestheader-group-headers'),
    extraHeaderPrefixes: stringList(data, 'requestheader-extra-headers-prefix'),
    uidHeaders: stringList(data, 'requestheader-uid-headers'),
  };
  if (config.usernameHeaders.length === 0) throw new Error('requestheader-username-headers is empty');
  return config;
}

/** What TLS established about the client: whether its certificate chained to the request-header CA. */
export interface PeerCertificate {
  verified: boolean;
  commonName?: string;
}

/** Header values one by one (node's headersDistinct): a repeated X-Remote-Group is several groups. */
export type DistinctHeaders = Readonly<Record<string, string[] | undefined>>;

function first(headers: DistinctHeaders, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = headers[name.toLowerCase()]?.find((v) => v !== '');
    if (value !== undefined) return value;
  }
  return undefined;
}

function extras(headers: DistinctHeaders, prefixes: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(headers)) {
    const prefix = prefixes.find((p) => name.startsWith(p.toLowerCase()));
    if (prefix === undefined || values === undefined) continue;
    // The key is percent-encoded by the proxy (HTTP header names cannot carry every character).
    let key: string;
    try {
      key = decodeURIComponent(name.slice(prefix.length)).toLowerCase();
    } catch {
      continue;
    }
    out[key] = [...(out[key] ?? []), ...values];
  }
  return out;
}

export type Authentication = { user: UserInfo } | { refused: string };

/**
 * The user a request speaks for, or why it names nobody. `config` undefined: the ConfigMap was not read
 * yet (or never configured), so nobody can be recognised.
 */
export function authenticate(config: FrontProxyConfig | undefined, peer: PeerCertificate, headers: DistinctHeaders): Authentication {
  if (config === undefined) return { refused: 'the front-proxy configuration has not been read yet' };
  if (!peer.verified) return { refused: 'requests must come through the kube-apiserver (no front-proxy client certificate)' };
  if (config.allowedNames.length > 0 && !config.allowedNames.includes(peer.commonName ?? '')) {
    return { refused: `client certificate ${JSON.stringify(peer.commonName ?? '')} is not an allowed front-proxy name` };
  }
  const username = first(headers, config.usernameHeaders);
  if (username === undefined) return { refused: 'the front proxy named no user' };
  const uid = first(headers, config.uidHeaders);
  const groups = config.groupHeaders.flatMap((h) => headers[h.toLowerCase()] ?? []).filter((g) => g !== '');
  return { user: { username, ...(uid === undefined ? {} : { uid }), groups, extra: extras(headers, config.extraHeaderPrefixes) } };
}
