// An error -> the catalogue response (status, headers, JSON body) and its bookkeeping (the token-request
// outcome counter, a log line for a bug). One place for it: fastify's error handler and the GET /token
// fast path (routes/token-get.ts), which answers outside fastify, both answer through it.

import type { AppContext } from './context.js';
import { ERRORS, TokenServerError, catalogueCodeFor, errorBody, type ErrorCode } from './errors.js';
import type { Outcome } from './metrics.js';

const OUTCOME: Partial<Record<ErrorCode, Outcome>> = {
  BAD_CREDENTIALS: 'bad_credentials',
  AUTHENTICATION_REQUIRED: 'bad_credentials',
  INVALID_REFRESH_TOKEN: 'invalid_refresh_token',
  TOO_MANY_REQUESTS: 'throttled',
  NOT_READY: 'not_ready',
  IDENTITY_SOURCE_UNAVAILABLE: 'source_unavailable',
  REGISTRY_READ_ONLY: 'registry_read_only',
  INTERNAL: 'error',
};

export interface ErrorResponse {
  code: ErrorCode;
  status: number;
  /** The error's own headers (www-authenticate, retry-after), beside content-type and cache-control. */
  headers: Record<string, string>;
  detail: string | undefined;
}

/** What the request is, for the log line of an internal error (logger.ts keeps only safe fields). */
export interface RequestSummary {
  method?: string;
  url?: string;
  ip?: string;
  id?: string;
}

/** Maps `error`, counts the outcome when it answers a token request, logs it when it is a bug. */
export function errorResponse(ctx: Pick<AppContext, 'metrics' | 'logger'>, error: unknown, tokenRoute: boolean, request: RequestSummary): ErrorResponse {
  const code = catalogueCodeFor(error);
  if (code === 'INTERNAL') {
    ctx.logger.error({ err: { message: (error as Error).message, stack: (error as Error).stack }, req: request }, 'internal error');
  }
  if (tokenRoute) ctx.metrics.tokenRequests.inc({ outcome: OUTCOME[code] ?? 'bad_request' });
  const own = error instanceof TokenServerError ? error : undefined;
  return { code, status: ERRORS[code].status, headers: { ...own?.headers }, detail: own?.detail };
}

/** The body of an error response, serialized. */
export function errorJson(response: ErrorResponse): string {
  return JSON.stringify(errorBody(response.code, response.detail));
}
