// What the chart does about the two ways its Ingress could expose logins: the realm clients send
// passwords to (https unless plain HTTP is chosen), and who may connect to a token server that takes the
// client's address from X-Forwarded-For (only the proxies, when NetworkPolicies are on: anyone else could
// write the header and spread guesses over addresses of their choosing). Plus the operator without
// leader election: one replica, told so. And a disruption budget that would block every node drain.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chartDir, helm, one, podSpec, render } from '../support/helm-chart.js';

const NS = 'portcullis-system';
const README = ['--set', 'registryResource.service=registry.example.com', '--set', 'ingress.enabled=true', '--set', 'ingress.host=registry.example.com'];
const INGRESS_NGINX = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }];
const CI = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ci' } } }];
const MONITORING = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];

const realmOf = async (extra: string[]) => {
  const objects = await render('portcullis', NS, [...README, '--set', 'registry.enabled=true', ...extra]);
  const realm = (one(objects, 'Registry', 'main').spec as { realm: string }).realm;
  const env = podSpec(one(objects, 'Deployment', 'portcullis-registry')).containers[0]!.env ?? [];
  return { realm, registryEnv: env.find((e) => e.name === 'REGISTRY_AUTH_TOKEN_REALM')?.value };
};

type Rule = { ports: unknown[]; from?: unknown[] };
const tokenServerRules = async (extra: string[]) =>
  (
    one(await render('portcullis', NS, ['--set', 'networkPolicy.enabled=true', ...extra]), 'NetworkPolicy', 'portcullis-token-server').spec as {
      ingress: Rule[];
    }
  ).ingress;

describe('the realm behind the chart’s Ingress', () => {
  it('is https for the README install command, which names no TLS Secret (TLS ends in front of the Ingress)', async () => {
    expect(await realmOf([])).toEqual({ realm: 'https://registry.example.com/token', registryEnv: 'https://registry.example.com/token' });
  });
  it('is http only when ingress.scheme says so', async () => {
    expect((await realmOf(['--set', 'ingress.scheme=http'])).realm).toBe('http://registry.example.com/token');
  });
  it('refuses another scheme, naming the field', async () => {
    const r = await helm(['template', 'p', chartDir, ...README, '--set', 'ingress.scheme=ftp']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/ingress\/scheme/);
  });
});

describe('who may connect to a token server that trusts X-Forwarded-For', () => {
  it('with the Ingress on, only networkPolicy.proxyFrom and the scrapers: clientsFrom reaches the registry alone', async () => {
    const extra = [
      ...README,
      '--set',
      'registry.enabled=true',
      '--set-json',
      `networkPolicy.proxyFrom=${JSON.stringify(INGRESS_NGINX)}`,
      '--set-json',
      `networkPolicy.clientsFrom=${JSON.stringify(CI)}`,
      '--set-json',
      `networkPolicy.metricsFrom=${JSON.stringify(MONITORING)}`,
    ];
    expect(await tokenServerRules(extra)).toEqual([{ ports: [{ port: 'http', protocol: 'TCP' }], from: [...INGRESS_NGINX, ...MONITORING] }]);
    const objects = await render('portcullis', NS, ['--set', 'networkPolicy.enabled=true', ...extra]);
    expect((one(objects, 'NetworkPolicy', 'portcullis-registry').spec as { ingress: Rule[] }).ingress[0]!.from).toEqual(CI);
  });
  it.each([
    ['the Ingress on', README],
    ['tokenServer.trustProxy set without an Ingress', ['--set', 'tokenServer.trustProxy=1']],
  ])('with %s and no proxyFrom, the render fails naming it', async (_case, extra) => {
    const r = await helm(['template', 'p', chartDir, '--set', 'networkPolicy.enabled=true', ...extra]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('networkPolicy.proxyFrom must name the ingress controller');
  });
  it('without trusting any proxy, clientsFrom reaches the token server as before', async () => {
    expect(await tokenServerRules(['--set-json', `networkPolicy.clientsFrom=${JSON.stringify(CI)}`])).toEqual([
      { ports: [{ port: 'http', protocol: 'TCP' }], from: CI },
    ]);
  });
});

describe('the operator without leader election', () => {
  it('runs one replica with --no-leader-elect (the command defaults to electing a leader)', async () => {
    const objects = await render('portcullis', NS, ['--set', 'operator.leaderElection.enabled=false', '--set', 'operator.replicas=1']);
    const args = podSpec(one(objects, 'Deployment', 'portcullis-operator')).containers[0]!.args ?? [];
    expect(args).toContain('--no-leader-elect');
    expect(args).not.toContain('--leader-elect');
    // Nor two during an update: the old one goes before the new one starts.
    expect((one(objects, 'Deployment', 'portcullis-operator').spec as { strategy?: unknown }).strategy).toEqual({ type: 'Recreate', rollingUpdate: null });
  });
  it('refuses two replicas, which would undo each other’s writes', async () => {
    const r = await helm(['template', 'p', chartDir, '--set', 'operator.leaderElection.enabled=false']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('set operator.replicas to 1');
  });
});

describe("the token server's disruption budget", () => {
  it('is rendered with two replicas and left out with one, where it would allow no eviction and hang every drain', async () => {
    expect(await render('portcullis', NS, [])).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'PodDisruptionBudget' })]));
    const pdbs = async (extra: string[]) => (await render('portcullis', NS, extra)).filter((o) => o.kind === 'PodDisruptionBudget');
    expect(await pdbs(['--set', 'tokenServer.replicas=1'])).toEqual([]);
    // Percentages as Kubernetes rounds them (up): 50% of one replica is one, of three is two.
    expect(await pdbs(['--set', 'tokenServer.replicas=1', '--set', 'tokenServer.podDisruptionBudget.minAvailable=50%'])).toEqual([]);
    expect(await pdbs(['--set', 'tokenServer.replicas=3', '--set', 'tokenServer.podDisruptionBudget.minAvailable=50%'])).toHaveLength(1);
    expect(await pdbs(['--set', 'tokenServer.replicas=3', '--set', 'tokenServer.podDisruptionBudget.minAvailable=100%'])).toEqual([]);
  });
});

describe('commonLabels', () => {
  it('may be empty (every entry commented out leaves null)', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'portcullis-values-')), 'values.yaml');
    writeFileSync(file, 'commonLabels:\n#  example.com/team: infra\n');
    try {
      expect(one(await render('portcullis', NS, ['-f', file]), 'Deployment', 'portcullis-operator').metadata.labels?.['app.kubernetes.io/part-of']).toBe(
        'portcullis',
      );
    } finally {
      rmSync(dirname(file), { recursive: true, force: true });
    }
  });

  it("cannot replace the chart's own keys: the operator still knows its Deployments as part of Portcullis", async () => {
    const objects = await render('portcullis', NS, ['--set-json', 'commonLabels={"app.kubernetes.io/part-of":"platform","example.com/team":"infra"}']);
    for (const name of ['portcullis-operator', 'portcullis-token-server']) {
      const labels = one(objects, 'Deployment', name).metadata.labels ?? {};
      expect(labels['app.kubernetes.io/part-of'], name).toBe('portcullis');
      expect(labels['example.com/team'], name).toBe('infra');
    }
  });
});
