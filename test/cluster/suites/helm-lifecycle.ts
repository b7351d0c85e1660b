// `helm upgrade` and `helm uninstall` of the shared install (context.ts), registered after every other
// suite that uses the install: the upgrade adopts the hook-made Registry and rolls the token server under
// load; the uninstall keeps the CRDs, the Registry, the users, the grants and the registry's volume
// claim, as the README says.
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../local/process.js';
import { podsOf } from '../../harness/cluster-pods.js';
import { CHART, NS, RELEASE } from '../../harness/cluster-portcullis.js';
import type { PortcullisContext } from './context.js';

export function helmLifecycleSuite(ctx: () => PortcullisContext): void {
  describe('helm upgrade and uninstall on a real node', () => {
    it('helm upgrade adopts the hook-made Registry, then applies changed values and rolls the token server while clients keep working', async () => {
      const { p, startLoad } = ctx();
      const first = await p.helm(['upgrade', RELEASE, CHART, '-n', NS, ...p.values]);
      expect(first.code, first.stderr).toBe(0);
      // The Registry the post-install hook made is now a resource of the release.
      const manifest = await p.helm(['get', 'manifest', RELEASE, '-n', NS]);
      expect(manifest.stdout).toMatch(/\nkind: Registry\n/);

      const before = (await podsOf(p.kubectl, 'token-server')).map((pod) => pod.name);
      const loop = await startLoad('upgrade', 1);
      try {
        const second = await p.helm([
          'upgrade',
          RELEASE,
          CHART,
          '-n',
          NS,
          ...p.values,
          '--set',
          'tokenServer.logLevel=debug',
          '--set',
          'registryResource.tokenTTL=90s',
        ]);
        expect(second.code, second.stderr).toBe(0);
        const rolled = await p.kubectl(['-n', NS, 'rollout', 'status', `deployment/${RELEASE}-token-server`, '--timeout=300s']);
        expect(rolled.code, rolled.stderr).toBe(0);
        const settled = loop.operations() + 3;
        await waitFor('clients after the roll', async () => loop.operations() >= settled, 120_000);
      } finally {
        await loop.stop();
      }
      const after = (await podsOf(p.kubectl, 'token-server')).filter((pod) => !pod.deleting).map((pod) => pod.name);
      expect(after.filter((name) => before.includes(name))).toEqual([]);
      const ttl = await p.kubectl(['-n', NS, 'get', 'registry', 'main', '-o', 'jsonpath={.spec.tokenTTL}']);
      expect(ttl.stdout, ttl.stderr).toBe('90s');
      process.stdout.write(`[measured] helm upgrade: ${loop.operations()} client operations, ${loop.retried().length} retried: ${loop.retried().join('; ')}\n`);
      expect(loop.failures()).toEqual([]);
    }, 600_000);

    it('helm uninstall removes the workloads and keeps the CRDs, the Registry, users, grants and the volume claim', async () => {
      const { p } = ctx();
      const r = await p.helm(['uninstall', RELEASE, '-n', NS, '--wait', '--timeout', '5m']);
      expect(r.code, r.stderr).toBe(0);
      await waitFor(
        'the workloads gone',
        async () => (await p.kubectl(['-n', NS, 'get', 'deployments,pods', '-l', `app.kubernetes.io/instance=${RELEASE}`, '-o', 'name'])).stdout.trim() === '',
        180_000,
      );
      for (const crd of ['registries', 'registryusers', 'repositorygrants', 'retentionpolicies']) {
        const got = await p.kubectl(['get', 'crd', `${crd}.portcullis.dev`, '-o', 'name']);
        expect(got.code, got.stderr).toBe(0);
      }
      const kept = await p.kubectl([
        '-n',
        NS,
        'get',
        'registry/main',
        'registryuser/alice',
        'registryuser/bob',
        'repositorygrant/alice-team',
        'repositorygrant/bob-team-read',
        'pvc/portcullis-registry',
        '-o',
        'name',
      ]);
      expect(kept.code, kept.stderr).toBe(0);
      expect(kept.stdout.trim().split('\n')).toHaveLength(6);
    }, 300_000);
  });
}
