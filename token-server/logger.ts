// The token server's logger. Request and error serializers keep only what is safe: no headers beyond a
// short allow-list, no bodies, no query strings (a refresh token or password could be in one). Redaction
// is a second line of defence for fields that should never be logged at all.

import cluster from 'node:cluster';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { safeRequest } from '../wire/log-request.js';
import { BatchedLines } from './log-lines.js';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.body',
  'headers.authorization',
  'password',
  '*.password',
  'refresh_token',
  '*.refresh_token',
  'token',
  '*.token',
  'access_token',
  '*.access_token',
];

/** `worker`: the node:cluster worker id under --workers N, so lines from N processes sharing stderr can be told apart. */
export function loggerOptions(level: string, worker?: number): LoggerOptions {
  return {
    level,
    base: worker === undefined ? { component: 'token-server' } : { component: 'token-server', worker },
    serializers: { req: safeRequest },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
}

/**
 * Logs go to stderr by default, so stdout carries only the command's own status lines, in batches of whole
 * lines (log-lines.ts) written at the latest every 250 ms, on logger.flush() and at exit.
 */
export function createLogger(level = 'info', destination: DestinationStream = new BatchedLines({ fd: 2 })): Logger {
  return pino(loggerOptions(level, cluster.isWorker ? cluster.worker?.id : undefined), destination);
}
