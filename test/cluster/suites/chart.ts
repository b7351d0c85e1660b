// The chart for real, on the shared node and install (context.ts; the values of the shared scenario,
// hack/e2e-scenario/, which hack/kind-e2e.sh runs on kind): every pod Running and Ready under the chart's
// own ServiceAccounts, security contexts and probes; crane and skopeo on the host log in, push and pull
// through the NodePorts as the scenario's steps say, and what the grants do not give is refused by the
// registry itself, by its own codes.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildImage } from '../../../local/image.js';
import { waitFor } from '../../../local/process.js';
import { craneClient, registryRefusal, skopeoClient, skopeoLogin, type MatrixClient } from '../../harness/clients.js';
import { podsOf, type PodSummary } from '../../harness/cluster-pods.js';
import { NS, RELEASE, scenarioSteps } from '../../harness/cluster-portcullis.js';
import type { PortcullisContext } from './context.js';

export function chartSuite(ctx: () => PortcullisContext): void {
  const json = async <T>(args: string[]): Promise<T> => {
    const r = await ctx().p.kubectl([...args, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as T;
  };

  describe('the chart on a real node', () => {
    it('runs 2 operators, 2 token servers and 2 registries, Ready, each under its own ServiceAccount, non-root, read-only, probed', async () => {
      const { p } = ctx();
      const expected: [component: 'operator' | 'token-server' | 'registry', serviceAccount: string, probes: boolean][] = [
        ['operator', `${RELEASE}-operator`, true],
        ['token-server', `${RELEASE}-token-server`, true],
        // The registry never talks to the API (no token mounted): the namespace's default account.
        ['registry', 'default', true],
      ];
      for (const [component, serviceAccount] of expected) {
        const pods: PodSummary[] = (await podsOf(p.kubectl, component)).filter((pod) => !pod.deleting);
        expect(
          pods.map((pod) => [pod.phase, pod.ready]),
          component,
        ).toEqual([
          ['Running', true],
          ['Running', true],
        ]);
        for (const pod of pods) {
          expect(pod.serviceAccountName, component).toBe(serviceAccount);
          expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
          const container = pod.spec.containers[0]!;
          expect(container.imagePullPolicy).toBe('Never');
          expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
          expect(container.readinessProbe, component).toBeDefined();
          expect(container.livenessProbe, component).toBeDefined();
        }
      }
      // Both PodDisruptionBudgets see their two healthy pods and allow one disruption.
      for (const name of [`${RELEASE}-token-server`, `${RELEASE}-registry`]) {
        await waitFor(
          `PDB ${name} counting its pods`,
          async () => {
            const pdb = await json<{ status?: { currentHealthy?: number; disruptionsAllowed?: number } }>(['-n', NS, 'get', 'pdb', name]);
            return pdb.status?.currentHealthy === 2 && pdb.status.disruptionsAllowed === 1;
          },
          60_000,
        );
      }
      // One operator holds the Lease; the other waits.
      const lease = await json<{ spec: { holderIdentity?: string } }>(['-n', NS, 'get', 'lease', 'portcullis-operator']);
      const operators = (await podsOf(p.kubectl, 'operator')).map((pod) => pod.name);
      expect(operators.filter((name) => lease.spec.holderIdentity?.startsWith(`${name}-`))).toHaveLength(1);
    });

    it.each<MatrixClient>([craneClient, skopeoClient])(
      "the scenario's steps with $name from the host through the NodePort: granted works, the rest is refused",
      async (client) => {
        const { p, work } = ctx();
        const pushed = new Map<string, string>();
        for (const [i, step] of (await scenarioSteps()).entries()) {
          const ref = `${p.registryHost}/${step.reference}-${client.name}`;
          const login = await p.ctx(step.user);
          const what = `${client.name}: ${step.user} ${step.action} ${step.reference} (${step.expect})`;
          const r =
            step.action === 'push'
              ? // A new image for every push (steps.tsv): with its blobs already there, a refused push would fail
                // at the manifest PUT, where crane 0.22 retries with the body spent and hides the registry's code.
                await client.push((await buildImage(join(work, `image-${client.name}-${i}`))).layoutDir, ref, login)
              : await client.pull(ref, join(work, `pulled-${client.name}-${pushed.size}-${step.user}`), login);
          if (step.expect === 'refused') {
            // The registry's own refusal, not a connection error or a crash.
            expect(['DENIED', 'UNAUTHORIZED'], `${what}: ${r.stderr}`).toContain(registryRefusal(r));
            continue;
          }
          expect(r.code, `${what}: ${r.stderr}`).toBe(0);
          const digest = await client.digest(ref, login);
          expect(digest.code, digest.stderr).toBe(0);
          if (step.action === 'push') pushed.set(ref, digest.stdout.trim());
          else expect(digest.stdout.trim(), what).toBe(pushed.get(ref));
        }
        expect(pushed.size).toBeGreaterThan(0);
      },
      300_000,
    );

    it('a login asks the token server through the NodePort: the right password is accepted, a wrong one refused', async () => {
      const { p } = ctx();
      const alice = await p.ctx('alice');
      const ok = await skopeoLogin(p.registryHost, { auth: alice.auth! });
      expect(ok.code, ok.stderr).toBe(0);
      const wrong = await skopeoLogin(p.registryHost, { auth: { username: 'alice', password: `${alice.auth!.password}-wrong` } });
      expect(registryRefusal(wrong), wrong.stderr).toBe('UNAUTHORIZED');
    });

    it('attack: bob, who may only pull, asks the token server for push and gets a token without it', async () => {
      const { p } = ctx();
      const bob = (await p.ctx('bob')).auth!;
      const service = encodeURIComponent(p.registryHost);
      const res = await fetch(`${p.realm}?service=${service}&scope=repository:team/hello:pull,push`, {
        headers: { authorization: `Basic ${Buffer.from(`${bob.username}:${bob.password}`).toString('base64')}` },
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { token: string };
      const claims = JSON.parse(Buffer.from(body.token.split('.')[1]!, 'base64url').toString()) as { access: { name: string; actions: string[] }[] };
      expect(claims.access).toEqual([{ type: 'repository', name: 'team/hello', actions: ['pull'] }]);
    });
  });
}
