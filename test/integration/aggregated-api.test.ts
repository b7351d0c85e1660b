// The front proxy of the test control plane: an aggregated API served by a process on loopback is
// registered (ExternalName Service + APIService), the kube-apiserver authenticates a user's
// client-certificate kubeconfig and forwards the request with the front-proxy certificate and the
// X-Remote-* headers, and the front-proxy configuration is published where aggregated servers read it.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aggregatedServerName, registerLoopbackApi, type ApiServiceManifest } from '../../local/aggregatedApi.js';
import { FRONT_PROXY_CLIENT, kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { createCA, issueCert } from '../../local/pki.js';
import { run } from '../../local/process.js';

const apiService: ApiServiceManifest = {
  apiVersion: 'apiregistration.k8s.io/v1',
  kind: 'APIService',
  metadata: { name: 'v1.echo.harness.test' },
  spec: { group: 'echo.harness.test', version: 'v1', service: { namespace: 'echo-system', name: 'echo' }, groupPriorityMinimum: 1000, versionPriority: 15 },
};

const resourceList = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: 'echo.harness.test/v1',
  resources: [{ name: 'echoes', singularName: 'echo', namespaced: true, kind: 'Echo', verbs: ['get', 'list'] }],
};

interface Seen {
  path: string;
  peerCN: string | string[] | undefined;
  user: string | undefined;
  groups: string | string[] | undefined;
}

let cp: ControlPlane;
let dir: string;
let server: Server;
const seen: Seen[] = [];

beforeAll(async () => {
  cp = await startControlPlane();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-aggregated-'));
  const ca = await createCA(dir, 'echo');
  const serving = await issueCert(ca, dir, { name: 'echo', commonName: 'echo', dnsNames: [aggregatedServerName(apiService), 'localhost'], usage: 'server' });
  // What an aggregated server does at its simplest: ask for a client certificate, trust only the front
  // proxy's CA, and report what arrived.
  server = createServer(
    {
      cert: await readFile(serving.certPath),
      key: await readFile(serving.keyPath),
      ca: await readFile(cp.frontProxy.caCertPath),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      const peer = socket.authorized ? socket.getPeerCertificate() : undefined;
      const path = (req.url ?? '').split('?')[0] ?? '';
      seen.push({ path, peerCN: peer?.subject?.CN, user: req.headers['x-remote-user'] as string | undefined, groups: req.headers['x-remote-group'] });
      res.setHeader('content-type', 'application/json');
      if (path === '/apis/echo.harness.test/v1') res.end(JSON.stringify(resourceList));
      else if (path === '/apis') res.end(JSON.stringify({ kind: 'APIGroupList', apiVersion: 'v1', groups: [] }));
      else if (path.startsWith('/apis/echo.harness.test/v1/namespaces/')) {
        res.end(JSON.stringify({ kind: 'EchoList', apiVersion: 'echo.harness.test/v1', metadata: {}, items: [] }));
      } else {
        res.statusCode = 404;
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404, reason: 'NotFound', message: 'not found' }));
      }
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await registerLoopbackApi(cp, { apiService, port: (server.address() as AddressInfo).port, caBundle: await readFile(ca.certPath, 'utf8') });
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('aggregated API on loopback', () => {
  it('publishes the front-proxy settings in kube-system/extension-apiserver-authentication', async () => {
    const r = await kubectl(cp, ['get', 'configmap', '-n', 'kube-system', 'extension-apiserver-authentication', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const data = (JSON.parse(r.stdout) as { data: Record<string, string> }).data;
    expect(data['requestheader-client-ca-file']).toBe(await readFile(cp.frontProxy.caCertPath, 'utf8'));
    expect(JSON.parse(data['requestheader-allowed-names'] ?? '')).toEqual([FRONT_PROXY_CLIENT]);
    expect(JSON.parse(data['requestheader-username-headers'] ?? '')).toEqual(['X-Remote-User']);
    expect(JSON.parse(data['requestheader-group-headers'] ?? '')).toEqual(['X-Remote-Group']);
    expect(JSON.parse(data['requestheader-extra-headers-prefix'] ?? '')).toEqual(['X-Remote-Extra-']);
  });

  it("forwards a client-certificate user's request with the front-proxy certificate and X-Remote-User/Group", async () => {
    const carol = await cp.kubeconfigForUser('carol', ['auditors']);
    // The aggregator authorizes before it proxies: carol needs RBAC on the aggregated resource.
    for (const args of [
      ['create', 'clusterrole', 'echo-reader', '--verb=list', '--resource=echoes.echo.harness.test'],
      ['create', 'rolebinding', 'carol-echo', '-n', 'default', '--clusterrole=echo-reader', '--user=carol'],
    ]) {
      const r = await kubectl(cp, args);
      expect(r.code, r.stderr).toBe(0);
    }
    seen.length = 0;
    const r = await run('kubectl', ['--kubeconfig', carol.path, 'get', '--raw', '/apis/echo.harness.test/v1/namespaces/default/echoes']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'EchoList' });
    const request = seen.find((s) => s.path === '/apis/echo.harness.test/v1/namespaces/default/echoes');
    expect(request).toMatchObject({ peerCN: FRONT_PROXY_CLIENT, user: 'carol' });
    expect([request?.groups].flat().join(',')).toContain('auditors');
  });

  it('refuses a user without RBAC at the kube-apiserver, before the aggregated server is asked', async () => {
    const dave = await cp.kubeconfigForUser('dave');
    seen.length = 0;
    const r = await run('kubectl', ['--kubeconfig', dave.path, 'get', '--raw', '/apis/echo.harness.test/v1/namespaces/default/echoes']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/forbidden/i);
    expect(seen.filter((s) => s.path.includes('/namespaces/'))).toEqual([]);
  });
});
