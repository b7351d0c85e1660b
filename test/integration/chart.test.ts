// The Helm chart against real helm and a real kube-apiserver: lint, render (defaults and every
// option), schema rejection of wrong types, what the renders contain (security settings, wiring of
// the bundled registry, RBAC identical to deploy/rbac), server-side apply of both renders, and a
// helm install / upgrade / uninstall cycle that keeps the CRDs and the Registry.
import { readFileSync, readdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { run } from '../../local/process.js';
import { repoRoot } from '../../local/tools.js';
import { tokenServerSecretNames } from '../../wire/names.js';
import { allOptions, chartDir, find, helm, installChart, manifests, one, podSpec, render, rulesByRole, type K8sObject } from '../support/helm-chart.js';

/** crds/*.yaml, parsed, by file name. */
function sourceCrds(): Map<string, K8sObject> {
  const out = new Map<string, K8sObject>();
  for (const file of readdirSync(join(repoRoot, 'crds')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')) {
    out.set(file, parse(readFileSync(join(repoRoot, 'crds', file), 'utf8')) as K8sObject);
  }
  return out;
}

/** A CRD without the annotation the chart adds. */
function withoutKeep(crd: K8sObject): K8sObject {
  const copy = structuredClone(crd);
  const annotations = { ...copy.metadata.annotations };
  delete annotations['helm.sh/resource-policy'];
  if (Object.keys(annotations).length === 0) delete copy.metadata.annotations;
  else copy.metadata.annotations = annotations;
  return copy;
}

describe('chart CRDs', () => {
  it('templates/crds/ holds exactly the files of crds/, with identical content apart from the keep annotation', () => {
    const sources = sourceCrds();
    const templateDir = join(chartDir, 'templates', 'crds');
    expect(readdirSync(templateDir).sort()).toEqual([...sources.keys()].sort());
    for (const [file, source] of sources) {
      const text = readFileSync(join(templateDir, file), 'utf8');
      const lines = text.split('\n');
      // The copy is the CRD between the crds.enabled guard's opening and closing actions.
      expect(lines[0], file).toBe('{{- if .Values.crds.enabled }}');
      expect(lines.filter((l) => l.trim() !== '').at(-1), file).toBe('{{- end }}');
      const body = lines.filter((l) => !/^\{\{-? (if \.Values\.crds\.enabled|end) \}\}$/.test(l)).join('\n');
      const copy = parse(body) as K8sObject;
      expect(copy.metadata.annotations?.['helm.sh/resource-policy'], file).toBe('keep');
      expect(withoutKeep(copy), `${file} is stale: run node charts/portcullis/hack/sync-crds.mjs`).toEqual(source);
    }
  });

  it('the sync script agrees that the copies are current', async () => {
    const r = await run(process.execPath, [join(chartDir, 'hack', 'sync-crds.mjs'), '--check']);
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('chart metadata', () => {
  it('appVersion is package.json version', () => {
    const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as { apiVersion: string; appVersion: string };
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(chart.apiVersion).toBe('v2');
    expect(chart.appVersion).toBe(pkg.version);
  });

  it('values.schema.json is draft-07 and forbids unknown top-level keys', () => {
    const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as {
      $schema: string;
      additionalProperties: boolean;
      properties: Record<string, unknown>;
    };
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.additionalProperties).toBe(false);
    const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    for (const key of Object.keys(values)) expect(schema.properties, key).toHaveProperty(key);
  });
});

describe('helm lint', () => {
  it.each([
    ['default values', []],
    ['every option enabled', ['-f', allOptions]],
  ])('passes with %s', async (_name, extra) => {
    const r = await helm(['lint', '--strict', chartDir, ...extra]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});

describe('values schema', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-chart-values-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const table: [sentence: string, values: string, field: RegExp][] = [
    ['a string where replicas must be an integer', 'operator:\n  replicas: "two"\n', /operator\/replicas/],
    ['a misspelt top-level key', 'opertor:\n  replicas: 2\n', /opertor/],
    ['a misspelt nested key', 'tokenServer:\n  replica: 3\n', /replica/],
    ['a boolean given as a string', 'registry:\n  enabled: "yes"\n', /registry\/enabled/],
    ['an unknown signing algorithm', 'registryResource:\n  signing:\n    algorithm: HS256\n', /registryResource\/signing\/algorithm/],
    ['a duration without a unit', 'registryResource:\n  tokenTTL: "300"\n', /registryResource\/tokenTTL/],
    ['resources without limits', 'tokenServer:\n  resources:\n    limits: null\n', /tokenServer\/resources/],
    ['a port out of range', 'tokenServer:\n  port: 70000\n', /tokenServer\/port/],
    ['an unknown log level', 'operator:\n  logLevel: verbose\n', /operator\/logLevel/],
    ['a namespace that would break the YAML it is rendered into', 'operator:\n  watchNamespace: "team-a\\n  evil: true"\n', /operator\/watchNamespace/],
    ['a claim name with a newline', 'registry:\n  persistence:\n    existingClaim: "a\\nb"\n', /registry\/persistence\/existingClaim/],
  ];
  it.each(table)('rejects %s, naming the field', async (_sentence, values, field) => {
    const file = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, values);
    const r = await helm(['template', 'p', chartDir, '-f', file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(field);
    expect(r.stderr).toMatch(/schema/);
  });
});

describe('rendered manifests', () => {
  let defaults: K8sObject[] = [];
  let everything: K8sObject[] = [];
  beforeAll(async () => {
    defaults = await render('portcullis', 'portcullis-system');
    everything = await render('portcullis', 'portcullis-system', ['-f', allOptions]);
  });

  it('renders the CRDs with the keep annotation, identical to crds/ otherwise', () => {
    const sources = [...sourceCrds().values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const rendered = find(defaults, 'CustomResourceDefinition').sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    expect(rendered.map((c) => c.metadata.annotations?.['helm.sh/resource-policy'])).toEqual(sources.map(() => 'keep'));
    expect(rendered.map(withoutKeep)).toEqual(sources);
  });

  it('leaves the CRDs out when crds.enabled is false', async () => {
    const objects = await render('portcullis', 'portcullis-system', ['--set', 'crds.enabled=false']);
    expect(find(objects, 'CustomResourceDefinition')).toEqual([]);
  });

  it('leaves optional features out by default (the activity server, on by default, has the one volume)', () => {
    for (const kind of ['Ingress', 'NetworkPolicy', 'ServiceMonitor']) expect(find(defaults, kind), kind).toEqual([]);
    expect(find(defaults, 'PersistentVolumeClaim').map((c) => c.metadata.name)).toEqual(['portcullis-activity']);
    expect(
      find(defaults, 'Deployment')
        .map((d) => d.metadata.name)
        .sort(),
    ).toEqual(['portcullis-activity', 'portcullis-operator', 'portcullis-token-server']);
  });

  it('renders every optional feature when enabled', () => {
    const kinds = new Set(everything.map((o) => o.kind));
    for (const kind of ['Ingress', 'NetworkPolicy', 'ServiceMonitor', 'PersistentVolumeClaim', 'PodDisruptionBudget', 'Registry'])
      expect(kinds, kind).toContain(kind);
    expect(one(everything, 'ServiceMonitor', 'portcullis-operator').apiVersion).toBe('monitoring.coreos.com/v1');
  });

  it('runs two operator replicas with Lease leader election and metrics on the metrics port', () => {
    const operator = one(defaults, 'Deployment', 'portcullis-operator');
    expect((operator.spec as { replicas: number }).replicas).toBe(2);
    const container = podSpec(operator).containers[0]!;
    expect(container.args).toEqual([
      'operator',
      '--leader-elect',
      '--lease-namespace',
      'portcullis-system',
      '--registry-namespaces',
      'portcullis-system',
      '--metrics-listen',
      '0.0.0.0:8080',
      '--log-level',
      'info',
      '--retention-image',
      'ghcr.io/portcullis-dev/portcullis:0.1.0',
      '--retention-cluster-role',
      'portcullis-retention',
      '--activity-url',
      'http://portcullis-activity.portcullis-system.svc:8080',
      '--activity-key-file',
      '/etc/portcullis/activity-key/key',
    ]);
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(podSpec(operator).serviceAccountName).toBe('portcullis-operator');
  });

  it('passes --namespace when the operator watches one namespace', async () => {
    const objects = await render('portcullis', 'portcullis-system', ['--set', 'operator.watchNamespace=registry']);
    const args = podSpec(one(objects, 'Deployment', 'portcullis-operator')).containers[0]!.args!;
    expect(args.slice(args.indexOf('--namespace'), args.indexOf('--namespace') + 2)).toEqual(['--namespace', 'registry']);
  });

  it('passes --registry-namespaces with exactly the namespaces the write Role is bound in', async () => {
    const objects = await render('portcullis', 'portcullis-system', ['--set', 'operator.registryNamespaces={team-a,team-b,portcullis-system}']);
    const args = podSpec(one(objects, 'Deployment', 'portcullis-operator')).containers[0]!.args!;
    const bound = find(objects, 'RoleBinding', 'portcullis-operator-registry').map((b) => b.metadata.namespace);
    expect(args[args.indexOf('--registry-namespaces') + 1]).toBe('portcullis-system,team-a,team-b');
    expect(bound.sort()).toEqual(['portcullis-system', 'team-a', 'team-b']);
  });

  it('runs two token servers for the release Registry, probed on /healthz and /readyz, behind a PDB and an http Service on 5001', () => {
    const tokenServer = one(defaults, 'Deployment', 'portcullis-token-server');
    expect((tokenServer.spec as { replicas: number }).replicas).toBe(2);
    const container = podSpec(tokenServer).containers[0]!;
    expect(container.args).toEqual(['token-server', '--registry', 'portcullis-system/main', '--listen', '0.0.0.0:5001', '--log-level', 'info']);
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    const pdb = one(defaults, 'PodDisruptionBudget', 'portcullis-token-server');
    expect((pdb.spec as { minAvailable: number }).minAvailable).toBe(1);
    const service = one(defaults, 'Service', 'portcullis-token-server');
    expect((service.spec as { ports: unknown[] }).ports).toEqual([{ name: 'http', port: 5001, targetPort: 'http', protocol: 'TCP' }]);
  });

  it.each([
    ['default values', () => defaults],
    ['every option enabled', () => everything],
  ])('every pod is non-root, read-only, without privileges, seccomp-confined and resource-bounded (%s)', (_name, objects) => {
    const deployments = find(objects(), 'Deployment');
    expect(deployments.length).toBeGreaterThanOrEqual(2);
    for (const deployment of deployments) {
      const spec = podSpec(deployment);
      const where = deployment.metadata.name;
      expect(spec.securityContext, where).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
      for (const c of spec.containers) {
        expect(c.securityContext, `${where}/${c.name}`).toMatchObject({
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        });
        expect(Object.keys(c.resources?.requests ?? {}).sort(), `${where}/${c.name} requests`).toEqual(['cpu', 'memory']);
        expect(Object.keys(c.resources?.limits ?? {}).sort(), `${where}/${c.name} limits`).toEqual(['cpu', 'memory']);
        expect(c.livenessProbe, `${where}/${c.name} liveness`).toBeDefined();
        expect(c.readinessProbe, `${where}/${c.name} readiness`).toBeDefined();
      }
    }
  });

  it('wires the bundled registry to Portcullis: token settings equal the Registry object, trust bundle from the operator ConfigMap', () => {
    const registryObject = one(everything, 'Registry', 'main');
    const spec = registryObject.spec as { service: string; issuer: string; realm: string; distribution: { deployment: string } };
    expect(spec.distribution.deployment).toBe('portcullis-registry');
    expect(spec.realm).toBe('https://registry.example.com/token');
    const deployment = one(everything, 'Deployment', spec.distribution.deployment);
    const pod = podSpec(deployment);
    const container = pod.containers[0]!;
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      REGISTRY_AUTH_TOKEN_REALM: spec.realm,
      REGISTRY_AUTH_TOKEN_SERVICE: spec.service,
      REGISTRY_AUTH_TOKEN_ISSUER: spec.issuer,
      REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: '/etc/portcullis/bundle.pem',
    });
    const bundleMount = container.volumeMounts?.find((m) => m.mountPath === '/etc/portcullis');
    const bundleVolume = pod.volumes?.find((v) => v.name === bundleMount?.name);
    expect(bundleVolume?.configMap).toEqual({ name: 'portcullis-main-bundle', items: [{ key: 'bundle.pem', path: 'bundle.pem' }] });
    const ingress = one(everything, 'Ingress', 'portcullis');
    const paths = (ingress.spec as { rules: { http: { paths: { path: string; backend: { service: { name: string } } }[] } }[] }).rules[0]!.http.paths;
    expect(paths.map((p) => [p.path, p.backend.service.name])).toEqual([
      ['/token', 'portcullis-token-server'],
      ['/v2', 'portcullis-registry'],
    ]);
  });
});

describe('chart RBAC', () => {
  const rbacDir = join(repoRoot, 'deploy', 'rbac');
  const readManifests = (file: string): K8sObject[] => manifests(readFileSync(join(rbacDir, file), 'utf8'));

  it('names for the token server exactly the Secrets the operator writes for it (wire/names.ts)', async () => {
    const rendered = await render('portcullis', 'portcullis-system', ['--set', 'registryResource.name=edge']);
    const rules = one(rendered, 'Role', 'portcullis-token-server').rules as { resources: string[]; resourceNames?: string[] }[];
    expect(rules.find((r) => r.resources.includes('secrets'))?.resourceNames).toEqual(tokenServerSecretNames('edge'));
  });

  it.each([['operator.yaml'], ['token-server.yaml'], ['../retention/rbac.yaml']])('grants exactly the rules of deploy/rbac/%s', async (file) => {
    const reference = readManifests(file);
    // deploy/rbac is written for release "portcullis" in namespace portcullis-system with Registry "main".
    const namespace = reference.find((o) => o.metadata.namespace)?.metadata.namespace ?? 'portcullis-system';
    const rendered = rulesByRole(await render('portcullis', namespace));
    const expected = rulesByRole(reference);
    expect(expected.size, `${file} has no Role or ClusterRole`).toBeGreaterThan(0);
    for (const [key, rules] of expected) {
      expect(rendered.get(key), `${key} from ${file}`).toEqual(rules);
    }
  });

  it.each([['operator.yaml'], ['token-server.yaml']])('binds the same roles to the same ServiceAccounts as deploy/rbac/%s', async (file) => {
    const reference = readManifests(file);
    const namespace = reference.find((o) => o.metadata.namespace)?.metadata.namespace ?? 'portcullis-system';
    // deploy/rbac's Registry lives in `registry`: the operator writes there.
    const rendered = await render('portcullis', namespace, ['--set', 'operator.registryNamespaces={registry}']);
    const bindings = reference.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding');
    expect(bindings.length).toBeGreaterThan(0);
    for (const binding of bindings) {
      const mine = find(rendered, binding.kind, binding.metadata.name).find((b) => b.metadata.namespace === binding.metadata.namespace);
      if (mine === undefined) throw new Error(`no ${binding.kind} ${binding.metadata.name} in namespace ${binding.metadata.namespace ?? '(cluster)'}`);
      expect(mine.roleRef, binding.metadata.name).toEqual(binding.roleRef);
      expect(mine.subjects, binding.metadata.name).toEqual(binding.subjects);
    }
    for (const account of reference.filter((o) => o.kind === 'ServiceAccount')) {
      expect(one(rendered, 'ServiceAccount', account.metadata.name).metadata.namespace).toBe(account.metadata.namespace);
    }
  });

  it('lets the operator bind only its own release’s retention ClusterRole, and tells it which one', async () => {
    const rendered = await render('second', 'elsewhere');
    const role = one(rendered, 'ClusterRole', 'second-portcullis-retention');
    expect(role.rules).toEqual(rulesByRole(readManifests('../retention/rbac.yaml')).get('ClusterRole/portcullis-retention'));
    const bind = (one(rendered, 'ClusterRole', 'second-portcullis-operator-retention').rules as { verbs: string[]; resourceNames?: string[] }[]).filter((r) =>
      r.verbs.includes('bind'),
    );
    expect(bind).toEqual([
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], resourceNames: ['second-portcullis-retention'], verbs: ['bind'] },
    ]);
    const args = podSpec(one(rendered, 'Deployment', 'second-portcullis-operator')).containers[0]!.args ?? [];
    expect(args[args.indexOf('--retention-cluster-role') + 1]).toBe('second-portcullis-retention');
    expect(args[args.indexOf('--retention-image') + 1]).toMatch(/^ghcr\.io\/portcullis-dev\/portcullis:/);
  });

  it('watching one namespace binds the same rules there and keeps namespaces readable cluster-wide', async () => {
    const rendered = await render('portcullis', 'portcullis-system', ['--set', 'operator.watchNamespace=team-a']);
    expect(find(rendered, 'ClusterRoleBinding', 'portcullis-operator')).toEqual([]);
    const binding = one(rendered, 'RoleBinding', 'portcullis-operator');
    expect(binding.metadata.namespace).toBe('team-a');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'portcullis-operator' });
    const reference = rulesByRole(readManifests('operator.yaml')).get('ClusterRole/portcullis-operator') ?? [];
    const split = [
      ...(one(rendered, 'ClusterRole', 'portcullis-operator').rules ?? []),
      ...(one(rendered, 'ClusterRole', 'portcullis-operator-namespaces').rules ?? []),
    ];
    const key = (r: unknown) => JSON.stringify(r);
    expect(split.map(key).sort()).toEqual(reference.map(key).sort());
  });
});

describe('chart on a real API server', () => {
  let cp: ControlPlane;
  let dir = '';
  beforeAll(async () => {
    cp = await startControlPlane();
    dir = mkdtempSync(join(tmpdir(), 'portcullis-chart-'));
  });
  afterAll(async () => {
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const ok = (r: { code: number; stdout: string; stderr: string }, what: string) => {
    if (r.code !== 0) throw new Error(`${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const getJson = async (args: string[]) => JSON.parse(ok(await kubectl(cp, [...args, '-o', 'json']), `kubectl get ${args.join(' ')}`)) as K8sObject;

  it('helm install creates everything including the Registry; upgrades adopt and update it; uninstall keeps CRDs and the Registry', async () => {
    const ns = 'portcullis-helm';
    const tokenTTL = async () => ((await getJson(['-n', ns, 'get', 'registry', 'main'])).spec as { tokenTTL: string }).tokenTTL;
    const served = () => kubectl(cp, ['get', 'registries', '-A', '-o', 'name']).then((r) => r.code === 0);
    const install = await installChart((a) => helm(a, cp.kubeconfigPath), ['portcullis', chartDir, '--namespace', ns, '--create-namespace'], served);
    ok(install, 'helm install');
    // CRDs arrive in this release, so the Registry is created by the post-install hook; after a lost
    // discovery race, the README's `helm upgrade --install` creates it as an ordinary resource instead.
    const registry = await getJson(['-n', ns, 'get', 'registry', 'main']);
    expect(registry.metadata.annotations?.['helm.sh/hook']).toBe(install.recovered ? undefined : 'post-install');
    expect(await tokenTTL()).toBe('5m');
    await getJson(['-n', ns, 'get', 'deployment', 'portcullis-token-server']);

    // Now the CRD is known, the Registry renders as an ordinary resource and Helm adopts it...
    ok(await helm(['upgrade', 'portcullis', chartDir, '--namespace', ns, '--reuse-values'], cp.kubeconfigPath), 'helm upgrade (adoption)');
    const manifest = ok(await helm(['get', 'manifest', 'portcullis', '--namespace', ns], cp.kubeconfigPath), 'helm get manifest');
    expect(manifest).toMatch(/\nkind: Registry\n/);
    // ...and from then on upgrades change it.
    ok(await helm(['upgrade', 'portcullis', chartDir, '--namespace', ns, '--set', 'registryResource.tokenTTL=15m'], cp.kubeconfigPath), 'helm upgrade');
    expect(await tokenTTL()).toBe('15m');

    ok(await helm(['uninstall', 'portcullis', '--namespace', ns, '--wait'], cp.kubeconfigPath), 'helm uninstall');
    const crds = JSON.parse(ok(await kubectl(cp, ['get', 'crd', '-o', 'json']), 'get crds')) as { items: K8sObject[] };
    expect(
      crds.items
        .map((c) => c.metadata.name)
        .filter((n) => n.endsWith('.portcullis.dev'))
        .sort(),
    ).toEqual([
      'registries.portcullis.dev',
      'registryusers.portcullis.dev',
      'registrywebhooks.portcullis.dev',
      'repositorygrants.portcullis.dev',
      'retentionpolicies.portcullis.dev',
    ]);
    await getJson(['-n', ns, 'get', 'registry', 'main']);
    const gone = await kubectl(cp, ['-n', ns, 'get', 'deployment', 'portcullis-token-server']);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/NotFound|not found/);
  });

  it('with the CRDs already installed, the Registry is an ordinary resource from the first install on', async () => {
    const ns = 'portcullis-crds-first';
    const args = ['--namespace', ns, '--set', 'crds.enabled=false', '--set', 'registryResource.service=crds-first.example.com'];
    ok(await helm(['install', 'second', chartDir, '--create-namespace', ...args], cp.kubeconfigPath), 'helm install');
    const registry = await getJson(['-n', ns, 'get', 'registry', 'main']);
    expect(registry.metadata.annotations?.['helm.sh/hook']).toBeUndefined();
    ok(await helm(['upgrade', 'second', chartDir, ...args, '--set', 'registryResource.tokenTTL=30m'], cp.kubeconfigPath), 'helm upgrade');
    expect(((await getJson(['-n', ns, 'get', 'registry', 'main'])).spec as { tokenTTL: string }).tokenTTL).toBe('30m');
    ok(await helm(['uninstall', 'second', '--namespace', ns], cp.kubeconfigPath), 'helm uninstall');
  });

  // No prometheus-operator here: a minimal ServiceMonitor CRD stands in so the API server accepts the kind.
  const serviceMonitorCrd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: servicemonitors.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`;

  it.each([
    ['default values', 'p-default', 'portcullis-default', [] as string[]],
    ['every option enabled', 'p-all', 'portcullis-all', ['-f', allOptions, '--set', 'registryResource.service=registry-all.example.com']],
  ])('the render with %s is accepted by kubectl apply --server-side', async (_name, release, ns, extra) => {
    const objects = await render(release, ns, extra);
    const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
    const rest = objects.filter((o) => o.kind !== 'CustomResourceDefinition');
    const toYaml = (list: K8sObject[]) => list.map((o) => stringify(o)).join('---\n');
    ok(await kubectl(cp, ['apply', '--server-side', '--force-conflicts', '-f', '-'], `${serviceMonitorCrd}---\n${toYaml(crds)}`), 'apply CRDs');
    ok(await kubectl(cp, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']), 'wait for CRDs');
    ok(await kubectl(cp, ['create', 'namespace', ns]), 'create namespace');
    const applied = ok(await kubectl(cp, ['apply', '--server-side', '-f', '-'], toYaml(rest)), `apply ${release}`);
    for (const o of rest) expect(applied, `${o.kind}/${o.metadata.name}`).toContain(`/${o.metadata.name} serverside-applied`);
    // Everything the API server stored reads back, namespaced objects in the release namespace.
    for (const o of rest) {
      const args = o.metadata.namespace ? ['-n', o.metadata.namespace] : [];
      const kind = o.apiVersion.includes('/') ? `${o.kind}.${o.apiVersion.split('/')[0]}` : o.kind;
      const stored = await getJson([...args, 'get', kind, o.metadata.name]);
      expect(stored.metadata.namespace).toBe(o.metadata.namespace);
    }
  });

  const TS = 'p-default-portcullis-token-server';
  const OP = 'p-default-portcullis-operator';
  const NS = 'portcullis-default';
  it.each([
    ['the token server may read the credentials Secret', TS, ['get', 'secret/portcullis-main-credentials', '-n', NS], true],
    ['the token server may watch the credentials Secret by name', TS, ['watch', 'secret/portcullis-main-credentials', '-n', NS], true],
    ['the token server may read every credentials part slot', TS, ['get', 'secret/portcullis-main-credentials-7', '-n', NS], true],
    ['the token server may read the signing keys', TS, ['get', 'secret/portcullis-main-signing', '-n', NS], true],
    ['the token server may not read the CA Secret (the CA private key)', TS, ['get', 'secret/portcullis-main-ca', '-n', NS], false],
    ['the token server may not read the hash bookkeeping', TS, ['get', 'secret/portcullis-main-hash-sources', '-n', NS], false],
    ["the token server may not read a user's password Secret", TS, ['get', 'secret/ci-bot-password', '-n', NS], false],
    ['the token server may not list Secrets', TS, ['list', 'secrets', '-n', NS], false],
    ['the token server may not watch Secrets without naming one', TS, ['watch', 'secrets', '-n', NS], false],
    ['the token server may not read Secrets elsewhere', TS, ['list', 'secrets', '-n', 'kube-system'], false],
    ['the token server may not write ConfigMaps', TS, ['patch', 'configmaps', '-n', NS], false],
    ['the operator may patch Registry status anywhere', OP, ['patch', 'registries.portcullis.dev', '--subresource=status', '-n', 'team-a'], true],
    ['the operator may update its Lease', OP, ['update', 'leases.coordination.k8s.io', '-n', NS], true],
    ['the operator may not delete Registries', OP, ['delete', 'registries.portcullis.dev', '-n', 'team-a'], false],
    ['the operator may write Secrets where its Registry is', OP, ['create', 'secrets', '-n', NS], true],
    ['the operator may not write Secrets in a tenant namespace', OP, ['create', 'secrets', '-n', 'team-a'], false],
    ['the operator may not delete ConfigMaps in kube-system', OP, ['delete', 'configmaps', '-n', 'kube-system'], false],
    ["the operator may not patch Deployments outside its Registries' namespaces", OP, ['patch', 'deployments.apps', '-n', 'team-a'], false],
  ])('after the default apply, %s', async (_sentence, account, args, allowed) => {
    const r = await kubectl(cp, ['auth', 'can-i', ...args, `--as=system:serviceaccount:portcullis-default:${account}`]);
    expect(r.stdout.trim(), r.stderr).toBe(allowed ? 'yes' : 'no');
  });
});
