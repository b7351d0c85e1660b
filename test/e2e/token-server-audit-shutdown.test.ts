// Audit lines are written in batches (token-server/log-lines.ts): a SIGTERM right after a burst of tokens
// must still leave one audit line per token in the log, and every token its own jti.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileAnnPolicy } from '../harness/ann-policy.js';
import { portcullis, startTokenServer, type RunningTokenServer } from '../harness/portcullis.js';

const SERVICE = 'audit.test';
const TOKENS = 200;

let dir: string;
const servers: RunningTokenServer[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-audit-shutdown-'));
  const compiled = await compileAnnPolicy(dir, SERVICE, { password: 'ann-pw-1', devsActions: ['pull', 'push'], shipGrant: false });
  expect(compiled.code, compiled.stderr).toBe(0);
  const keys = await portcullis(['keys', 'init', '--dir', join(dir, 'keys')]);
  expect(keys.code, keys.stderr).toBe(0);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await rm(dir, { recursive: true, force: true });
});

const jtiOf = (token: string): string => (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;

describe('audit lines on shutdown', () => {
  it.each([[1], [2]])(`--workers %i: SIGTERM right after ${TOKENS} tokens leaves one audit line per token, each token with its own jti`, async (workers) => {
    const server = await startTokenServer(['--policy-dir', join(dir, 'snapshot'), '--keys-dir', join(dir, 'keys'), '--workers', String(workers)]);
    servers.push(server);
    const url = `${server.url}/token?service=${SERVICE}&scope=${encodeURIComponent('repository:team/app:pull,push')}`;
    const authorization = `Basic ${Buffer.from('ann:ann-pw-1').toString('base64')}`;
    const jtis: string[] = [];
    // One login first: the bcrypt check runs once per worker, later ones hit the credential cache.
    for (let i = 0; i < workers * 2; i++) {
      const first = await fetch(url, { headers: { authorization } });
      expect(first.status).toBe(200);
      jtis.push(jtiOf(((await first.json()) as { token: string }).token));
    }
    while (jtis.length < TOKENS) {
      const responses = await Promise.all(Array.from({ length: Math.min(20, TOKENS - jtis.length) }, () => fetch(url, { headers: { authorization } })));
      for (const response of responses) {
        expect(response.status).toBe(200);
        jtis.push(jtiOf(((await response.json()) as { token: string }).token));
      }
    }
    server.process.child.kill('SIGTERM');
    expect(await server.process.exited, server.process.output().slice(-4000)).toBe(0);

    const issued = server.process
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { audit?: string; user?: string; granted?: string[]; worker?: number })
      .filter((line) => line.audit === 'token');
    expect(issued).toHaveLength(TOKENS);
    // Under --workers N every line says which worker wrote it (the primary round-robins connections).
    const writers = new Set(issued.map((line) => line.worker));
    expect([...writers].sort()).toEqual(workers === 1 ? [undefined] : Array.from({ length: workers }, (_, i) => i + 1));
    expect(issued.every((line) => line.user === 'ann' && line.granted?.join(' ') === 'repository:team/app:pull,push')).toBe(true);
    expect(new Set(jtis).size).toBe(TOKENS);
  });
});
