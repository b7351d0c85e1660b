// On a Registry with a directory, a client's uncached password logins take turns: one at a time, each
// holding the turn until it is answered, failure time included.
//
// Padding alone (credentials.ts, padFailure) makes one failure look like any other, but not several at
// once: the name decides the queues a check waits in. A RegistryUser's bcrypt runs one per client at a
// time, a directory bind two, so a client sending eight wrong passwords at once saw a RegistryUser's
// answers come one bcrypt apart and a directory name's two by two, and could tell which names the
// Registry holds. Taking turns, each failure holds the client's turn for the registry's failure time
// whatever its checks were, so the k-th of a burst is answered k failure times after the burst began,
// for any name. A success leaves at once, and a login still cached never waits for a turn: another
// sender's failures at the same address cannot slow a client that is already logged in.
//
// A Registry without a directory needs no turns: every name there takes the same path (bcrypt, against a
// dummy hash for a name nobody holds). Token logins (OIDC, ServiceAccounts) are routed by the token, not
// by the name, so they never take turns either.

import { clientKey } from './client-key.js';
import type { AppContext } from './context.js';
import { auditRefusal, throttled, type Caller } from './login-steps.js';
import type { LoadedRegistry } from './sources/types.js';
import { VerificationBusy, type VerificationQueueOptions } from './verification-queue.js';

/**
 * One turn per client; a client holds at most eight places (the ninth is a quick 429, as the bcrypt
 * queue's is). A turn mostly waits on a timer, so many clients' turns may run at once: the checks inside
 * still go through the bcrypt and remote-check queues, which bound the work.
 */
export const DEFAULT_LOGIN_TURNS: VerificationQueueOptions = { concurrency: 1024, maxQueued: 1024, perClient: 8, runningPerClient: 1 };

/** Runs `login` (an uncached check, answering a failure no sooner than the registry's failure time) in the client's turn. */
export function inClientTurn<T>(ctx: AppContext, request: Caller, registry: LoadedRegistry, user: string | undefined, login: () => Promise<T>): Promise<T> {
  if (registry.policy.authentication?.ldap === undefined) return login();
  let started = false;
  return ctx.loginTurns
    .run(clientKey(request.ip), () => {
      started = true;
      return login();
    })
    .catch((error: unknown) => {
      // Only a turn refused before the login ran is this queue's 429; the login's own errors pass as they are.
      if (started || !(error instanceof VerificationBusy)) throw error;
      ctx.metrics.passwordChecksRefused.inc({ reason: 'queue' });
      auditRefusal(ctx, request, registry, user, `not checked: ${error.message}`);
      throw throttled(1);
    });
}
