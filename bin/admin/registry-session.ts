// How an admin command reaches a registry without a password: the caller's kubeconfig (as kubectl reads
// it) creates a RegistryToken in a namespace through the kube-apiserver, which hands it to the activity
// server's aggregated API; the token it gets back carries what Kubernetes RBAC lets this person do there,
// and goes straight to the registry as a bearer token.

import { readFile } from 'node:fs/promises';
import { GROUP, GROUP_VERSION, namespacedPath, REGISTRY_TOKENS } from '../../activity/apiserver/group.js';
import type { RegistryToken, RegistryTokenStatus } from '../../activity/apiserver/registry-token-object.js';
import type { KubeClient } from '../../kube/request.js';
import { DistributionClient } from '../../lifecycle/registry-api.js';

export interface RegistryFlags {
  registry: string;
  namespace?: string;
  server?: string;
  caFile?: string;
}

export interface RegistryTarget {
  /** "namespace/name". */
  registry: string;
  registryNamespace: string;
  /** Where the token is asked for, and RBAC consulted. */
  namespace: string;
  /** The Registry's own namespace: the catalog and every repository; otherwise a delegated one. */
  home: boolean;
}

const REGISTRY_REF = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** What the flags name. Throws a sentence naming the flag for anything wrong. */
export function registryTarget(flags: RegistryFlags): RegistryTarget {
  const ref = REGISTRY_REF.exec(flags.registry);
  if (ref === null) throw new Error(`--registry must be NAMESPACE/NAME, not ${JSON.stringify(flags.registry)}`);
  const registryNamespace = ref[1] as string;
  const namespace = flags.namespace ?? registryNamespace;
  if (!NAMESPACE.test(namespace) || namespace.length > 63) throw new Error(`--namespace must be a namespace name, not ${JSON.stringify(namespace)}`);
  if (flags.server !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(flags.server))
    throw new Error(`--server must be https://HOST[:PORT], not ${JSON.stringify(flags.server)}`);
  if (flags.server !== undefined && !URL.canParse(flags.server)) throw new Error(`--server must be https://HOST[:PORT], not ${JSON.stringify(flags.server)}`);
  if (flags.server !== undefined && flags.server.startsWith('http:') && !isLoopback(new URL(flags.server).hostname)) {
    throw new Error(
      `--server must be https://HOST[:PORT] (http:// only to a loopback address, such as a port-forward): the registry token would travel in the clear, not ${JSON.stringify(flags.server)}`,
    );
  }
  return { registry: flags.registry, registryNamespace, namespace, home: namespace === registryNamespace };
}

/** A refusal to show as is: the server's sentence, without the request line KubeClient puts in front. */
export class AdminError extends Error {}

/** What the kube-apiserver or the activity server said, without KubeClient's "POST /path: " prefix. */
export function serverSaid(error: Error): string {
  return error.message.replace(/^[A-Z]+ \/\S*: /, '');
}

/** Creates a RegistryToken for `scopes`; throws an AdminError that says what to do about a refusal. */
export async function obtainRegistryToken(client: KubeClient, target: RegistryTarget, scopes: string[]): Promise<RegistryTokenStatus> {
  const { KubeApiError } = await import('../../kube/request.js');
  const body = { apiVersion: GROUP_VERSION, kind: 'RegistryToken', spec: { registry: target.registry, scopes } };
  try {
    const created = await client.request<RegistryToken>('POST', namespacedPath(REGISTRY_TOKENS, target.namespace), { body });
    return created.status;
  } catch (error) {
    if (!(error instanceof KubeApiError)) throw new AdminError(`cannot reach the cluster: ${(error as Error).message}`);
    const said = serverSaid(error);
    if (error.code === 403) throw new AdminError(`forbidden: ${said}`);
    if (error.code === 404 && /^Registry /.test(said)) throw new AdminError(said);
    if (error.code === 404 || (error.code === 503 && !/Registry /.test(said))) {
      throw new AdminError(
        `the cluster does not serve ${REGISTRY_TOKENS.name}.${GROUP} (HTTP ${error.code}): is portcullis activity installed with --listen, ` +
          `and APIService v1alpha1.${GROUP} Available? (${said})`,
      );
    }
    throw new AdminError(said);
  }
}

/** The token's `sub` (kubernetes:USER): whose pulls are one's own. Read, not verified: the token is ours. */
export function subjectOf(token: string): string {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown };
    return typeof claims.sub === 'string' ? claims.sub : '';
  } catch {
    return '';
  }
}

/** A client for the registry: --server, else https://SERVICE; --ca-file, else the system trust. */
export async function distributionClient(flags: RegistryFlags, status: RegistryTokenStatus): Promise<DistributionClient> {
  const ca = flags.caFile === undefined ? undefined : await readFile(flags.caFile);
  return new DistributionClient({ server: (flags.server ?? `https://${status.service}`).replace(/\/$/, ''), token: status.token, ...(ca ? { ca } : {}) });
}

/** Whether the token carries `action` on the repository, and if not, the server's reason. */
export function missingAction(status: RegistryTokenStatus, repository: string, action: string): string | undefined {
  if (status.access.some((a) => a.type === 'repository' && a.name === repository && a.actions.includes(action))) return undefined;
  const why = status.withheld.find((w) => w.scope.startsWith(`repository:${repository}:`))?.reason;
  return `the token for ${repository} carries no ${action}${why === undefined ? '' : `: ${why}`}`;
}
