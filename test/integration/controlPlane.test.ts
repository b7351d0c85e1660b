// The control plane the integration suites run against: a real API server that serves custom
// resources, watches, and enforces RBAC.
import { CoreV1Api, CustomObjectsApi, Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';

const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.harness.test}
spec:
  group: harness.test
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
`;

describe('control plane', () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
  });
  afterAll(async () => {
    await cp?.stop();
  });

  it('serves a version that clients can read', async () => {
    const r = await kubectl(cp, ['version', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).serverVersion.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
  });

  it('accepts a CRD, serves custom objects, and watches deliver ADDED and MODIFIED', async () => {
    const applied = await kubectl(cp, ['apply', '-f', '-'], crd);
    expect(applied.code, applied.stderr).toBe(0);
    const established = await kubectl(cp, ['wait', '--for=condition=Established', 'crd/widgets.harness.test', '--timeout=30s']);
    expect(established.code, established.stderr).toBe(0);

    const events: string[] = [];
    const watch = new Watch(cp.kubeConfig);
    // A freshly established CRD answers 429 "storage is (re)initializing" until its watch cache is
    // ready; a list succeeding is the signal that a watch will be accepted.
    const api = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    const base = { group: 'harness.test', version: 'v1', namespace: 'default', plural: 'widgets' };
    for (let i = 0; ; i++) {
      try {
        await api.listNamespacedCustomObject(base);
        break;
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const controller = await watch.watch(
      '/apis/harness.test/v1/namespaces/default/widgets',
      {},
      (type: string, obj: { spec?: { size?: number } }) => events.push(`${type}:${obj.spec?.size}`),
      (err: unknown) => {
        if (err) events.push(`error:${err instanceof Error ? err.message : JSON.stringify(err)}`);
      },
    );
    await api.createNamespacedCustomObject({ ...base, body: { apiVersion: 'harness.test/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 1 } } });
    const got = (await api.getNamespacedCustomObject({ ...base, name: 'w1' })) as { spec: { size: number } };
    expect(got.spec.size).toBe(1);
    await api.patchNamespacedCustomObject({ ...base, name: 'w1', body: [{ op: 'replace', path: '/spec/size', value: 2 }] });
    const deadline = Date.now() + 10_000;
    while (events.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const seen = [...events];
    controller.abort();
    expect(seen).toEqual(['ADDED:1', 'MODIFIED:2']);
  });

  it('refuses a ServiceAccount with no RBAC (403) on the same object', async () => {
    const sa = await cp.kubeconfigForServiceAccount('default', 'nobody');
    const api = sa.kubeConfig.makeApiClient(CustomObjectsApi);
    await expect(
      api.getNamespacedCustomObject({ group: 'harness.test', version: 'v1', namespace: 'default', plural: 'widgets', name: 'w1' }),
    ).rejects.toMatchObject({ code: 403 });
    // and the same account can read what it is granted, so the 403 above is RBAC, not a broken token
    const role = await kubectl(cp, ['create', 'role', 'cm-reader', '-n', 'default', '--verb=list', '--resource=configmaps']);
    expect(role.code, role.stderr).toBe(0);
    const grant = await kubectl(cp, ['create', 'rolebinding', 'nobody-cm-reader', '-n', 'default', '--role=cm-reader', '--serviceaccount=default:nobody']);
    expect(grant.code, grant.stderr).toBe(0);
    const core = sa.kubeConfig.makeApiClient(CoreV1Api);
    await expect(core.listNamespacedConfigMap({ namespace: 'default' })).resolves.toBeTruthy();
  });
});
