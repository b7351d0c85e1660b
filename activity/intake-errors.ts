// Every answer intake gives that is not a 200, in one place: status, code and the sentence sent back.
// Distribution only looks at the status (2xx/3xx accepted, anything else retried until accepted), so the
// body is for people reading a registry's log or running curl; it never carries a secret.

import type { IntakeOutcome } from './metrics.js';

export interface IntakeError {
  status: number;
  outcome: IntakeOutcome;
  message: string;
}

export const INTAKE_ERRORS = {
  UNAUTHORIZED: { status: 401, outcome: 'unauthorized', message: 'a valid notification token for this Registry is required' },
  MALFORMED_ENVELOPE: { status: 400, outcome: 'malformed', message: 'malformed notification envelope; nothing of it was stored' },
  TOO_LARGE: { status: 413, outcome: 'too_large', message: 'notification envelope too large' },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    outcome: 'unsupported_media_type',
    message: 'expected Content-Type application/vnd.docker.distribution.events.v1+json or v2+json (or application/json)',
  },
  BUSY: { status: 503, outcome: 'busy', message: 'intake is busy or shutting down; retry shortly' },
  STORE_FAILED: { status: 503, outcome: 'store_failed', message: 'the event store did not commit the events; retry shortly' },
  NOT_FOUND: { status: 404, outcome: 'not_found', message: 'not found: notifications are posted to /events/{namespace}/{name}' },
} as const satisfies Record<string, IntakeError>;

export type IntakeErrorCode = keyof typeof INTAKE_ERRORS;

/** The JSON body of a refusal; `reason` says which field of an envelope was wrong. */
export function intakeErrorBody(code: IntakeErrorCode, reason?: string): { error: IntakeErrorCode; message: string; reason?: string } {
  return { error: code, message: INTAKE_ERRORS[code].message, ...(reason === undefined ? {} : { reason }) };
}
