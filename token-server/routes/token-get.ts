// `GET /token` (Basic auth or anonymous; Docker's classic flow) on the raw node:http request and response.
// It is nearly all of a token server's traffic, so server.ts hands it here before fastify routes anything:
// fastify's hooks, reply pipeline and serialization cost a fifth of each token (bench: `npm run bench`).
// The fastify route for GET /token (tests' inject, and requests during shutdown) calls the same function,
// so both ways answer byte for byte alike. What fastify did around it is done here: the header limit, the
// query string, the catalogue error responses (error-response.ts).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQueryString } from 'node:querystring';
import type { FastifyInstance } from 'fastify';
import { BoundedMap } from '../../policy/bounded-map.js';
import { parseBasicAuthorization } from '../basic-auth.js';
import type { AppContext } from '../context.js';
import { errorJson, errorResponse } from '../error-response.js';
import { TokenServerError } from '../errors.js';
import type { Limits } from '../limits.js';
import { login } from '../login.js';
import { challenge, type Caller, type Grant } from '../login-steps.js';
import { optionalString, ready, REMEMBERED_SCOPE_CHARS, resolveService, respond, scopesFrom, SIGNED_TOKEN, type Params, type TokenResponse } from './token.js';

const JSON_TYPE = 'application/json; charset=utf-8';

export function registerTokenGetRoute(app: FastifyInstance, ctx: AppContext): void {
  app.get('/token', async (request, reply) => {
    reply.hijack();
    await serveTokenGet(ctx, request.raw, reply.raw, request.ip);
  });
}

/** Whether the request's headers (names, values, separators) exceed the limit: answered 431 from the catalogue. */
export function headersTooLarge(request: IncomingMessage, limits: Limits): boolean {
  let total = 0;
  for (const part of request.rawHeaders) total += part.length + 2;
  return total > limits.maxHeaderBytes;
}

/**
 * Answers a GET /token whose client address is `ip` (trust-proxy.ts). Never throws. Answered at once when
 * no check has to wait (a cached verification, an anonymous pull): then it returns nothing; otherwise the
 * promise settles once the answer is sent.
 */
export function serveTokenGet(ctx: AppContext, request: IncomingMessage, response: ServerResponse, ip: string): Promise<void> | undefined {
  let answer: TokenResponse | Promise<TokenResponse>;
  try {
    if (headersTooLarge(request, ctx.limits)) throw new TokenServerError('HEADERS_TOO_LARGE');
    answer = issue(ctx, { ip }, queryOf(request.url), request.headers.authorization);
  } catch (error) {
    sendFailure(ctx, request, response, ip, error);
    return undefined;
  }
  if (answer instanceof Promise) {
    return answer.then(
      (body) => sendToken(response, body),
      (error: unknown) => sendFailure(ctx, request, response, ip, error),
    );
  }
  sendToken(response, answer);
  return undefined;
}

function sendToken(response: ServerResponse, token: TokenResponse): void {
  const body = tokenJson(token);
  response.writeHead(200, { 'content-type': JSON_TYPE, 'cache-control': 'no-store', 'content-length': body.bytes });
  response.end(body.text);
}

const OPEN = '{"token":"';
const BETWEEN = '","access_token":"';
const CLOSE = '",';

/**
 * JSON.stringify(token) and its length in UTF-8 bytes, without serializing or measuring the signed token
 * (SIGNED_TOKEN): it is most of the body, and scanning it for characters to escape, then again to count
 * its bytes, cost more than a tenth of the signature (perf, bench (a)).
 */
export function tokenJson(token: TokenResponse): { text: string; bytes: number } {
  if (token[SIGNED_TOKEN] !== true || token.access_token !== token.token) {
    const text = JSON.stringify(token);
    return { text, bytes: Buffer.byteLength(text) };
  }
  const { token: jws, access_token: _access, ...rest } = token;
  const tail = JSON.stringify(rest).slice(1);
  return {
    text: `${OPEN}${jws}${BETWEEN}${jws}${CLOSE}${tail}`,
    // The token is ASCII: one byte per character.
    bytes: OPEN.length + 2 * jws.length + BETWEEN.length + CLOSE.length + Buffer.byteLength(tail),
  };
}

function sendFailure(ctx: AppContext, request: IncomingMessage, response: ServerResponse, ip: string, error: unknown): void {
  const answer = errorResponse(ctx, error, true, { method: request.method, url: request.url, ip });
  const json = errorJson(answer);
  if (response.headersSent || response.destroyed) return;
  response.writeHead(answer.status, { ...answer.headers, 'content-type': JSON_TYPE, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(json) });
  response.end(json);
}

/**
 * Clients send the same few query strings (service and scope) again and again, and decoding one cost
 * about as much as the rest of the route: the parse of a short one is remembered, frozen because
 * requests share it. Bounded in count, length and parameters, so a client spraying query strings only
 * evicts: a 1 KB query of some 330 empty parameters parses to about 19 KB of objects (measured in review),
 * so only parses of a client's usual few (service, scope, account, ...) are kept, about 2 MB at most.
 */
const parsedQueries = new BoundedMap<Params>(1024);
const REMEMBERED_PARAMETERS = 8;

function queryOf(url: string | undefined): Params {
  if (url === undefined) return {};
  const mark = url.indexOf('?');
  if (mark < 0) return {};
  const query = url.slice(mark + 1);
  const known = parsedQueries.getRecent(query);
  if (known !== undefined) return known;
  const params = parseQueryString(query);
  if (query.length <= REMEMBERED_SCOPE_CHARS && Object.keys(params).length <= REMEMBERED_PARAMETERS) parsedQueries.set(query, frozenParams(params));
  return params;
}

function frozenParams(params: Params): Params {
  for (const value of Object.values(params)) if (Array.isArray(value)) Object.freeze(value);
  return Object.freeze(params);
}

function issue(ctx: AppContext, caller: Caller, query: Params, authorization: string | undefined): TokenResponse | Promise<TokenResponse> {
  const { state, material } = ready(ctx);
  const registry = resolveService(state, optionalString(query, 'service'));
  const scopes = scopesFrom(ctx, query.scope);
  const credentials = parseBasicAuthorization(authorization);
  const account = optionalString(query, 'account');
  let grant: Grant | Promise<Grant>;
  if (credentials === undefined) {
    if (account !== undefined) throw challenge(registry, 'AUTHENTICATION_REQUIRED', 'the account parameter needs Basic credentials');
    grant = { requester: { kind: 'anonymous' }, grantType: 'anonymous' };
  } else {
    if (account !== undefined && account !== credentials.username) throw new TokenServerError('ACCOUNT_MISMATCH');
    grant = login(ctx, caller, registry, credentials, 'basic');
  }
  const answer = (granted: Grant): TokenResponse => {
    const offline = optionalString(query, 'offline_token') === 'true';
    return respond(ctx, caller, { generation: state.generation, material, registry, scopes, grant: granted, offline, includeScope: false });
  };
  return grant instanceof Promise ? grant.then(answer) : answer(grant);
}
