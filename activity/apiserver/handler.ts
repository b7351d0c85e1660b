// One request in, one answer out, with no socket: server.ts hands over what TLS established and the
// headers, tests call this directly. Every path but the health checks needs the front proxy; every
// read of events also needs the SubjectAccessReview's yes for exactly that verb and namespace.

import { authenticate, type DistinctHeaders, type FrontProxyConfig, type PeerCertificate, type UserInfo } from './front-proxy.js';
import type { Authorizer } from './authorizer.js';
import { apiGroup, apiGroupList, apiResourceList } from './discovery.js';
import type { EventReader } from './event-reader.js';
import { GROUP, GROUP_VERSION_PATH, REGISTRY_EVENTS, REGISTRY_TOKENS } from './group.js';
import { parseListOptions } from './list-options.js';
import { toList, type RegistryEventObject } from './objects.js';
import { ApiError, badRequest, notFound, unauthorized } from './status.js';
import { parseIncludeObject, toTable, wantsTable } from './table.js';
import type { VisibleRegistry } from './visibility.js';

export interface ApiRequest {
  method: string;
  /** Path and query, as on the request line. */
  url: string;
  headers: DistinctHeaders;
  peer: PeerCertificate;
  /** The request body (POST only); undefined: none was sent. */
  body?: Buffer;
}

export interface ApiResponse {
  status: number;
  /** JSON unless `text` is set. */
  body?: unknown;
  text?: string;
}

export interface HandlerOptions {
  frontProxy(): FrontProxyConfig | undefined;
  authorizer: Authorizer;
  reader: EventReader;
  view: { visibleFrom(namespace: string): VisibleRegistry[]; all(): VisibleRegistry[]; synced(): boolean };
  now(): Date;
  /** Failures that are ours, not the caller's (the store, the SubjectAccessReview). */
  logError(message: string, error: Error): void;
  /** POST registrytokens (registry-tokens.ts); undefined: not served. */
  registryTokens?(user: UserInfo, namespace: string, body: unknown): Promise<ApiResponse>;
}

const NAMESPACE = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const OBJECT_NAME = '[a-z0-9]([-a-z0-9.]*[a-z0-9])?';
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const EVENTS = new RegExp(`^${escapeRe(GROUP_VERSION_PATH)}(?:/namespaces/(${NAMESPACE}))?/${REGISTRY_EVENTS.name}(?:/(${OBJECT_NAME}))?/?$`);
const TOKENS = new RegExp(`^${escapeRe(GROUP_VERSION_PATH)}/namespaces/(${NAMESPACE})/${REGISTRY_TOKENS.name}/?$`);

/** A create's body: JSON, or the 400 that says it is not. */
function jsonBody(body: Buffer | undefined): unknown {
  if (body === undefined || body.length === 0) throw badRequest('the request has no body: send a RegistryToken object as JSON');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('the request body is not JSON');
  }
}

const HEALTH_PATHS = new Set(['/healthz', '/livez', '/readyz']);

export function createHandler(options: HandlerOptions): (request: ApiRequest) => Promise<ApiResponse> {
  const readiness = (): string | undefined => {
    if (options.frontProxy() === undefined) return 'the front-proxy configuration has not been read';
    if (!options.view.synced()) return 'Registries and Namespaces have not been listed yet';
    return undefined;
  };

  const health = (path: string): ApiResponse => {
    const notReady = path === '/readyz' ? readiness() : undefined;
    return notReady === undefined ? { status: 200, text: 'ok' } : { status: 503, text: `not ready: ${notReady}` };
  };

  const events = async (user: UserInfo, match: RegExpExecArray, query: URLSearchParams, accept: string | undefined): Promise<ApiResponse> => {
    const namespace = match[1];
    const name = match[3];
    if (name !== undefined && namespace === undefined) throw notFound('registry events are namespaced: GET one under /namespaces/NAMESPACE/');
    const verb = name === undefined ? 'list' : 'get';
    // Authorization before anything else is read: a refused caller learns nothing about the query.
    await options.authorizer.require({ user, verb, resource: REGISTRY_EVENTS.name, namespace: namespace ?? '', ...(name === undefined ? {} : { name }) });
    if (!options.view.synced()) throw new ApiError('ServiceUnavailable', 'the activity server has not listed Registries and Namespaces yet; retry in a moment');
    if (name !== undefined && namespace !== undefined) {
      const found = await options.reader.get(options.view.visibleFrom(namespace), name, namespace);
      if (found === undefined) {
        throw notFound(`${REGISTRY_EVENTS.name}.${GROUP} ${JSON.stringify(name)} not found`, { name, group: GROUP, kind: REGISTRY_EVENTS.name });
      }
      return { status: 200, body: found };
    }
    const filters = parseListOptions(query, namespace ?? '', options.now());
    let items: RegistryEventObject[];
    if (namespace === undefined) items = await options.reader.list(options.view.all(), filters, { home: true });
    else items = await options.reader.list(options.view.visibleFrom(namespace), filters, { namespace });
    return { status: 200, body: wantsTable(accept) ? toTable(items, parseIncludeObject(query.get('includeObject'))) : toList(items) };
  };

  const route = async (request: ApiRequest): Promise<ApiResponse> => {
    const url = new URL(request.url, 'https://activity.invalid');
    const path = url.pathname;
    if (HEALTH_PATHS.has(path)) {
      if (request.method !== 'GET') throw new ApiError('MethodNotAllowed', `${request.method} is not allowed on ${path}`);
      return health(path);
    }
    const who = authenticate(options.frontProxy(), request.peer, request.headers);
    if ('refused' in who) throw unauthorized(`Unauthorized: ${who.refused}`);
    const tokens = options.registryTokens === undefined ? null : TOKENS.exec(path);
    if (tokens !== null && options.registryTokens !== undefined) {
      if (request.method !== 'POST') throw new ApiError('MethodNotAllowed', `${request.method} is not supported: ${REGISTRY_TOKENS.name} are only created`);
      return options.registryTokens(who.user, tokens[1] as string, jsonBody(request.body));
    }
    if (request.method !== 'GET') throw new ApiError('MethodNotAllowed', `${request.method} is not supported: registry events are read-only (get, list)`);
    if (path === '/apis' || path === '/apis/') return { status: 200, body: apiGroupList };
    if (path === `/apis/${GROUP}` || path === `/apis/${GROUP}/`) return { status: 200, body: apiGroup };
    if (path === GROUP_VERSION_PATH || path === `${GROUP_VERSION_PATH}/`) return { status: 200, body: apiResourceList };
    const match = EVENTS.exec(path);
    if (match !== null) return events(who.user, match, url.searchParams, request.headers.accept?.join(','));
    if (path.startsWith('/openapi/')) throw notFound('this server publishes no OpenAPI document (kubectl get and -o yaml need none)');
    if (path.startsWith(GROUP_VERSION_PATH)) throw notFound(`the server could not find the requested resource (${path})`);
    throw notFound(`${path} is not served here: this server serves ${GROUP_VERSION_PATH}`);
  };

  return async (request) => {
    try {
      return await route(request);
    } catch (error) {
      if (error instanceof ApiError) return { status: error.code, body: error.toStatus() };
      options.logError(`${request.method} ${request.url.split('?')[0]}`, error as Error);
      const failed = new ApiError('InternalError', 'the activity server could not answer (see its log); retry later');
      return { status: failed.code, body: failed.toStatus() };
    }
  };
}
