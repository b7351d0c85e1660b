// The activity server's logger. Requests are logged as method, route and client only: the intake's
// Authorization header is a Registry's notification token and its body is the registry's traffic, so
// neither reaches a log line; redaction is the second line of defence for anything passed by mistake.

import { pino, type Logger, type LoggerOptions } from 'pino';
import { safeRequest } from '../wire/log-request.js';

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    base: { component: 'activity' },
    serializers: { req: safeRequest },
    redact: {
      paths: ['req.headers.authorization', 'req.body', 'headers.authorization', 'authorization', 'token', '*.token', 'activityKey', '*.activityKey'],
      censor: '[redacted]',
    },
  };
}

/** Logs go to stderr, so stdout carries only the command's status lines. */
export function createLogger(level = 'info', destination: pino.DestinationStream = pino.destination({ fd: 2, sync: false })): Logger {
  return pino(loggerOptions(level), destination);
}
