// Every refusal the aggregated API answers with, as the metav1.Status object kubectl and client
// libraries print: one constructor per reason, so a status code never travels without its reason and
// a message that says what to do.

export type StatusReason =
  'BadRequest' | 'Unauthorized' | 'Forbidden' | 'NotFound' | 'MethodNotAllowed' | 'NotAcceptable' | 'ServiceUnavailable' | 'InternalError';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: StatusReason;
  details?: StatusDetails;
  code: number;
}

const CODES: Record<StatusReason, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  ServiceUnavailable: 503,
  InternalError: 500,
};

/** A refusal on its way to the client: throw it from a handler, the router writes its Status. */
export class ApiError extends Error {
  readonly code: number;
  constructor(
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'ApiError';
    this.code = CODES[reason];
  }

  toStatus(): Status {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details === undefined ? {} : { details: this.details }),
      code: this.code,
    };
  }
}

export const badRequest = (message: string): ApiError => new ApiError('BadRequest', message);
export const unauthorized = (message: string): ApiError => new ApiError('Unauthorized', message);
export const notFound = (message: string, details?: StatusDetails): ApiError => new ApiError('NotFound', message, details);
