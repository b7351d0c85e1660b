// POST /events/{namespace}/{name}: where a Registry's Distribution posts its notifications.
//
// The bearer token is checked first (before the body is read) against the token derived for the Registry
// in the path (wire/notification-token.ts); a wrong token, an unknown Registry and a name that cannot be
// one all get the same 401, and no list of Registries is needed. Then the Content-Type (415), the size
// (413), the whole envelope (400, with the reason), and the events go through the group-commit batcher:
// 200 only once they are committed, 503 when the store failed or the queue is full, so Distribution
// (which retries anything else than 2xx/3xx, every `backoff`) delivers them again.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { notificationToken } from '../wire/notification-token.js';
import { BatcherClosedError, QueueFullError, type IntakeBatcher } from './batcher.js';
import { ENVELOPE_LIMITS, EVENTS_MEDIA_TYPES, parseEnvelope } from './envelope.js';
import { INTAKE_ERRORS, intakeErrorBody, type IntakeErrorCode } from './intake-errors.js';
import type { ActivityMetrics } from './metrics.js';

export interface IntakeOptions {
  /** The activity key: each Registry's token is derived from it. */
  activityKey: Buffer;
  batcher: Pick<IntakeBatcher, 'submit'>;
  metrics: ActivityMetrics;
  limits?: typeof ENVELOPE_LIMITS;
}

/** The route's path; its parameters are the Registry's namespace and name. */
export const INTAKE_ROUTE = '/events/:namespace/:name';

// A Kubernetes namespace (DNS label) and object name (DNS subdomain).
const NAMESPACE = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
const NAME = /^(?=.{1,253}$)[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

interface RegistryParams {
  namespace: string;
  name: string;
}

function refuse(reply: FastifyReply, metrics: ActivityMetrics, code: IntakeErrorCode, reason?: string): FastifyReply {
  metrics.intakeRequests.inc({ outcome: INTAKE_ERRORS[code].outcome });
  if (code === 'UNAUTHORIZED') reply.header('www-authenticate', 'Bearer');
  if (INTAKE_ERRORS[code].status === 503) reply.header('retry-after', '1');
  return reply.code(INTAKE_ERRORS[code].status).type('application/json').header('cache-control', 'no-store').send(intakeErrorBody(code, reason));
}

/** Both sides hashed first, so the comparison takes the same time whatever the presented token's length. */
function sameSecret(presented: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer +(\S+) *$/i.exec(header);
  return m?.[1];
}

/** Encapsulated (no fastify-plugin): its content-type parsers and error handler apply to intake only. */
export const intakeRoutes: FastifyPluginAsync<IntakeOptions> = async (app, options) => {
  const { activityKey, batcher, metrics } = options;
  const limits = options.limits ?? ENVELOPE_LIMITS;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser([...EVENTS_MEDIA_TYPES, 'application/json'], { parseAs: 'string', bodyLimit: limits.maxBytes }, (_request, body, done) =>
    done(null, body),
  );

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return refuse(reply, metrics, 'TOO_LARGE');
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return refuse(reply, metrics, 'UNSUPPORTED_MEDIA_TYPE');
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return refuse(reply, metrics, 'MALFORMED_ENVELOPE', 'the request body could not be read');
    }
    request.log.error({ err: { message: error.message, stack: error.stack }, req: request }, 'intake failed');
    return refuse(reply, metrics, 'STORE_FAILED');
  });

  app.post<{ Params: RegistryParams; Body: unknown }>(INTAKE_ROUTE, {
    // Before the body is read: an unauthenticated sender costs a hash, never a parse.
    onRequest: async (request, reply) => {
      const { namespace, name } = request.params;
      const presented = bearerToken(request);
      const valid = NAMESPACE.test(namespace) && NAME.test(name);
      if (presented === undefined || !valid || !sameSecret(presented, notificationToken(activityKey, { namespace, name }))) {
        request.log.info(
          { req: request, registry: valid ? `${namespace}/${name}` : undefined, tokenGiven: presented !== undefined },
          'notification refused: bad token',
        );
        return refuse(reply, metrics, 'UNAUTHORIZED');
      }
      return undefined;
    },
    handler: async (request, reply) => {
      const registry = `${request.params.namespace}/${request.params.name}`;
      if (typeof request.body !== 'string') return refuse(reply, metrics, 'UNSUPPORTED_MEDIA_TYPE');
      const parsed = parseEnvelope(request.body, registry, limits);
      if (!parsed.ok) {
        request.log.warn({ registry, reason: parsed.reason }, 'notification envelope refused');
        return refuse(reply, metrics, 'MALFORMED_ENVELOPE', parsed.reason);
      }
      try {
        await batcher.submit(parsed.events);
      } catch (err) {
        const busy = err instanceof QueueFullError || err instanceof BatcherClosedError;
        const cause = (err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err)).split('\n')[0];
        request.log.error(
          { registry, events: parsed.events.length, reason: busy ? (err as Error).message : cause },
          'notification not stored; the registry will retry',
        );
        return refuse(reply, metrics, busy ? 'BUSY' : 'STORE_FAILED');
      }
      if (parsed.ignored > 0) metrics.ignoredEvents.inc({ registry }, parsed.ignored);
      metrics.intakeRequests.inc({ outcome: 'accepted' });
      return reply.code(200).header('cache-control', 'no-store').send({ accepted: parsed.events.length, ignored: parsed.ignored });
    },
  });
};
