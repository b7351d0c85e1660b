// More than one bundled registry replica: Distribution signs a blob upload's state with http.secret, and a
// replica without one makes up its own, so an upload begun on one pod and continued on another is refused.
// The chart gives every replica one generated secret (kept across upgrades with `lookup`) or the user's.
// Proven on two real registries sharing storage, the way two pods share a ReadWriteMany claim, and on a
// real API server for the install/upgrade.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { startRegistry, type RunningRegistry } from '../../local/registry.js';
import { chartDir, find, helm, installChart, one, podSpec, render, type K8sObject } from '../support/helm-chart.js';

const NS = 'portcullis-system';
const SECRET = 'portcullis-registry-http';
const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
const secretEnv = (objects: K8sObject[]) =>
  podSpec(one(objects, 'Deployment', 'portcullis-registry')).containers[0]?.env?.find((e) => e.name === 'REGISTRY_HTTP_SECRET');

describe('chart: one upload secret for every registry replica', () => {
  it('generates a 64-character secret in a Secret and hands it to the registry by reference, never in the pod spec', async () => {
    const objects = await render('portcullis', NS, ['--set', 'registry.enabled=true', '--set', 'registry.replicas=2']);
    const generated = decode((one(objects, 'Secret', SECRET).data as { secret: string }).secret);
    expect(generated).toMatch(/^[A-Za-z0-9]{64}$/);
    expect(secretEnv(objects)).toEqual({ name: 'REGISTRY_HTTP_SECRET', valueFrom: { secretKeyRef: { name: SECRET, key: 'secret' } } });
    expect(JSON.stringify(one(objects, 'Deployment', 'portcullis-registry'))).not.toContain(generated);
  });

  it('registry.existingHttpSecret: that Secret is used and none is generated', async () => {
    const objects = await render('portcullis', NS, ['--set', 'registry.enabled=true', '--set', 'registry.existingHttpSecret=mine']);
    expect(find(objects, 'Secret', SECRET)).toEqual([]);
    expect(secretEnv(objects)?.valueFrom).toEqual({ secretKeyRef: { name: 'mine', key: 'secret' } });
  });

  it('without the bundled registry nothing is rendered', async () => {
    expect(find(await render('portcullis', NS), 'Secret', SECRET)).toEqual([]);
  });
});

describe('chart: the upload secret on a real API server', () => {
  let cp: ControlPlane;
  const secretOf = async (): Promise<string> => {
    const r = await kubectl(cp, ['-n', NS, 'get', 'secret', SECRET, '-o', 'jsonpath={.data.secret}']);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    cp = await startControlPlane();
  }, 180_000);
  afterAll(async () => {
    await cp?.stop();
  });

  it('an upgrade keeps the secret generated at install (uploads in flight survive it)', async () => {
    const install = await installChart(
      (a) => helm(a, cp.kubeconfigPath),
      ['portcullis', chartDir, '-n', NS, '--create-namespace', '--set', 'registry.enabled=true'],
      () => kubectl(cp, ['get', 'registries', '-A', '-o', 'name']).then((r) => r.code === 0),
    );
    expect(install.code, install.stderr).toBe(0);
    const installed = await secretOf();
    expect(decode(installed)).toMatch(/^[A-Za-z0-9]{64}$/);
    const upgrade = await helm(['upgrade', 'portcullis', chartDir, '-n', NS, '--reuse-values', '--set', 'registry.replicas=2'], cp.kubeconfigPath);
    expect(upgrade.code, upgrade.stderr).toBe(0);
    expect(await secretOf()).toBe(installed);
  });
});

describe('two real registries on one storage, as two replicas behind a Service', () => {
  const started: RunningRegistry[] = [];
  let storageDir: string;
  const blob = Buffer.from('one layer, begun on one replica and finished on the other\n');
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;

  beforeAll(async () => {
    storageDir = await mkdtemp(join(tmpdir(), 'portcullis-replicas-'));
  });
  afterAll(async () => {
    await Promise.all(started.map((r) => r.stop()));
    await rm(storageDir, { recursive: true, force: true });
  });

  const pair = async (secretA: string, secretB: string): Promise<[RunningRegistry, RunningRegistry]> => {
    const a = await startRegistry({ flavor: 'v3', storageDir, env: { REGISTRY_HTTP_SECRET: secretA } });
    started.push(a);
    const b = await startRegistry({ flavor: 'v3', storageDir, env: { REGISTRY_HTTP_SECRET: secretB } });
    started.push(b);
    return [a, b];
  };

  /** Starts an upload on `first`, sends the bytes and the digest to `second` at the Location `first` gave. */
  const uploadAcross = async (first: RunningRegistry, second: RunningRegistry, repo: string) => {
    const begun = await fetch(`${first.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    expect(begun.status).toBe(202);
    const location = new URL(begun.headers.get('location')!, first.url);
    const onSecond = new URL(location.pathname + location.search, second.url);
    onSecond.searchParams.set('digest', digest);
    return fetch(onSecond, { method: 'PUT', body: blob, headers: { 'content-type': 'application/octet-stream' } });
  };

  it('with the same secret, the second replica finishes the upload the first began', async () => {
    const [a, b] = await pair('the-same-64-characters-in-both-replicas', 'the-same-64-characters-in-both-replicas');
    const finished = await uploadAcross(a, b, 'team/shared');
    expect(finished.status, await finished.clone().text()).toBe(201);
    expect((await fetch(`${a.url}/v2/team/shared/blobs/${digest}`, { method: 'HEAD' })).status).toBe(200);
  });

  it('with a secret each (what a replica without one makes up), the second refuses it: BLOB_UPLOAD_INVALID', async () => {
    const [a, b] = await pair('secret-of-replica-a', 'secret-of-replica-b');
    const refused = await uploadAcross(a, b, 'team/split');
    // Distribution answers 404 for an upload whose signed state it cannot verify.
    expect(refused.status).toBe(404);
    expect(await refused.json()).toMatchObject({ errors: [{ code: 'BLOB_UPLOAD_INVALID', detail: 'invalid secret' }] });
  });
});
