// The docker CLI on the host against the chart on the node, through the registry's NodePort: a private
// Docker engine (test/harness/docker.ts) told to speak plain HTTP to the node's address, as a user's engine
// is for a registry without TLS. docker logs in with a password, keeps the refresh token the token server
// hands out instead of the password, and pushes and pulls with it; what the grants do not give is refused
// by the registry.
import { mkdtemp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../../local/image.js';
import type { ClientResult } from '../../harness/clients.js';
import { startDocker, type RunningDocker } from '../../harness/docker.js';
import type { PortcullisContext } from './context.js';

const text = (r: ClientResult): string => `${r.stdout}\n${r.stderr}`;

export function dockerClientSuite(ctx: () => PortcullisContext): void {
  describe('docker on the host, through the NodePort', () => {
    let engine: RunningDocker | undefined;
    const started = (): RunningDocker => {
      if (!engine) throw new Error('the Docker engine did not start (see beforeAll)');
      return engine;
    };
    const config = (who: string) => mkdtemp(join(ctx().work, `docker-${who}-`));
    const login = async (dir: string, user: string, password: string) =>
      started().docker(['login', ctx().p.registryHost, '-u', user, '--password-stdin'], dir, password);

    beforeAll(async () => {
      engine = await startDocker({ insecureRegistries: [ctx().p.registryHost] });
    }, 120_000);
    afterAll(async () => {
      await engine?.stop();
    });

    it('alice logs in, keeps a refresh token instead of her password, pushes to team/ and pulls back the same image', async () => {
      const { p, work } = ctx();
      const alice = (await p.ctx('alice')).auth!;
      const dir = await config('alice');
      const loggedIn = await login(dir, alice.username, alice.password);
      expect(loggedIn.code, text(loggedIn)).toBe(0);
      const stored = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { auths: Record<string, { identitytoken?: string }> };
      expect(stored.auths[p.registryHost]?.identitytoken).toBeTruthy();
      expect(JSON.stringify(stored)).not.toContain(Buffer.from(`alice:${alice.password}`).toString('base64'));

      const ref = `${p.registryHost}/team/docker-client:1`;
      await started().load((await buildImage(join(work, 'docker-alice'))).layoutDir, ref);
      const pushed = await started().docker(['push', ref], dir);
      expect(pushed.code, text(pushed)).toBe(0);
      const id = (await started().docker(['image', 'inspect', '--format', '{{.Id}}', ref], dir)).stdout.trim();
      expect((await started().docker(['rmi', ref], dir)).code).toBe(0);
      const pulled = await started().docker(['pull', ref], dir);
      expect(pulled.code, text(pulled)).toBe(0);
      expect((await started().docker(['image', 'inspect', '--format', '{{.Id}}', ref], dir)).stdout.trim()).toBe(id);
    });

    it('attack: bob, who may only pull team/**, pulls alice’s image but is refused a push by the registry', async () => {
      const { p, work } = ctx();
      const bob = (await p.ctx('bob')).auth!;
      const dir = await config('bob');
      expect((await login(dir, bob.username, bob.password)).code).toBe(0);
      const pulled = await started().docker(['pull', `${p.registryHost}/team/docker-client:1`], dir);
      expect(pulled.code, text(pulled)).toBe(0);
      const ref = `${p.registryHost}/team/docker-bob:1`;
      await started().load((await buildImage(join(work, 'docker-bob'))).layoutDir, ref);
      const refused = await started().docker(['push', ref], dir);
      expect(refused.code).not.toBe(0);
      // docker's rendering of the registry's refusal of a token without `push`.
      expect(text(refused)).toMatch(/denied: requested access to the resource is denied/);
    });

    it('attack: a wrong password is refused at login, saying only that it was wrong', async () => {
      const { p } = ctx();
      const alice = (await p.ctx('alice')).auth!;
      const refused = await login(await config('wrong'), alice.username, `${alice.password}-wrong`);
      expect(refused.code).not.toBe(0);
      expect(text(refused)).toMatch(/unauthorized: authentication failed: invalid username or password/);
    });
  });
}
