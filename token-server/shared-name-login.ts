// A login name held by a RegistryUser from a delegated namespace, on a Registry that also logs people in
// from a directory. Routed to the RegistryUser alone, the tenant could lock any directory user out by
// creating a RegistryUser with her name; routed to the directory alone, the tenant's user could not log
// in. So both are asked, in this order, as one attempt:
// - the RegistryUser's hash first (bcrypt, local): a match is that RegistryUser, confined to its
//   namespace's prefixes, as before. The tenant's password never reaches the directory, so the tenant's
//   own logins are never failed binds against the directory user (a directory's lockout policy counts those);
// - any other outcome (wrong password, disabled, no usable hash) goes on to the directory: a success there
//   is the directory user, with the directory's groups and nothing of the RegistryUser's.
// The attempt is counted once, before the first check, against the name's budget, and it stays counted
// whenever the hash rejected the password, even when the directory could not then answer (down): a 503
// after that still tells the sender the password was not the tenant's, so it must cost a place as any
// other guess does. The directory's queue place is taken before either check, so the directory is never
// turned away after the hash has answered. A refusal is the 401 and the wait of any wrong password; while
// the directory is down, the 503 every failed password login of the Registry gets. Only a directory
// success makes the name a known client at that address (exempt from the address budget): the tenant's
// own logins, under the same name, must not exempt guesses at the directory user's password.
// The two caches cannot stand in for each other: the password cache answers only for a password the
// RegistryUser's hash accepted, the identity cache only for one the directory accepted while that same hash
// rejected it (IdentitySources.lookup binds the entry to the hash), so a cached login always gets the
// identity an uncached one would.

import { performance } from 'node:perf_hooks';
import type { UserEntry } from '../policy/types.js';
import type { BasicCredentials } from './basic-auth.js';
import { clientKey } from './client-key.js';
import type { AppContext } from './context.js';
import type { IdentityCheck } from './identity/types.js';
import { countedCheck, identityGrant, passwordRefused, refused, sourceUnavailable, userGrant, type Caller, type Grant } from './login-steps.js';
import { inClientTurn } from './login-turns.js';
import type { LoadedRegistry } from './sources/types.js';

type BothChecked = { by: 'password'; user: UserEntry; revision: string } | { by: 'directory'; passwordReason: string; check: IdentityCheck };

/** A grant, at once when either cache answers, or a promise of one. */
export function sharedNameLogin(
  ctx: AppContext,
  request: Caller,
  registry: LoadedRegistry,
  credentials: BasicCredentials,
  grantType: 'basic' | 'password',
): Grant | Promise<Grant> {
  const { username, password } = credentials;
  const local = ctx.verifier.lookup(registry, username, password);
  if ('hit' in local) return userGrant(local.hit.user, local.hit.revision, grantType);
  const remote = ctx.identities.lookup(registry, 'ldap', username, password);
  if (!('miss' in remote)) {
    ctx.metrics.identityChecks.inc({ source: 'ldap', result: 'cached' });
    return identityGrant(remote, grantType);
  }
  // The directory's key stands for the whole attempt: it also covers the RegistryUser's hash.
  return inClientTurn(ctx, request, registry, username, remote.miss, () =>
    checkBoth(ctx, request, registry, credentials, grantType, { password: local.miss, directory: remote.miss }),
  );
}

async function checkBoth(
  ctx: AppContext,
  request: Caller,
  registry: LoadedRegistry,
  credentials: BasicCredentials,
  grantType: 'basic' | 'password',
  keys: { password: string; directory: string },
): Promise<Grant> {
  const startedAt = performance.now();
  const { username, password } = credentials;
  const client = clientKey(request.ip);
  // The directory's place is taken first, in the same step as the turn's check for room (login-turns.ts):
  // asked for after bcrypt, it could be gone by then (taken by the client's own ServiceAccount reviews),
  // and a quick 429 after the hash rejected the password would be a tenant-held name's alone, as well as
  // a free answer about the tenant's password.
  const { result, attempt } = await countedCheck<BothChecked>(ctx, request, client, registry, username, username, () =>
    ctx.remoteChecks.run(client, async (): Promise<BothChecked> => {
      const local = await ctx.verifier.check(registry, username, password, keys.password, client);
      if (local.ok) return { by: 'password', user: local.user, revision: local.revision };
      try {
        const check = await ctx.identities.verify(registry, username, password, { kind: 'ldap' }, keys.directory);
        return { by: 'directory', passwordReason: local.reason, check };
      } catch (error) {
        return { by: 'directory', passwordReason: local.reason, check: { unavailable: `the directory check failed: ${(error as Error).message}` } };
      }
    }),
  );

  if (result.by === 'password') {
    // Not succeeded(): the attempt is counted under the name, which the directory user shares, and a
    // known client's guesses skip the address budget; the tenant logging in must not make them so.
    attempt.succeededAsAnother();
    return userGrant(result.user, result.revision, grantType);
  }
  const check = result.check;
  if ('unavailable' in check) {
    attempt.failed();
    ctx.metrics.identityChecks.inc({ source: 'ldap', result: 'unavailable' });
    await refused(ctx, request, registry, username, `${result.passwordReason}; ldap unavailable: ${check.unavailable}`, startedAt);
    throw sourceUnavailable();
  }
  if (check.ok) {
    attempt.succeeded();
    ctx.metrics.identityChecks.inc({ source: 'ldap', result: 'ok' });
    return identityGrant(check.identity, grantType);
  }
  attempt.failed();
  ctx.recentFailures.remember(keys.directory, client, registry, ctx.now());
  ctx.metrics.identityChecks.inc({ source: 'ldap', result: 'refused' });
  throw await passwordRefused(ctx, request, registry, username, `${result.passwordReason}; ldap: ${check.reason}`, startedAt);
}
