// kube/connection.ts against a real API server: each way a long-running component finds its cluster
// without client-node (a kubeconfig with a client certificate, with a token, with relative paths, the
// in-cluster ServiceAccount mount), and client-node taking over for an exec plugin. The API server's
// answer says who it took the caller for, so a credential that was not sent cannot pass.
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionFrom, inClusterSettings, kubeconfigSettings, loadConnection, type KubeConnection } from '../../kube/connection.js';
import { KubeApiError, KubeClient } from '../../kube/request.js';
import { startControlPlane, type ControlPlane } from '../../local/controlPlane.js';

let cp: ControlPlane;
let dir: string;
let saToken: string;

beforeAll(async () => {
  cp = await startControlPlane();
  dir = await mkdtemp(join(tmpdir(), 'kube-connection-'));
  const sa = await cp.kubeconfigForServiceAccount('conn', 'reader');
  saToken = /token: (\S+)/.exec(await readFile(sa.path, 'utf8'))![1]!;
}, 120_000);

afterAll(async () => {
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The refusal a ServiceAccount without RBAC gets: 403 naming the ServiceAccount, i.e. its token was sent. */
async function expectRefusedAsReader(connection: KubeConnection): Promise<void> {
  const error = await new KubeClient(connection).get('/api/v1/namespaces/kube-system/secrets').catch((e: unknown) => e);
  expect(error).toBeInstanceOf(KubeApiError);
  expect((error as KubeApiError).code).toBe(403);
  expect((error as KubeApiError).message).toContain('"system:serviceaccount:conn:reader" cannot list resource "secrets"');
}

const isClientNode = (c: KubeConnection): boolean => 'loadFromDefault' in c;

describe('loadConnection', () => {
  it('reads a kubeconfig with a client certificate without client-node, and lists as the admin', async () => {
    const connection = await loadConnection({ KUBECONFIG: cp.kubeconfigPath });
    expect(isClientNode(connection)).toBe(false);
    const list = await new KubeClient(connection).get<{ items: { metadata: { name: string } }[] }>('/api/v1/namespaces');
    expect(list.items.map((n) => n.metadata.name)).toContain('kube-system');
  });

  it('sends a kubeconfig token', async () => {
    const { path } = await cp.kubeconfigForServiceAccount('conn', 'reader');
    const connection = await loadConnection({ KUBECONFIG: path });
    expect(isClientNode(connection)).toBe(false);
    await expectRefusedAsReader(connection);
  });

  it('resolves relative paths against the kubeconfig, found under HOME when KUBECONFIG is unset', async () => {
    const home = join(dir, 'home');
    await mkdir(join(home, '.kube', 'pki'), { recursive: true });
    await writeFile(join(home, '.kube', 'pki', 'ca.crt'), await readFile(cp.caCertPath));
    await writeFile(join(home, '.kube', 'token'), saToken);
    const config = [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "' + cp.server + '", certificate-authority: pki/ca.crt}}]',
      'users: [{name: u, user: {tokenFile: token}}]',
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      'current-context: x',
    ].join('\n');
    await writeFile(join(home, '.kube', 'config'), config);
    await expectRefusedAsReader(await loadConnection({ HOME: home }));
  });

  it('uses the in-cluster ServiceAccount mount outside any kubeconfig', async () => {
    const mount = join(dir, 'serviceaccount');
    await mkdir(mount, { recursive: true });
    await writeFile(join(mount, 'token'), saToken);
    await writeFile(join(mount, 'ca.crt'), await readFile(cp.caCertPath));
    const url = new URL(cp.server);
    const env = { HOME: join(dir, 'nowhere'), KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port };
    const connection = await loadConnection(env, mount);
    expect(isClientNode(connection)).toBe(false);
    await expectRefusedAsReader(connection);
    expect(inClusterSettings({ HOME: env.HOME }, mount)).toBeUndefined();
  });

  it('hands an exec plugin to client-node, which runs it', async () => {
    const plugin = join(dir, 'credential.sh');
    const credential = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: saToken } });
    await writeFile(plugin, `#!/bin/sh\necho '${credential}'\n`, { mode: 0o755 });
    const path = join(dir, 'exec.kubeconfig');
    await writeFile(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: c, cluster: {server: "${cp.server}", certificate-authority: ${cp.caCertPath}}}]`,
        `users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: ${plugin}, interactiveMode: Never}}}]`,
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
      ].join('\n'),
    );
    expect(kubeconfigSettings(path)).toBeUndefined();
    const connection = await loadConnection({ KUBECONFIG: path });
    expect(isClientNode(connection)).toBe(true);
    await expectRefusedAsReader(connection);
  });
});

describe('token files', () => {
  it('are read again once a minute old, so a rotated ServiceAccount token is picked up', async () => {
    const file = join(dir, 'rotating-token');
    await writeFile(file, 'not-a-token');
    let now = 0;
    const connection = connectionFrom({ server: cp.server, ca: await readFile(cp.caCertPath), tokenFile: file }, () => now);
    const refused = await new KubeClient(connection).get('/api/v1/namespaces').catch((e: unknown) => e);
    expect((refused as KubeApiError).code).toBe(401);
    await writeFile(file, saToken);
    now = 59_000;
    expect(((await new KubeClient(connection).get('/api/v1/namespaces').catch((e: unknown) => e)) as KubeApiError).code).toBe(401);
    now = 60_000;
    await expectRefusedAsReader(connection);
  });
});
