// `/.well-known/jwks.json`: the public signing keys, including ones not yet signing (published ahead of
// their notBefore so verifiers that fetch keys learn them before the first token they sign).

import { X509Certificate, createPublicKey } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import type { KeyState } from '../sources/types.js';

interface Jwk {
  kid: string;
  alg: string;
  use: 'sig';
  x5c: string[];
  [member: string]: unknown;
}

export function jwksOf(state: KeyState, now: Date): { keys: Jwk[] } {
  const keys: Jwk[] = [];
  for (const key of state.set.keys) {
    if (Date.parse(key.notAfter) <= now.getTime()) continue;
    const publicJwk = createPublicKey(key.privateKey).export({ format: 'jwk' });
    keys.push({
      ...publicJwk,
      kid: key.kid,
      alg: key.algorithm,
      use: 'sig',
      x5c: key.certificateChain.map((pem) => new X509Certificate(pem).raw.toString('base64')),
    });
  }
  return { keys };
}

export function registerJwksRoute(app: FastifyInstance, ctx: AppContext): void {
  // Built once per key state; expired keys drop out at the next reload or after a minute.
  let cached: { state: KeyState; body: string; builtAt: number } | undefined;
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    const state = ctx.keys.current();
    const now = ctx.now();
    if (state === undefined) return reply.type('application/json').send('{"keys":[]}');
    if (cached?.state !== state || now.getTime() - cached.builtAt > 60_000) {
      cached = { state, body: JSON.stringify(jwksOf(state, now)), builtAt: now.getTime() };
    }
    return reply.header('cache-control', 'max-age=60').type('application/json').send(cached.body);
  });
}
