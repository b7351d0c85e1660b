// Prometheus scrape endpoint. Counters and histograms are sums over the --workers processes; gauges say
// in metrics.ts how they combine.

import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';

/** `collect`: with --workers, every worker's metrics added up (workers.ts); default this process's own. */
export function registerMetricsRoute(app: FastifyInstance, ctx: AppContext, collect?: () => Promise<string>): void {
  app.get('/metrics', async (_request, reply) => {
    const body = collect === undefined ? await ctx.metrics.registry.metrics() : await collect();
    return reply.type(ctx.metrics.registry.contentType).send(body);
  });
}
