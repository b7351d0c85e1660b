// The chart's activity server (activity.enabled, the default) with real helm and a real kube-apiserver:
// what the renders hold (one SQLite replica on a volume or PostgreSQL replicas, one Service for intake and
// the aggregated API, the operator wired to that intake with the same key Secret, an APIService whose
// caBundle issued the serving certificate, no key material outside its two Secrets), RBAC identical to
// deploy/activity/, and an install whose upgrades keep the key and the certificate (lookup), with the
// activity ServiceAccount allowed exactly what it needs.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { repoRoot } from '../../local/tools.js';
import { chartDir, find, helm, installChart, manifests, one, podSpec, render, rulesByRole, type K8sObject } from '../support/helm-chart.js';

const NS = 'portcullis-system';
const secretData = (o: K8sObject): Record<string, string> => o.data as Record<string, string>;
const decode = (b64: string): string => Buffer.from(b64, 'base64').toString('utf8');
const args = (deployment: K8sObject): string[] => podSpec(deployment).containers[0]!.args ?? [];
const argAfter = (list: string[], flag: string): string | undefined => (list.includes(flag) ? list[list.indexOf(flag) + 1] : undefined);

describe('chart: the activity server as rendered', () => {
  let defaults: K8sObject[] = [];
  beforeAll(async () => {
    defaults = await render('portcullis', NS);
  });

  it('runs one replica on SQLite in a PersistentVolumeClaim that outlives the release, replaced (not rolled) on upgrade', () => {
    const deployment = one(defaults, 'Deployment', 'portcullis-activity');
    const spec = deployment.spec as { replicas: number; strategy?: { type: string } };
    expect(spec.replicas).toBe(1);
    expect(spec.strategy).toEqual({ type: 'Recreate' });
    const pod = podSpec(deployment);
    expect(argAfter(args(deployment), '--database')).toBe('sqlite:/var/lib/portcullis/activity.db');
    const data = pod.containers[0]!.volumeMounts?.find((m) => m.mountPath === '/var/lib/portcullis');
    expect(pod.volumes?.find((v) => v.name === data?.name)?.persistentVolumeClaim).toEqual({ claimName: 'portcullis-activity' });
    expect(one(defaults, 'PersistentVolumeClaim', 'portcullis-activity').metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    expect(pod.serviceAccountName).toBe('portcullis-activity');
    expect(args(deployment)).toEqual([
      'activity',
      '--database',
      'sqlite:/var/lib/portcullis/activity.db',
      '--activity-key-file',
      '/etc/portcullis/activity-key/key',
      '--events-listen',
      '0.0.0.0:8080',
      '--listen',
      '0.0.0.0:8443',
      '--tls-cert',
      '/etc/portcullis/tls/tls.crt',
      '--tls-key',
      '/etc/portcullis/tls/tls.key',
      '--retain',
      '90d',
      '--webhook-lease',
      'portcullis-system/portcullis-activity-webhooks',
      '--log-level',
      'info',
    ]);
  });

  it('one Service carries the intake port and, on 443, the TLS port the APIService names', () => {
    const service = one(defaults, 'Service', 'portcullis-activity');
    expect((service.spec as { ports: unknown[] }).ports).toEqual([
      { name: 'events', port: 8080, targetPort: 'events', protocol: 'TCP' },
      { name: 'https', port: 443, targetPort: 'api', protocol: 'TCP' },
    ]);
    const ports = podSpec(one(defaults, 'Deployment', 'portcullis-activity')).containers[0]!.ports;
    expect(ports).toEqual([
      { name: 'events', containerPort: 8080, protocol: 'TCP' },
      { name: 'api', containerPort: 8443, protocol: 'TCP' },
    ]);
    const apiService = one(defaults, 'APIService', 'v1alpha1.activity.portcullis.dev');
    expect((apiService.spec as { service: unknown }).service).toEqual({ namespace: NS, name: 'portcullis-activity', port: 443 });
  });

  it("the operator's --activity-url is that Service's intake, and both pods mount the same key Secret", () => {
    const operator = one(defaults, 'Deployment', 'portcullis-operator');
    expect(argAfter(args(operator), '--activity-url')).toBe(`http://portcullis-activity.${NS}.svc:8080`);
    for (const deployment of [operator, one(defaults, 'Deployment', 'portcullis-activity')]) {
      const pod = podSpec(deployment);
      const keyFile = argAfter(args(deployment), '--activity-key-file')!;
      const mount = pod.containers[0]!.volumeMounts?.find((m) => keyFile.startsWith(`${m.mountPath}/`));
      expect(mount?.readOnly, deployment.metadata.name).toBe(true);
      const volume = pod.volumes?.find((v) => v.name === mount?.name);
      expect(volume?.secret, deployment.metadata.name).toEqual({ secretName: 'portcullis-activity-key', items: [{ key: 'key', path: 'key' }] });
      expect(keyFile.slice(mount!.mountPath.length + 1)).toBe('key');
    }
    expect(decode(secretData(one(defaults, 'Secret', 'portcullis-activity-key')).key!)).toMatch(/^[A-Za-z0-9]{64}$/);
  });

  it("the APIService trusts the CA that issued the serving certificate, which is valid for the Service's names", () => {
    const tls = secretData(one(defaults, 'Secret', 'portcullis-activity-tls'));
    const ca = new X509Certificate(decode(tls['ca.crt']!));
    const cert = new X509Certificate(decode(tls['tls.crt']!));
    expect((one(defaults, 'APIService', 'v1alpha1.activity.portcullis.dev').spec as { caBundle: string }).caBundle).toBe(tls['ca.crt']);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    for (const host of [`portcullis-activity.${NS}.svc`, `portcullis-activity.${NS}.svc.cluster.local`]) expect(cert.checkHost(host), host).toBe(host);
    expect(cert.checkHost('portcullis-activity.other.svc')).toBeUndefined();
    expect(decode(tls['tls.key']!)).toMatch(/PRIVATE KEY/);
  });

  it('no object but the two Secrets carries the activity key or a private key: not a ConfigMap, a pod spec or an argument', () => {
    const key = secretData(one(defaults, 'Secret', 'portcullis-activity-key')).key!;
    const tlsKey = secretData(one(defaults, 'Secret', 'portcullis-activity-tls'))['tls.key']!;
    const others = defaults.filter((o) => !(o.kind === 'Secret' && ['portcullis-activity-key', 'portcullis-activity-tls'].includes(o.metadata.name)));
    expect(others.length).toBeGreaterThan(10);
    for (const o of others) {
      const text = JSON.stringify(o);
      for (const secret of [key, decode(key), tlsKey, 'PRIVATE KEY']) expect(text.includes(secret), `${o.kind}/${o.metadata.name}`).toBe(false);
    }
    expect(find(defaults, 'Secret').map((s) => s.metadata.name)).toEqual(['portcullis-activity-key', 'portcullis-activity-tls']);
  });

  it('activity.enabled=false renders no activity object, and the operator runs without the activity flags', async () => {
    const objects = await render('portcullis', NS, ['--set', 'activity.enabled=false']);
    const activity = objects.filter(
      (o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'activity' || o.metadata.name.includes('activity') || o.kind === 'APIService',
    );
    expect(activity.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
    const operator = one(objects, 'Deployment', 'portcullis-operator');
    expect(args(operator)).not.toContain('--activity-url');
    expect(podSpec(operator).volumes?.map((v) => v.name)).toEqual(['tmp']);
  });

  it('PostgreSQL: the URL comes from the Secret through the environment (not the pod spec); replicas > 1, no volume, rolling updates', async () => {
    const objects = await render('portcullis', NS, [
      '--set',
      'activity.database.existingSecret=activity-db',
      '--set',
      'activity.replicas=3',
      '--set',
      'activity.retainRows=1000000',
    ]);
    const deployment = one(objects, 'Deployment', 'portcullis-activity');
    const spec = deployment.spec as { replicas: number; strategy?: unknown };
    expect(spec.replicas).toBe(3);
    expect(spec.strategy).toBeUndefined();
    const container = podSpec(deployment).containers[0]!;
    expect(args(deployment)).not.toContain('--database');
    expect(argAfter(args(deployment), '--retain-rows')).toBe('1000000');
    expect(container.env).toEqual([{ name: 'PORTCULLIS_ACTIVITY_DATABASE', valueFrom: { secretKeyRef: { name: 'activity-db', key: 'url' } } }]);
    expect(find(objects, 'PersistentVolumeClaim')).toEqual([]);
    expect(
      podSpec(deployment)
        .volumes?.map((v) => v.name)
        .sort(),
    ).toEqual(['activity-key', 'tls', 'tmp']);
  });

  it('more than one replica on SQLite is refused, saying why', async () => {
    const r = await helm(['template', 'portcullis', chartDir, '--namespace', NS, '--set', 'activity.replicas=2']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('activity.replicas > 1 needs activity.database.existingSecret (PostgreSQL): SQLite is one writer on one volume');
  });

  it('without webhooks: --no-webhooks and none of the webhook RBAC; tenant-scoped HMAC Secrets leave out the cluster-wide binding', async () => {
    const off = await render('portcullis', NS, ['--set', 'activity.webhooks.enabled=false']);
    expect(args(one(off, 'Deployment', 'portcullis-activity'))).toContain('--no-webhooks');
    expect(args(one(off, 'Deployment', 'portcullis-activity'))).not.toContain('--webhook-lease');
    const webhookObjects = off.filter((o) => o.kind !== 'CustomResourceDefinition' && o.metadata.name.includes('webhook'));
    expect(webhookObjects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
    const scoped = await render('portcullis', NS, ['--set', 'activity.webhooks.secretsClusterWide=false']);
    expect(find(scoped, 'ClusterRole', 'portcullis-activity-webhook-secrets')).toHaveLength(1);
    expect(find(scoped, 'ClusterRoleBinding', 'portcullis-activity-webhook-secrets')).toEqual([]);
  });

  it('the bundled registry logs at warn (Distribution prints its notification headers at info) only when the activity server is on', async () => {
    const env = (objects: K8sObject[]) => podSpec(one(objects, 'Deployment', 'portcullis-registry')).containers[0]!.env ?? [];
    expect(env(await render('portcullis', NS, ['--set', 'registry.enabled=true'])).find((e) => e.name === 'REGISTRY_LOG_LEVEL')?.value).toBe('warn');
    const without = await render('portcullis', NS, ['--set', 'registry.enabled=true', '--set', 'activity.enabled=false']);
    expect(env(without).map((e) => e.name)).not.toContain('REGISTRY_LOG_LEVEL');
  });

  it('the reader ClusterRole keeps the name the refusals print, and is aggregated only where readerAggregateTo says', async () => {
    const labels = (objects: K8sObject[]) => one(objects, 'ClusterRole', 'portcullis-activity-reader').metadata.labels ?? {};
    expect(Object.keys(labels(defaults)).filter((l) => l.startsWith('rbac.authorization.k8s.io/'))).toEqual([]);
    const aggregated = labels(await render('portcullis', NS, ['--set', 'activity.readerAggregateTo={admin}']));
    expect(Object.entries(aggregated).filter(([l]) => l.startsWith('rbac.authorization.k8s.io/'))).toEqual([
      ['rbac.authorization.k8s.io/aggregate-to-admin', 'true'],
    ]);
    const refused = await helm(['template', 'p', chartDir, '--set', 'activity.readerAggregateTo={cluster-admin}']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/activity\/readerAggregateTo/);
  });

  it('NetworkPolicy: the intake port from activityIntakeFrom and scrapers, the API port from anywhere (the kube-apiserver is no pod), egress to DNS, the API and activityEgress', async () => {
    const from = [{ namespaceSelector: { matchLabels: { 'portcullis.dev/registry': 'true' } } }];
    const egress = [{ to: [{ ipBlock: { cidr: '10.0.9.0/24' } }], ports: [{ port: 5432 }] }];
    const objects = await render('portcullis', NS, [
      '--set',
      'networkPolicy.enabled=true',
      '--set-json',
      `networkPolicy.activityIntakeFrom=${JSON.stringify(from)}`,
      '--set-json',
      `networkPolicy.activityEgress=${JSON.stringify(egress)}`,
    ]);
    const spec = one(objects, 'NetworkPolicy', 'portcullis-activity').spec as { ingress: { ports: unknown[]; from?: unknown[] }[]; egress: unknown[] };
    expect(spec.ingress).toEqual([{ ports: [{ port: 'events', protocol: 'TCP' }], from }, { ports: [{ port: 'api', protocol: 'TCP' }] }]);
    expect(spec.egress.at(-1)).toEqual(egress[0]);
    expect(spec.egress).toHaveLength(3);
  });
});

describe('chart: activity RBAC equals deploy/activity', () => {
  const reference = (file: string): K8sObject[] => manifests(readFileSync(join(repoRoot, 'deploy', 'activity', file), 'utf8'));
  const files = [['rbac.yaml'], ['webhooks-rbac.yaml'], ['registry-tokens-rbac.yaml']];

  it.each(files)('grants exactly the rules of deploy/activity/%s', async (file) => {
    const rendered = rulesByRole(await render('portcullis', NS));
    const expected = rulesByRole(reference(file));
    expect(expected.size, `${file} has no Role or ClusterRole`).toBeGreaterThan(0);
    for (const [key, rules] of expected) expect(rendered.get(key), `${key} from ${file}`).toEqual(rules);
  });

  it.each(files)("binds the same roles to the same ServiceAccount as deploy/activity/%s (a Registry's signing Role in its namespace)", async (file) => {
    const rendered = await render('portcullis', NS);
    const bindings = reference(file).filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding');
    for (const binding of bindings) {
      // deploy/activity's Registry is registry/main; the chart's is main in the release namespace.
      const namespace = binding.metadata.namespace === 'registry' ? NS : binding.metadata.namespace;
      const mine = find(rendered, binding.kind, binding.metadata.name).find((b) => b.metadata.namespace === namespace);
      if (mine === undefined) throw new Error(`no ${binding.kind} ${binding.metadata.name} in namespace ${namespace ?? '(cluster)'}`);
      expect(mine.roleRef, binding.metadata.name).toEqual(binding.roleRef);
      expect(mine.subjects, binding.metadata.name).toEqual(binding.subjects);
    }
  });
});

describe('chart: the activity server installed on a real API server', () => {
  let cp: ControlPlane;
  let notes = '';
  const ok = (r: { code: number; stdout: string; stderr: string }, what: string) => {
    if (r.code !== 0) throw new Error(`${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const getJson = async (argv: string[]) => JSON.parse(ok(await kubectl(cp, [...argv, '-o', 'json']), `kubectl get ${argv.join(' ')}`)) as K8sObject;
  const generated = async () => ({
    key: secretData(await getJson(['-n', NS, 'get', 'secret', 'portcullis-activity-key'])),
    tls: secretData(await getJson(['-n', NS, 'get', 'secret', 'portcullis-activity-tls'])),
    caBundle: ((await getJson(['get', 'apiservice', 'v1alpha1.activity.portcullis.dev'])).spec as { caBundle: string }).caBundle,
  });

  beforeAll(async () => {
    cp = await startControlPlane();
    notes = ok(
      await installChart(
        (a) => helm(a, cp.kubeconfigPath),
        ['portcullis', chartDir, '--namespace', NS, '--create-namespace'],
        () => kubectl(cp, ['get', 'registries', '-A', '-o', 'name']).then((r) => r.code === 0),
      ),
      'helm install',
    );
  }, 180_000);
  afterAll(async () => {
    await cp?.stop();
  });

  it('upgrades keep the generated key, the serving certificate and the caBundle (read back with lookup)', async () => {
    const installed = await generated();
    expect(installed.caBundle).toBe(installed.tls['ca.crt']);
    ok(await helm(['upgrade', 'portcullis', chartDir, '--namespace', NS, '--reuse-values'], cp.kubeconfigPath), 'helm upgrade');
    ok(await helm(['upgrade', 'portcullis', chartDir, '--namespace', NS, '--set', 'activity.logLevel=debug'], cp.kubeconfigPath), 'helm upgrade');
    expect(await generated()).toEqual(installed);
    const activity = await getJson(['-n', NS, 'get', 'deployment', 'portcullis-activity']);
    expect(argAfter(args(activity), '--log-level')).toBe('debug');
  });

  it('the install notes say how to read the trail, and name the reader ClusterRole', () => {
    expect(notes).toContain('--clusterrole=portcullis-activity-reader');
    expect(notes).toContain(`http://portcullis-activity.${NS}.svc:8080`);
  });

  const SA = `system:serviceaccount:${NS}:portcullis-activity`;
  it.each([
    ['may list Registries everywhere', ['list', 'registries.portcullis.dev', '-A'], true],
    ['may watch Namespaces', ['watch', 'namespaces'], true],
    ['may ask SubjectAccessReviews', ['create', 'subjectaccessreviews.authorization.k8s.io'], true],
    ["may read the front proxy's CA in kube-system", ['get', 'configmap/extension-apiserver-authentication', '-n', 'kube-system'], true],
    ["may read the release Registry's signing Secret", ['get', 'secret/portcullis-main-signing', '-n', NS], true],
    ["may not read the Registry's CA Secret", ['get', 'secret/portcullis-main-ca', '-n', NS], false],
    ['may not read the credentials Secret', ['get', 'secret/portcullis-main-credentials', '-n', NS], false],
    ['may not list Secrets', ['list', 'secrets', '-n', NS], false],
    ['may not watch Secrets', ['watch', 'secrets', '-A'], false],
    ["may read a webhook's HMAC Secret under its name", ['get', 'secret/portcullis-webhooks', '-n', 'team-a'], true],
    ['may not read a Secret of another name a webhook could point at', ['get', 'secret/alice-password', '-n', 'team-a'], false],
    ['may write webhook status', ['patch', 'registrywebhooks.portcullis.dev', '--subresource=status', '-n', 'team-a'], true],
    ['may not change webhooks', ['patch', 'registrywebhooks.portcullis.dev', '-n', 'team-a'], false],
    ['may update its webhook Lease', ['update', 'lease/portcullis-activity-webhooks', '-n', NS], true],
    ["may not update the operator's Lease", ['update', 'lease/portcullis-operator', '-n', NS], false],
    ['may not write Registries', ['patch', 'registries.portcullis.dev', '-n', NS], false],
  ])('the activity ServiceAccount %s', async (_sentence, argv, allowed) => {
    const r = await kubectl(cp, ['auth', 'can-i', ...argv, `--as=${SA}`]);
    expect(r.stdout.trim(), r.stderr).toBe(allowed ? 'yes' : 'no');
  });
});
