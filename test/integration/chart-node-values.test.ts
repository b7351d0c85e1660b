// The chart values a one-node cluster needs (hack/e2e-scenario/values.yaml, which test/cluster and
// hack/kind-e2e.sh install): fixed NodePorts, a PodDisruptionBudget for the bundled registry, and a
// registry that rolls instead of being recreated when its claim is ReadWriteMany. Rendered by real helm;
// that they work on a node is test/cluster/*.test.ts.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../local/tools.js';
import { find, helm, one, chartDir, render, type K8sObject } from '../support/helm-chart.js';

const NS = 'portcullis-system';
const SCENARIO = ['-f', join(repoRoot, 'hack', 'e2e-scenario', 'values.yaml'), '--set', 'registryResource.realm=http://192.0.2.1:30501/token'];
const ports = (objects: K8sObject[], name: string) => one(objects, 'Service', name).spec as { type: string; ports: { nodePort?: number }[] };
const strategy = (objects: K8sObject[]) => (one(objects, 'Deployment', 'portcullis-registry').spec as { strategy?: { type: string } }).strategy;

describe('chart: values for a one-node cluster', () => {
  it('the scenario values: fixed NodePorts, 2 registries that roll, a PodDisruptionBudget selecting them', async () => {
    const objects = await render('portcullis', NS, SCENARIO);
    expect(ports(objects, 'portcullis-token-server')).toMatchObject({ type: 'NodePort', ports: [{ nodePort: 30501 }] });
    expect(ports(objects, 'portcullis-registry')).toMatchObject({ type: 'NodePort', ports: [{ nodePort: 30500 }] });
    expect(strategy(objects)).toBeUndefined();
    const pdb = one(objects, 'PodDisruptionBudget', 'portcullis-registry').spec as { minAvailable: number; selector: { matchLabels: Record<string, string> } };
    expect(pdb.minAvailable).toBe(1);
    expect(pdb.selector.matchLabels['app.kubernetes.io/component']).toBe('registry');
  });

  it('the defaults are unchanged: ports Kubernetes picks, a ReadWriteOnce registry recreated, no registry PDB', async () => {
    const objects = await render('portcullis', NS, ['--set', 'registry.enabled=true', '--set', 'registry.service.type=NodePort']);
    expect(ports(objects, 'portcullis-registry').ports[0]?.nodePort).toBeUndefined();
    expect(strategy(objects)).toEqual({ type: 'Recreate' });
    expect(find(objects, 'PodDisruptionBudget', 'portcullis-registry')).toEqual([]);
    // A nodePort on a ClusterIP Service would be refused by the API server: the chart leaves it out.
    const clusterIP = await render('portcullis', NS, ['--set', 'registry.enabled=true', '--set', 'registry.service.nodePort=30500']);
    expect(ports(clusterIP, 'portcullis-registry').ports[0]?.nodePort).toBeUndefined();
  });

  it('terminating token-server and registry pods keep serving for shutdownDelaySeconds (preStop sleep), and 0 leaves the hook out', async () => {
    type Lifecycle = { lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: { command: string[] } } } };
    const container = (objects: K8sObject[], name: string) =>
      (one(objects, 'Deployment', name).spec as { template: { spec: { containers: Lifecycle[] } } }).template.spec.containers[0];
    const names = ['portcullis-token-server', 'portcullis-registry'];
    const defaults = await render('portcullis', NS, ['--set', 'registry.enabled=true', '--kube-version', '1.30.0']);
    for (const name of names) expect(container(defaults, name)?.lifecycle?.preStop, name).toEqual({ sleep: { seconds: 5 } });
    // Before 1.30 the sleep action is off by default: the image's own sleep does it.
    const older = await render('portcullis', NS, ['--set', 'registry.enabled=true', '--kube-version', '1.29.4']);
    for (const name of names) expect(container(older, name)?.lifecycle?.preStop, name).toEqual({ exec: { command: ['sleep', '5'] } });
    const off = await render('portcullis', NS, [
      '--set',
      'registry.enabled=true',
      '--set',
      'tokenServer.shutdownDelaySeconds=0',
      '--set',
      'registry.shutdownDelaySeconds=0',
    ]);
    for (const name of names) expect(container(off, name)?.lifecycle, name).toBeUndefined();
  });

  it('a node port outside 30000-32767 is refused by the schema, naming the value', async () => {
    const r = await helm([
      'template',
      'portcullis',
      chartDir,
      '-n',
      NS,
      '--set',
      'tokenServer.service.type=NodePort',
      '--set',
      'tokenServer.service.nodePort=8080',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('/tokenServer/service/nodePort');
  });
});
