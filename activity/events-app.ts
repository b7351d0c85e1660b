// build -> the events listener's fastify instance: notification intake, GET /healthz and GET /metrics.
// It never listens (main.ts does); tests drive it with inject().

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { IntakeBatcher } from './batcher.js';
import { ENVELOPE_LIMITS } from './envelope.js';
import { intakeRoutes } from './intake.js';
import { INTAKE_ERRORS, intakeErrorBody } from './intake-errors.js';
import type { ActivityMetrics } from './metrics.js';

export interface EventsAppOptions {
  activityKey: Buffer;
  batcher: Pick<IntakeBatcher, 'submit'>;
  metrics: ActivityMetrics;
  logger: Logger;
  limits?: typeof ENVELOPE_LIMITS;
}

export async function buildEventsApp(options: EventsAppOptions): Promise<FastifyInstance> {
  const limits = options.limits ?? ENVELOPE_LIMITS;
  const app = Fastify({
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- without it fastify infers a Logger-typed instance the plugins cannot take
    loggerInstance: options.logger as FastifyBaseLogger,
    // One line per refusal is logged by intake itself; an access log of every delivery would be noise.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.maxBytes,
    // A Registry's name may be a 253-character DNS subdomain (fastify's default stops at 100).
    routerOptions: { maxParamLength: 256 },
    // While shutting down, new deliveries get 503 and Distribution retries them elsewhere or later.
    return503OnClosing: true,
  });
  await app.register(intakeRoutes, { activityKey: options.activityKey, batcher: options.batcher, metrics: options.metrics, limits });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/metrics', async (_request, reply) => {
    const body = await options.metrics.registry.metrics();
    return reply.type(options.metrics.registry.contentType).send(body);
  });
  app.setNotFoundHandler(async (_request, reply) => {
    options.metrics.intakeRequests.inc({ outcome: 'not_found' });
    return reply.code(INTAKE_ERRORS.NOT_FOUND.status).type('application/json').send(intakeErrorBody('NOT_FOUND'));
  });
  return app;
}
