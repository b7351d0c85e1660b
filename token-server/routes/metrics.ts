// Prometheus scrape endpoint.

import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';

export function registerMetricsRoute(app: FastifyInstance, ctx: AppContext): void {
  app.get('/metrics', async (_request, reply) => {
    const body = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(body);
  });
}
