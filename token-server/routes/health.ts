// Liveness answers as long as the process serves HTTP; readiness only when every registry served has a
// snapshot and a signing key valid right now, so a Service never routes to a replica that cannot sign.

import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { errorBody } from '../errors.js';

export function readinessProblem(ctx: AppContext): string | undefined {
  const state = ctx.policy.current();
  if (state === undefined) return 'no policy snapshot loaded';
  const material = ctx.signing();
  if (material === undefined) return 'no signing keys loaded';
  const now = ctx.now();
  for (const registry of state.registries.values()) {
    const policy = registry.policy;
    if (material.signer.keyFor(policy.id, policy.signingAlgorithm, now) === undefined) {
      return `no signing key valid now for service ${JSON.stringify(policy.service)}`;
    }
  }
  return undefined;
}

export function registerHealthRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const problem = readinessProblem(ctx);
    if (problem !== undefined) return reply.code(503).type('application/json').send(errorBody('NOT_READY', problem));
    return { status: 'ready', generation: ctx.policy.current()?.generation };
  });
}
