// build(options) -> a fastify instance with every route, hook and error mapping. It never listens:
// tests drive it with inject(), server.ts puts it on a socket.

import formbody from '@fastify/formbody';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { AppContext } from './context.js';
import { signingMaterialCache } from './context.js';
import { CredentialVerifier, type BcryptTimings, type PasswordCompare } from './credentials.js';
import { errorResponse } from './error-response.js';
import { ERRORS, TokenServerError, catalogueCodeFor, errorBody, type ErrorCode } from './errors.js';
import { IdentitySources } from './identity/sources.js';
import { DEFAULT_LIMITS, LoginThrottle, type Limits } from './limits.js';
import { TokenServerMetrics } from './metrics.js';
import { RecentFailures } from './repeated-failures.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerJwksRoute } from './routes/jwks.js';
import { registerMetricsRoute } from './routes/metrics.js';
import { registerTokenRoutes } from './routes/token.js';
import { headersTooLarge, registerTokenGetRoute } from './routes/token-get.js';
import type { KeySource, PolicySource } from './sources/types.js';
import { fastifyTrustProxy, type TrustProxy } from './trust-proxy.js';
import { DEFAULT_LOGIN_TURNS } from './login-turns.js';
import { VerificationQueue, type VerificationQueueOptions } from './verification-queue.js';
import type { KubeClient } from '../kube/request.js';

export interface AppOptions {
  policy: PolicySource;
  keys: KeySource;
  logger: Logger;
  /** Default: the wall clock. */
  now?: () => Date;
  limits?: Partial<Limits>;
  /** Default 30 days. */
  refreshTokenTTLSeconds?: number;
  credentialCache?: { ttlSeconds?: number; maxEntries?: number };
  /** Password checks: how many run at once and how many may wait (see verification-queue.ts). */
  verificationQueue?: Partial<VerificationQueueOptions>;
  /** A failed login takes at least this long. Default 0: the registry's bcrypt costs decide. */
  minFailureMs?: number;
  /** What failed logins are padded to; tests preload it. Default: measured as the server runs. */
  bcryptTimings?: BcryptTimings;
  /**
   * Which X-Forwarded-For hops name the client: a hop count, or the addresses/CIDRs of trusted proxies
   * (see trust-proxy.ts). Never "trust every hop": that lets any client choose its own address.
   */
  trustProxy?: TrustProxy;
  /** Tests observe bcrypt through this; default bcrypt.compare. */
  comparePassword?: PasswordCompare;
  /** Default: a fresh metrics registry. */
  metrics?: TokenServerMetrics;
  /** The cluster, for ServiceAccount TokenReviews. Default: none (ServiceAccount logins answer 503). */
  kubeClient?: () => Promise<KubeClient | undefined>;
  /** Directory binds and TokenReviews queued at once (see verification-queue.ts). Default 8 running, 256 waiting. */
  remoteCheckQueue?: Partial<VerificationQueueOptions>;
  /** What /metrics answers. Default: this process's registry; with --workers, all workers' (workers.ts). */
  metricsText?: () => Promise<string>;
}

const DEFAULT_REMOTE_CHECKS: VerificationQueueOptions = { concurrency: 8, maxQueued: 256, perClient: 8, runningPerClient: 2 };

export const DEFAULT_REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3600;

export async function build(options: AppOptions): Promise<FastifyInstance> {
  return (await assemble(options)).app;
}

