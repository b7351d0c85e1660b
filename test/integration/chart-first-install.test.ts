// A first install whose post-install Registry hook is built before the API server serves the Registry
// kind (on a busy API server discovery lags the CRDs' creation) fails; the README's recovery, the same
// command as `helm upgrade --install` once the CRDs are served, completes it. Reproduced deterministically
// by leaving the CRDs out of the release (crds.enabled=false) until the first attempt has failed. On that
// release, the NOTES the README's install command prints (they need a cluster to render).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { repoRoot } from '../../local/tools.js';
import { DISCOVERY_RACE, chartDir, helm, installChart, type K8sObject } from '../support/helm-chart.js';

const NS = 'portcullis-race';
/** README.md's `helm install` command, after the release and chart. */
const README_INSTALL = [
  '--set',
  'registryResource.service=registry.example.com',
  '--set',
  'ingress.enabled=true',
  '--set',
  'ingress.host=registry.example.com',
];
const CRDS = ['registries', 'registryusers', 'repositorygrants', 'registrywebhooks', 'retentionpolicies'];

describe('chart: a first install that lost the discovery race', () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
  }, 180_000);
  afterAll(async () => {
    await cp?.stop();
  });

  const registry = async () => {
    const r = await kubectl(cp, ['-n', NS, 'get', 'registry', 'main', '-o', 'json']);
    if (r.code !== 0) throw new Error(`kubectl get registry main: ${r.stderr}`);
    return JSON.parse(r.stdout) as K8sObject & { spec: { tokenTTL: string } };
  };

  it('fails with the error the README names, and helm upgrade --install then creates the Registry as a resource of the release', async () => {
    const args = ['portcullis', chartDir, '--namespace', NS, '--create-namespace', '--set', 'crds.enabled=false'];
    let firstError = '';
    let crdsApplied = false;
    const install = await installChart(
      async (a) => {
        const r = await helm(a, cp.kubeconfigPath);
        if (a[0] === 'install') firstError = r.stderr;
        return r;
      },
      args,
      async () => {
        // The API server "catches up": the CRDs are served only after the first attempt failed.
        if (!crdsApplied) {
          for (const crd of CRDS) {
            const applied = await kubectl(cp, ['apply', '--server-side', '-f', join(repoRoot, 'crds', `${crd}.yaml`)]);
            if (applied.code !== 0) throw new Error(`apply crds/${crd}.yaml: ${applied.stderr}`);
          }
          crdsApplied = true;
        }
        return (await kubectl(cp, ['get', 'registries', '-A', '-o', 'name'])).code === 0;
      },
    );
    expect(firstError).toMatch(DISCOVERY_RACE);
    expect(firstError).not.toContain('-----BEGIN');
    expect(install.recovered).toBe(true);
    expect(install.code, install.stderr).toBe(0);

    const made = await registry();
    expect(made.metadata.annotations?.['helm.sh/hook']).toBeUndefined();
    expect(made.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
    const status = await helm(['status', 'portcullis', '--namespace', NS, '-o', 'json'], cp.kubeconfigPath);
    expect((JSON.parse(status.stdout) as { info: { status: string } }).info.status).toBe('deployed');
    const manifest = await helm(['get', 'manifest', 'portcullis', '--namespace', NS], cp.kubeconfigPath);
    expect(manifest.stdout).toMatch(/\nkind: Registry\n/);

    // A resource of the release from now on: upgrades change it.
    const upgrade = await helm(['upgrade', ...args, '--set', 'registryResource.tokenTTL=20m'], cp.kubeconfigPath);
    expect(upgrade.code, upgrade.stderr).toBe(0);
    expect((await registry()).spec.tokenTTL).toBe('20m');
  });

  it('an upgrade that turns leader election off moves the operator to Recreate (the stored rollingUpdate removed)', async () => {
    const upgrade = await helm(
      [
        'upgrade',
        'portcullis',
        chartDir,
        '--namespace',
        NS,
        '--set',
        'crds.enabled=false',
        '--set',
        'operator.leaderElection.enabled=false',
        '--set',
        'operator.replicas=1',
      ],
      cp.kubeconfigPath,
    );
    expect(upgrade.code, upgrade.stderr).toBe(0);
    const deployment = await kubectl(cp, ['-n', NS, 'get', 'deployment', 'portcullis-operator', '-o', 'jsonpath={.spec.strategy}']);
    expect(JSON.parse(deployment.stdout)).toEqual({ type: 'Recreate' });
  });

  it("the README's install command: NOTES give an https realm and warn that nothing limits who may write X-Forwarded-For", async () => {
    const notes = async (extra: string[]) => {
      const r = await helm(
        // The release installed above (cluster-wide objects are owned by it): an upgrade prints NOTES as an install does.
        ['upgrade', 'portcullis', chartDir, '--namespace', NS, '--dry-run=server', '--set', 'crds.enabled=false', ...README_INSTALL, ...extra],
        cp.kubeconfigPath,
      );
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.slice(r.stdout.indexOf('NOTES:'));
    };
    const readme = await notes([]);
    expect(readme).toContain('Token endpoint (realm): https://registry.example.com/token');
    expect(readme).toMatch(/WARNING: the token server takes each client's address from X-Forwarded-For/);
    expect(readme).not.toMatch(/unencrypted/);
    const fenced = await notes(['--set', 'networkPolicy.enabled=true', '--set-json', 'networkPolicy.proxyFrom=[{"podSelector":{}}]']);
    expect(fenced).not.toMatch(/X-Forwarded-For/);
    expect(await notes(['--set', 'ingress.scheme=http'])).toMatch(/WARNING: ingress.scheme=http: clients send their passwords to this endpoint unencrypted/);
    // The kubelet configuration they print for ServiceAccount logins: per token, for the registry's host only.
    const kubelet = await notes(['--set', 'tokenServer.serviceAccountLogins=true']);
    expect(kubelet).toContain('cacheType: Token');
    expect(kubelet).toMatch(/matchImages: \["(\S+)"\][\s\S]*args: \[--registry, "\1"\]/);
  });
});
