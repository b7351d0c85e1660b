import { describe, expect, it } from 'vitest';
import { captureLogger } from '../test/support/token-server-fixtures.js';
import type { AppContext } from './context.js';
import { TokenServerError } from './errors.js';
import { DEFAULT_LOGIN_TURNS, inClientTurn } from './login-turns.js';
import { TokenServerMetrics } from './metrics.js';
import type { LoadedRegistry } from './sources/types.js';
import { VerificationBusy, VerificationQueue } from './verification-queue.js';

interface Setup {
  /** Accounts known at every address (limits.ts: logged in from there recently). */
  known?: string[];
  /** What the bcrypt and remote-check queues would say of a new check. */
  bcryptRefusal?: VerificationBusy;
  remoteRefusal?: VerificationBusy;
  /** Repeat keys refused moments ago (repeated-failures.ts). */
  refused?: string[];
}

// inClientTurn reads the turns queue, the known clients, the two queues' refusals, the metrics and the
// audit logger of the context, and the registry's authentication and service: a context and registry
// with those alone (cast: the rest is never read).
function context(setup: Setup = {}): { ctx: AppContext; metrics: TokenServerMetrics; audit: ReturnType<typeof captureLogger> } {
  const metrics = new TokenServerMetrics(() => new Date());
  const audit = captureLogger();
  const ctx = {
    loginTurns: new VerificationQueue(DEFAULT_LOGIN_TURNS),
    now: () => new Date(),
    throttle: { isKnownClient: (account: string) => (setup.known ?? []).some((name) => account.endsWith(`\u0000${name}`)) },
    verifier: { queueRefusal: () => setup.bcryptRefusal, padFailure: () => Promise.resolve() },
    remoteChecks: { refusal: () => setup.remoteRefusal },
    recentFailures: { isRepeat: (key: string) => (setup.refused ?? []).includes(key) },
    identities: { directoryDown: () => false, expectedDirectoryMs: () => 0 },
    metrics,
    audit: audit.logger,
  } as unknown as AppContext;
  return { ctx, metrics, audit };
}

async function refusals(metrics: TokenServerMetrics): Promise<{ labels: object; value: number }[]> {
  return (await metrics.registry.getSingleMetric('portcullis_password_checks_refused_total')?.get())?.values ?? [];
}

function registry(withDirectory: boolean): LoadedRegistry {
  const authentication = withDirectory ? { ldap: {}, oidc: [] } : undefined;
  return { policy: { service: 'registry.turns.test', authentication } } as unknown as LoadedRegistry;
}

/** A login that waits until released, counting how many run at once. */
function gate(): { login: () => Promise<string>; release: () => void; running: () => number } {
  let running = 0;
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return {
    login: async () => {
      running++;
      await opened;
      running--;
      return 'granted';
    },
    release: () => open(),
    running: () => running,
  };
}

const caller = (ip: string) => ({ ip });

