// On a Registry with a directory, a client's uncached password logins take turns: one at a time, each
// holding the turn until it is answered, failure time included.
//
// Padding alone (credentials.ts, padFailure) makes one failure look like any other, but not several at
// once: the name decides the queues a check waits in. A RegistryUser's bcrypt runs one per client at a
// time, a directory bind two, so a client sending eight wrong passwords at once saw a RegistryUser's
// answers come one bcrypt apart and a directory name's two by two, and could tell which names the
// Registry holds. Taking turns, each failure holds the client's turn for the registry's failure time
// whatever its checks were, so the k-th of a burst is answered k failure times after the burst began,
// for any name.
//
// What does not take a turn, so that it cannot be used to hold one:
// - a login still cached: another sender's failures at the same address never slow a client already
//   logged in;
// - the same refused credentials again (repeated-failures.ts): answered without a check, padded from its
//   own start, for any name alike; holding a turn, a few remembered failures replayed would have kept an
//   address's places full without spending its budget.
// An account that logged in from this address recently (a known client, limits.ts) takes a turn of its
// own there, so others' failures at a shared address do not queue ahead of it, as they do not spend its
// budget.
//
// When a turn starts, the checks behind it must have room in both queues (bcrypt and the directory's),
// whichever the name needs: a client that filled one of them (logins to a Registry without a directory,
// ServiceAccount reviews) would otherwise get a quick 429 for the names that use it and a 401 for the
// others. Either is full: a 429 for every name, before anything is counted or checked.
//
// A Registry without a directory needs no turns: every name there takes the same path (bcrypt, against a
// dummy hash for a name nobody holds). Token logins (OIDC, ServiceAccounts) are routed by the token, not
// by the name, so they never take turns either.

import { performance } from 'node:perf_hooks';
import { clientKey, type ClientKey } from './client-key.js';
import type { AppContext } from './context.js';
import { accountKey, auditRefusal, repeatRefused, throttled, type Caller } from './login-steps.js';
import type { LoadedRegistry } from './sources/types.js';
import { VerificationBusy, type VerificationQueueOptions } from './verification-queue.js';

/**
 * One turn per client; a client holds at most eight places (the ninth is a quick 429, as the bcrypt
 * queue's is). A turn mostly waits on a timer, so many clients' turns may run at once: the checks inside
 * still go through the bcrypt and remote-check queues, which bound the work.
 */
export const DEFAULT_LOGIN_TURNS: VerificationQueueOptions = { concurrency: 4096, maxQueued: 8192, perClient: 8, runningPerClient: 1 };

/**
 * Runs `login` (an uncached check of `account`'s password, answering a failure no sooner than the
 * registry's failure time from its own start) in the client's turn; a replay of a refusal is answered
 * without it, on any Registry. `repeatKey` is what a refusal of
 * these credentials is remembered under (repeated-failures.ts): identical attempts sent together all
 * wait for turns, and once the first is refused the others are its replays, answered as such for every
 * kind of name (counted, they would spend a RegistryUser's budget and not a directory name's), at once,
 * since their wait has already passed a failure time.
 */
export function inClientTurn<T>(
  ctx: AppContext,
  request: Caller,
  registry: LoadedRegistry,
  account: string,
  repeatKey: string,
  login: () => Promise<T>,
): Promise<T> {
  const arrivedAt = performance.now();
  const client = clientKey(request.ip);
  // A replay takes no turn (above): answered before one, and again when a turn starts (sent together).
  if (ctx.recentFailures.isRepeat(repeatKey, client, registry, ctx.now())) return repeatRefused(ctx, request, registry, account, arrivedAt);
  if (registry.policy.authentication?.ldap === undefined) return login();
  const refuse = (reason: 'turn' | 'queue', busy: VerificationBusy): never => {
    ctx.metrics.passwordChecksRefused.inc({ reason });
    auditRefusal(ctx, request, registry, account, `not checked: ${busy.message}`);
    throw throttled(1);
  };
  let started = false;
  return ctx.loginTurns
    .run(turnOf(ctx, registry, client, account), () => {
      started = true;
      if (ctx.recentFailures.isRepeat(repeatKey, client, registry, ctx.now())) return repeatRefused(ctx, request, registry, account, arrivedAt);
      const busy = ctx.verifier.queueRefusal(client) ?? ctx.remoteChecks.refusal(client);
      if (busy !== undefined) refuse('queue', busy);
      return login();
    })
    .catch((error: unknown) => {
      // Only a turn refused before the login ran is the turn's own 429; the login's errors pass as they are.
      if (started || !(error instanceof VerificationBusy)) throw error;
      return refuse('turn', error);
    });
}

function turnOf(ctx: AppContext, registry: LoadedRegistry, client: ClientKey, account: string): ClientKey {
  if (!ctx.throttle.isKnownClient(accountKey(registry, account), client, ctx.now())) return client;
  // A key of the same queue, apart from the address's own; the NUL cannot occur in a client key.
  return `${client}\u0000${account}` as ClientKey;
}
