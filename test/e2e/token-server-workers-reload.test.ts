// `token-server --workers 2` over a snapshot directory: a grant change must reach every worker, including
// the decisions each worker has cached (policy/decision-cache.ts). Every request goes over a fresh
// connection, which node:cluster's primary hands to the workers in turn. That both workers served is read
// from /metrics (summed over the workers): each worker runs one bcrypt comparison per password it has not
// verified yet, so two comparisons for one password mean both workers logged the user in.
import { request } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../local/process.js';
import { compileAnnPolicy } from '../harness/ann-policy.js';
import { portcullis, startTokenServer, type RunningTokenServer } from '../harness/portcullis.js';

const SERVICE = 'workers.test';
const REQUESTS = 40;
const SCOPES = ['repository:team/app:pull,push', 'repository:ship/x:pull'];

/** GET `path` over a connection of its own (no keep-alive agent), so the primary hands each to the next worker. */
function getOverFreshConnection(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { ...headers, connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

type Access = Record<string, string[]>;

/** `REQUESTS` tokens for ann over fresh connections, ten at a time: the access each one carries. */
async function tokens(port: number, password: string): Promise<Access[]> {
  const path = `/token?service=${SERVICE}&${SCOPES.map((s) => `scope=${encodeURIComponent(s)}`).join('&')}`;
  const authorization = `Basic ${Buffer.from(`ann:${password}`).toString('base64')}`;
  const all: Access[] = [];
  while (all.length < REQUESTS) {
    const batch = await Promise.all(Array.from({ length: 10 }, () => getOverFreshConnection(port, path, { authorization })));
    for (const { status, body } of batch) {
      expect(status, body).toBe(200);
      const claims = JSON.parse(Buffer.from((JSON.parse(body) as { token: string }).token.split('.')[1]!, 'base64url').toString()) as {
        access: { name: string; actions: string[] }[];
      };
      all.push(Object.fromEntries(claims.access.map((a) => [a.name, a.actions])));
    }
  }
  return all;
}

/** A sample of the workers' summed metrics, or 0 when absent. */
async function metric(port: number, line: RegExp): Promise<number> {
  const { status, body } = await getOverFreshConnection(port, '/metrics');
  expect(status).toBe(200);
  const m = body.split('\n').find((l) => line.test(l));
  return m === undefined ? 0 : Number(m.split(' ').pop());
}

const comparisons = (port: number) => metric(port, /^portcullis_password_comparisons_total\{/);
const generationOf = async (dir: string) => (JSON.parse(await readFile(join(dir, 'snapshot.json'), 'utf8')) as { generation: string }).generation;

let dir: string;
let server: RunningTokenServer | undefined;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-workers-reload-'));
  const compiled = await compileAnnPolicy(dir, SERVICE, { password: 'ann-pw-1', devsActions: ['pull', 'push'], shipGrant: false });
  expect(compiled.code, compiled.stderr).toBe(0);
  const keys = await portcullis(['keys', 'init', '--dir', join(dir, 'keys')]);
  expect(keys.code, keys.stderr).toBe(0);
});
afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('a snapshot reload with --workers 2', () => {
  it('reaches every worker: after a grant change no token of either worker carries a revoked action, and each carries the new grant', async () => {
    const snapshotDir = join(dir, 'snapshot');
    server = await startTokenServer(['--policy-dir', snapshotDir, '--keys-dir', join(dir, 'keys'), '--workers', '2']);
    const { port } = server;

    // Both workers decide (and cache) ann's scopes under the first snapshot.
    const before = await tokens(port, 'ann-pw-1');
    expect(
      before.every((a) => JSON.stringify(a) === JSON.stringify({ 'team/app': ['pull', 'push'] })),
      JSON.stringify(before),
    ).toBe(true);
    expect(await comparisons(port), 'both workers served ann').toBe(2);

    // push revoked, ship/* granted, and a new password, so each worker must verify ann once more.
    const recompiled = await compileAnnPolicy(dir, SERVICE, { password: 'ann-pw-2', devsActions: ['pull'], shipGrant: true });
    expect(recompiled.code, recompiled.stderr).toBe(0);
    const generation = await generationOf(snapshotDir);
    await waitFor(
      'both workers to serve the new snapshot',
      async () => (await metric(port, new RegExp(`^portcullis_snapshot_info\\{generation="${generation}"\\}`))) === 2,
      20_000,
      () => server?.process.output() ?? '',
    );

    const after = await tokens(port, 'ann-pw-2');
    // Attack: the revoked push is in no token, from no worker's cache.
    expect(
      after.filter((a) => a['team/app']?.includes('push')),
      'tokens still granting the revoked push',
    ).toEqual([]);
    expect(
      after.every((a) => JSON.stringify(a) === JSON.stringify({ 'team/app': ['pull'], 'ship/x': ['pull'] })),
      JSON.stringify(after),
    ).toBe(true);
    expect(await comparisons(port), 'both workers served ann after the change').toBe(4);
  });
});
