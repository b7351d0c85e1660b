// The one catalogue of errors the token server returns. Every non-2xx response is built from an entry
// here, so status, registry error code and wording stay consistent and a test can walk them all.
// Bodies use the registry's error shape (`{"errors":[{code,message,detail}]}`), which Docker, containerd
// and Distribution's own client print verbatim; OAuth2 clients additionally find `error` and
// `error_description` (RFC 6749 5.2) in the same body.

export interface CatalogueEntry {
  status: number;
  /** The `code` clients see. Distribution's registered codes where one fits, else our own. */
  registryCode: string;
  /** RFC 6749 error code, for clients of the OAuth2 (POST) flow. */
  oauthError: string;
  message: string;
}

export const ERRORS = {
  BAD_CREDENTIALS: {
    status: 401,
    registryCode: 'UNAUTHORIZED',
    oauthError: 'invalid_grant',
    message: 'authentication failed: invalid username or password',
  },
  AUTHENTICATION_REQUIRED: {
    status: 401,
    registryCode: 'UNAUTHORIZED',
    oauthError: 'invalid_client',
    message: 'authentication required',
  },
  INVALID_REFRESH_TOKEN: {
    status: 401,
    registryCode: 'UNAUTHORIZED',
    oauthError: 'invalid_grant',
    message: 'refresh token is invalid, expired or no longer valid for this user; log in again',
  },
  MALFORMED_AUTHORIZATION: {
    status: 400,
    registryCode: 'INVALID_REQUEST',
    oauthError: 'invalid_request',
    message: 'malformed Authorization header: expected Basic base64(username:password)',
  },
  ACCOUNT_MISMATCH: {
    status: 400,
    registryCode: 'INVALID_REQUEST',
    oauthError: 'invalid_request',
    message: 'the account parameter does not match the authenticated user',
  },
  INVALID_SCOPE: {
    status: 400,
    registryCode: 'INVALID_SCOPE',
    oauthError: 'invalid_scope',
    message: 'invalid scope',
  },
  SERVICE_REQUIRED: {
    status: 400,
    registryCode: 'INVALID_REQUEST',
    oauthError: 'invalid_request',
    message: 'the service parameter is required: this token server serves several registries',
  },
  UNSUPPORTED_SERVICE: {
    status: 400,
    registryCode: 'UNSUPPORTED_SERVICE',
    oauthError: 'invalid_request',
    message: 'this token server does not issue tokens for the requested service',
  },
  INVALID_REQUEST: {
    status: 400,
    registryCode: 'INVALID_REQUEST',
    oauthError: 'invalid_request',
    message: 'invalid request',
  },
  UNSUPPORTED_GRANT_TYPE: {
    status: 400,
    registryCode: 'UNSUPPORTED_GRANT_TYPE',
    oauthError: 'unsupported_grant_type',
    message: 'unsupported grant_type: use password or refresh_token',
  },
  NOT_FOUND: {
    status: 404,
    registryCode: 'NOT_FOUND',
    oauthError: 'invalid_request',
    message: 'no such endpoint',
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    registryCode: 'INVALID_REQUEST',
    oauthError: 'invalid_request',
    message: 'request body too large',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    registryCode: 'INVALID_REQUEST',
    oauthError: 'invalid_request',
    message: 'unsupported Content-Type: send application/x-www-form-urlencoded',
  },
  TOO_MANY_REQUESTS: {
    status: 429,
    registryCode: 'TOOMANYREQUESTS',
    oauthError: 'slow_down',
    message: 'too many failed attempts; retry later',
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    registryCode: 'INVALID_REQUEST',
    oauthError: 'invalid_request',
    message: 'request headers too large',
  },
  NOT_READY: {
    status: 503,
    registryCode: 'UNAVAILABLE',
    oauthError: 'temporarily_unavailable',
    message: 'the token server has no usable policy snapshot or signing key yet',
  },
  IDENTITY_SOURCE_UNAVAILABLE: {
    status: 503,
    registryCode: 'UNAVAILABLE',
    oauthError: 'temporarily_unavailable',
    message: 'the identity source that checks this login cannot be reached; nothing was granted; retry later',
  },
  REGISTRY_READ_ONLY: {
    status: 503,
    registryCode: 'UNAVAILABLE',
    oauthError: 'temporarily_unavailable',
    message:
      'the registry is read-only for garbage collection: pulls work, pushes and deletes are refused until the maintenance window ends; retry the push later',
  },
  INTERNAL: {
    status: 500,
    registryCode: 'UNKNOWN',
    oauthError: 'server_error',
    message: 'internal error',
  },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERRORS;

/** Thrown by handlers; the error handler turns it into the catalogue response. */
export class TokenServerError extends Error {
  readonly code: ErrorCode;
  /** Client-safe detail: never a secret, never raw client input that was not bounded and escaped. */
  readonly detail: string | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, options?: { detail?: string; headers?: Record<string, string> }) {
    // A catalogue error is an answer, not a bug: no stack trace is captured (a flood of 429s would pay for it).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(options?.detail === undefined ? ERRORS[code].message : `${ERRORS[code].message}: ${options.detail}`);
    Error.stackTraceLimit = limit;
    this.name = 'TokenServerError';
    this.code = code;
    this.detail = options?.detail;
    this.headers = options?.headers ?? {};
  }
}

export interface ErrorBody {
  errors: [{ code: string; message: string; detail?: string }];
  error: string;
  error_description: string;
}

export function errorBody(code: ErrorCode, detail?: string): ErrorBody {
  const entry = ERRORS[code];
  const message = detail === undefined ? entry.message : `${entry.message}: ${detail}`;
  const item: ErrorBody['errors'][0] = { code: entry.registryCode, message };
  if (detail !== undefined) item.detail = detail;
  return { errors: [item], error: entry.oauthError, error_description: message };
}

/**
 * Maps an error fastify raised itself (body limit, content type, JSON parse, ...) to the catalogue.
 * Anything else is a bug and becomes INTERNAL.
 */
export function catalogueCodeFor(error: unknown): ErrorCode {
  if (error instanceof TokenServerError) return error.code;
  const status = typeof error === 'object' && error !== null ? (error as { statusCode?: unknown }).statusCode : undefined;
  if (typeof status !== 'number' || status < 400 || status >= 500) return 'INTERNAL';
  switch (status) {
    case 404:
      return 'NOT_FOUND';
    case 413:
      return 'PAYLOAD_TOO_LARGE';
    case 415:
      return 'UNSUPPORTED_MEDIA_TYPE';
    case 429:
      return 'TOO_MANY_REQUESTS';
    case 431:
      return 'HEADERS_TOO_LARGE';
    default:
      return 'INVALID_REQUEST';
  }
}