describe('inClientTurn', () => {
  it('on a Registry with a directory, runs one login of a client at a time and refuses the ninth with a 429 before it runs', async () => {
    const { ctx, metrics, audit } = context();
    const held = gate();
    const first = Array.from({ length: 8 }, () => inClientTurn(ctx, caller('10.0.0.1'), registry(true), 'erik', 'key-erik', held.login));
    await Promise.resolve();
    expect(held.running()).toBe(1);

    let ninthRan = false;
    const ninth = await inClientTurn(ctx, caller('10.0.0.1'), registry(true), 'erik', 'key-erik', () => {
      ninthRan = true;
      return Promise.resolve('granted');
    }).catch((error: unknown) => error);
    expect(ninthRan).toBe(false);
    expect(ninth).toBeInstanceOf(TokenServerError);
    expect((ninth as TokenServerError).code).toBe('TOO_MANY_REQUESTS');
    expect(await refusals(metrics)).toContainEqual(expect.objectContaining({ labels: { reason: 'turn' }, value: 1 }));
    expect(audit.lines).toContainEqual(expect.objectContaining({ audit: 'refused', client: '10.0.0.1', user: 'erik' }));

    // Another client has a turn of its own.
    const other = gate();
    const elsewhere = inClientTurn(ctx, caller('10.0.0.2'), registry(true), 'erik', 'key-erik', other.login);
    await Promise.resolve();
    expect(other.running()).toBe(1);
    other.release();
    await expect(elsewhere).resolves.toBe('granted');

    held.release();
    await expect(Promise.all(first)).resolves.toEqual(Array<string>(8).fill('granted'));
  });

  it('on a Registry without a directory, every name takes the same path already: no turns', async () => {
    const { ctx } = context();
    const held = gate();
    const logins = Array.from({ length: 10 }, () => inClientTurn(ctx, caller('10.0.0.1'), registry(false), 'erik', 'key-erik', held.login));
    await Promise.resolve();
    expect(held.running()).toBe(10);
    held.release();
    await expect(Promise.all(logins)).resolves.toHaveLength(10);
  });

  it("passes the login's own errors on unchanged, a queue's VerificationBusy from inside it too", async () => {
    const { ctx, metrics } = context();
    const inner = new VerificationBusy('server');
    await expect(inClientTurn(ctx, caller('10.0.0.1'), registry(true), 'erik', 'key-erik', () => Promise.reject(inner))).rejects.toBe(inner);
    const refused = new TokenServerError('BAD_CREDENTIALS');
    await expect(inClientTurn(ctx, caller('10.0.0.1'), registry(true), 'erik', 'key-erik', () => Promise.reject(refused))).rejects.toBe(refused);
    expect(await refusals(metrics)).toEqual([]);
  });

  it('answers a replay found when the turn starts as a replay, without running the login, for any name', async () => {
    for (const name of ['ops', 'erik', 'nobody']) {
      const { ctx, audit } = context({ refused: [`key-${name}`] });
      let ran = false;
      const answer = await inClientTurn(ctx, caller('10.0.0.1'), registry(true), name, `key-${name}`, () => {
        ran = true;
        return Promise.resolve('granted');
      }).catch((error: unknown) => error);
      expect(ran, name).toBe(false);
      expect((answer as TokenServerError).code, name).toBe('BAD_CREDENTIALS');
      expect(audit.lines).toContainEqual(expect.objectContaining({ audit: 'refused', user: name, reason: 'the same wrong password again (counted once)' }));
    }
  });

  it('gives an account known at the address a turn of its own there, so others failing at that address do not hold it', async () => {
    const { ctx } = context({ known: ['erik'] });
    const attacker = gate();
    const held = Array.from({ length: 8 }, () => inClientTurn(ctx, caller('10.0.0.1'), registry(true), 'nobody', 'key-nobody', attacker.login));
    const erik = gate();
    const known = inClientTurn(ctx, caller('10.0.0.1'), registry(true), 'erik', 'key-erik', erik.login);
    await Promise.resolve();
    expect(erik.running()).toBe(1);
    erik.release();
    await expect(known).resolves.toBe('granted');
    attacker.release();
    await Promise.all(held);
  });

  it.each([
    ['the bcrypt queue', { bcryptRefusal: new VerificationBusy('client') }],
    ['the remote-check queue', { remoteRefusal: new VerificationBusy('server') }],
  ])('answers 429 for every name, before the login runs, when %s has no room for the client', async (_queue, setup) => {
    for (const name of ['ops', 'erik', 'nobody']) {
      const { ctx, metrics, audit } = context(setup);
      let ran = false;
      const answer = await inClientTurn(ctx, caller('10.0.0.1'), registry(true), name, `key-${name}`, () => {
        ran = true;
        return Promise.resolve('granted');
      }).catch((error: unknown) => error);
      expect(ran, name).toBe(false);
      expect((answer as TokenServerError).code, name).toBe('TOO_MANY_REQUESTS');
      expect(await refusals(metrics)).toContainEqual(expect.objectContaining({ labels: { reason: 'queue' }, value: 1 }));
      expect(audit.lines).toContainEqual(expect.objectContaining({ audit: 'refused', user: name }));
    }
  });
});
