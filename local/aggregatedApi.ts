// Registers an aggregated API served by a process on loopback with the test control plane, as a
// cluster registers one served by a Deployment: a Service and an APIService with a caBundle.
//
// The aggregator resolves an APIService's Service itself (ResolveCluster, no --enable-aggregator-routing):
// a ClusterIP Service means https://CLUSTER-IP:PORT, which nothing on loopback answers, and its
// availability check wants Endpoints that no controller manager writes here. An `ExternalName` Service
// resolves to https://EXTERNAL-NAME:PORT and needs no Endpoints, so `externalName: localhost` reaches the
// process. The aggregator verifies the serving certificate against caBundle for the name
// SERVICE.NAMESPACE.svc, as in a cluster: the server's certificate must carry that DNS name.
import { parseAllDocuments } from 'yaml';
import { kubectl, type ControlPlane } from './controlPlane.js';
import { waitFor } from './process.js';

/** What an APIService manifest says about where it is served (deploy/activity/apiservice.yaml's shape). */
export interface ApiServiceManifest {
  apiVersion: 'apiregistration.k8s.io/v1';
  kind: 'APIService';
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: {
    group: string;
    version: string;
    service: { namespace: string; name: string; port?: number };
    caBundle?: string;
    groupPriorityMinimum: number;
    versionPriority: number;
    insecureSkipTLSVerify?: boolean;
  };
}

export interface LoopbackApiOptions {
  /** The APIService to register (e.g. read from deploy/ with apiServiceFrom); its Service is replaced. */
  apiService: ApiServiceManifest;
  /** The port the server listens on at localhost. */
  port: number;
  /** PEM of the CA that issued the server's certificate. */
  caBundle: string;
  timeoutMs?: number;
}

/** The APIService document of a multi-document manifest. */
export function apiServiceFrom(manifest: string): ApiServiceManifest {
  const found = parseAllDocuments(manifest)
    .map((d) => d.toJS() as { kind?: string } | null)
    .find((o): o is ApiServiceManifest => o?.kind === 'APIService');
  if (found === undefined) throw new Error('the manifest holds no APIService');
  return found;
}

/** The DNS name the aggregator checks the serving certificate for. */
export function aggregatedServerName(apiService: ApiServiceManifest): string {
  return `${apiService.spec.service.name}.${apiService.spec.service.namespace}.svc`;
}

async function mustKubectl(cp: ControlPlane, args: string[], input?: string): Promise<string> {
  const r = await kubectl(cp, args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/**
 * Points `apiService` at localhost:`port` and waits until the aggregator reports it Available (it has
 * fetched the group version's discovery through the front proxy). Resolves with the APIService's name.
 */
export async function registerLoopbackApi(cp: ControlPlane, options: LoopbackApiOptions): Promise<string> {
  const { namespace, name } = options.apiService.spec.service;
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { type: 'ExternalName', externalName: 'localhost', ports: [{ name: 'https', port: options.port, protocol: 'TCP' }] },
  };
  const apiService: ApiServiceManifest = {
    ...options.apiService,
    spec: {
      ...options.apiService.spec,
      service: { namespace, name, port: options.port },
      caBundle: Buffer.from(options.caBundle).toString('base64'),
    },
  };
  const namespaceObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } };
  const objects = { apiVersion: 'v1', kind: 'List', items: [namespaceObject, service, apiService] };
  await mustKubectl(cp, ['apply', '-f', '-'], JSON.stringify(objects));
  const apiServiceName = apiService.metadata.name;
  let last = '';
  await waitFor(
    `APIService ${apiServiceName} Available`,
    async () => {
      last = await mustKubectl(cp, ['get', 'apiservice', apiServiceName, '-o', 'jsonpath={.status.conditions[?(@.type=="Available")]}']);
      return (JSON.parse(last || '{}') as { status?: string }).status === 'True';
    },
    options.timeoutMs ?? 60_000,
    () => `last Available condition: ${last}\n${cp.logs().slice(-4000)}`,
    250,
  );
  return apiServiceName;
}