/** The app and the context its routes share: server.ts answers GET /token with it before fastify routes. */
export async function assemble(options: AppOptions): Promise<{ app: FastifyInstance; ctx: AppContext }> {
  const now = options.now ?? (() => new Date());
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const metrics = options.metrics ?? new TokenServerMetrics(now);
  const logger = options.logger;

  const verifierOptions: ConstructorParameters<typeof CredentialVerifier>[0] = {
    now,
    onCacheLookup: (hit) => metrics.credentialCache.inc({ result: hit ? 'hit' : 'miss' }),
    onComparison: (cost) => metrics.passwordComparisons.inc({ cost: String(cost) }),
  };
  if (options.credentialCache?.ttlSeconds !== undefined) verifierOptions.ttlSeconds = options.credentialCache.ttlSeconds;
  if (options.credentialCache?.maxEntries !== undefined) verifierOptions.maxEntries = options.credentialCache.maxEntries;
  if (options.comparePassword !== undefined) verifierOptions.compare = options.comparePassword;
  if (options.verificationQueue !== undefined) verifierOptions.queue = options.verificationQueue;
  if (options.minFailureMs !== undefined) verifierOptions.minFailureMs = options.minFailureMs;
  if (options.bcryptTimings !== undefined) verifierOptions.timings = options.bcryptTimings;

  const ctx: AppContext = {
    policy: options.policy,
    keys: options.keys,
    now,
    limits,
    refreshTokenTTLSeconds: options.refreshTokenTTLSeconds ?? DEFAULT_REFRESH_TOKEN_TTL_SECONDS,
    verifier: new CredentialVerifier(verifierOptions),
    identities: new IdentitySources({ now, kubeClient: options.kubeClient ?? (() => Promise.resolve(undefined)) }),
    remoteChecks: new VerificationQueue({ ...DEFAULT_REMOTE_CHECKS, ...options.remoteCheckQueue }),
    loginTurns: new VerificationQueue(DEFAULT_LOGIN_TURNS),
    throttle: new LoginThrottle(limits, now),
    recentFailures: new RecentFailures(limits.maxTrackedKeys),
    metrics,
    // Audit lines hold fixed fields (who, what, which grants, the key id), never a secret: they skip the
    // redaction pass, which cost more than the rest of pino's work on each token.
    audit: logger.child({ log: 'audit' }, { redact: { paths: [] } }),
    logger,
    signing: signingMaterialCache(options.keys, logger),
  };

  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; naming the base type keeps the instance type the default one.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- without it fastify infers a Logger-typed instance the routes cannot take
    loggerInstance: logger as FastifyBaseLogger,
    // The audit line is the record of a token request; per-request access logs would double the cost.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.maxBodyBytes,
    trustProxy: fastifyTrustProxy(options.trustProxy),
    return503OnClosing: true,
    frameworkErrors: (error, _request, reply) => {
      void sendError(reply, catalogueCodeFor(error) === 'INTERNAL' ? 'INVALID_REQUEST' : catalogueCodeFor(error));
    },
  });

  wireSources(ctx);
  metrics.observePasswordQueue(() => ctx.verifier.queueStats);

  // Only form bodies: anything else (JSON included) is a 415 from the catalogue.
  app.removeAllContentTypeParsers();
  await app.register(formbody, { bodyLimit: limits.maxBodyBytes });

  app.addHook('onRequest', async (request) => {
    if (headersTooLarge(request.raw, limits)) throw new TokenServerError('HEADERS_TOO_LARGE');
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.requestDuration.observe({ route: request.routeOptions.url ?? 'unknown' }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler(async (error, request, reply) => {
    const summary = { method: request.method, url: request.url, ip: request.ip, id: request.id };
    const response = errorResponse(ctx, error, request.routeOptions.url === '/token', summary);
    for (const [name, value] of Object.entries(response.headers)) reply.header(name, value);
    return sendError(reply, response.code, response.detail);
  });
  app.setNotFoundHandler(async (_request, reply) => sendError(reply, 'NOT_FOUND'));

  app.addHook('onClose', async () => ctx.identities.close());

  registerTokenRoutes(app, ctx);
  registerTokenGetRoute(app, ctx);
  registerJwksRoute(app, ctx);
  registerHealthRoutes(app, ctx);
  registerMetricsRoute(app, ctx, options.metricsText);
  return { app, ctx };
}

function sendError(reply: FastifyReply, code: ErrorCode, detail?: string): FastifyReply {
  return reply.code(ERRORS[code].status).type('application/json').header('cache-control', 'no-store').send(errorBody(code, detail));
}

/** Keeps metrics and logs in step with the sources; the sources themselves hold the state. */
function wireSources(ctx: AppContext): void {
  const policy = ctx.policy.current();
  if (policy !== undefined) {
    ctx.metrics.snapshotLoaded(policy.generation, policy.loadedAt);
    ctx.verifier.prepare(policy.registries.values());
    ctx.identities.prepare(policy.registries.values());
  }
  const keys = ctx.keys.current();
  if (keys !== undefined) ctx.metrics.keysLoadedAt.set(keys.loadedAt.getTime() / 1000);
  ctx.policy.onChange((state) => {
    ctx.metrics.snapshotLoaded(state.generation, state.loadedAt);
    ctx.verifier.prepare(state.registries.values());
    ctx.identities.prepare(state.registries.values());
    ctx.logger.info({ generation: state.generation, registries: [...state.registries.keys()] }, 'policy snapshot loaded');
  });
  ctx.keys.onChange((state) => {
    ctx.metrics.keysLoadedAt.set(state.loadedAt.getTime() / 1000);
    ctx.logger.info({ kids: state.set.keys.map((k) => k.kid) }, 'signing keys loaded');
  });
  ctx.policy.onRejected((reason) => {
    ctx.metrics.reloadsRejected.inc({ source: 'policy' });
    ctx.logger.error({ reason }, 'new policy refused; keeping the previous one');
  });
  ctx.keys.onRejected((reason) => {
    ctx.metrics.reloadsRejected.inc({ source: 'keys' });
    ctx.logger.error({ reason }, 'new signing keys refused; keeping the previous ones');
  });
}
