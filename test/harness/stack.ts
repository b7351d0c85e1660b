// The whole Portcullis path on a test control plane, as a cluster runs it: the examples applied,
// operator replica(s) and a live token server (`--registry`) as child processes under given
// ServiceAccount kubeconfigs, and a Distribution registry trusting the bundle the operator publishes.
// The CRDs and the RBAC the kubeconfigs are bound to are the caller's to apply first.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exampleManifests, publishedBundle } from '../../local/demo.js';
import { kubectl, startControlPlane, type ControlPlane, type ControlPlaneOptions } from '../../local/controlPlane.js';
import { httpsRequest } from '../../local/https.js';
import { repoRoot } from '../../local/tools.js';
import { cliPath } from './portcullis.js';
import { startProcess, waitFor, type ManagedProcess } from '../../local/process.js';
import { startRegistry, type RunningRegistry } from '../../local/registry.js';
import { createTestTLS, type TestTLS } from '../../local/tls.js';

/** The passwords of the users in examples/. */
export const EXAMPLE_PASSWORDS = { alice: 'alice-example-password', bob: 'bob-example-password', 'ci-bot': 'ci-bot-example-password' } as const;
export const EXAMPLE_SERVICE = 'registry.example.com';

export interface StackOptions {
  cp: ControlPlane;
  dir: string;
  operatorKubeconfig: string;
  tokenServerKubeconfig: string;
  leaseNamespace: string;
  operatorReplicas: number;
}

export interface Stack {
  tls: TestTLS;
  registry: RunningRegistry;
  tokenServer: ManagedProcess;
  /** https://localhost:PORT */
  tokenUrl: string;
  operators: ManagedProcess[];
  /** The actions a fresh token grants `user` on `repo` (pull,push,delete asked for); [] when refused. */
  granted(user: string, password: string, repo: string): Promise<string[]>;
  /** Recent output of every component, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

const LISTENING = /listening on https:\/\/[^:]+:(\d+)/;

export async function startStack(options: StackOptions): Promise<Stack> {
  const { cp, dir } = options;
  const tls = await createTestTLS(join(dir, 'tls'));
  const ca = await readFile(tls.caCertPath);
  const operators: ManagedProcess[] = [];
  let tokenServer: ManagedProcess | undefined;
  let registry: RunningRegistry | undefined;
  const logs = (): string => [...operators, ...(tokenServer ? [tokenServer] : [])].map((p) => `--- ${p.name} ---\n${p.output().slice(-3000)}`).join('\n');
  const stop = async (): Promise<void> => {
    await registry?.stop();
    await tokenServer?.stop();
    for (const o of operators) await o.stop();
  };

  let tokenUrl = '';
  const granted = async (user: string, password: string, repo: string): Promise<string[]> => {
    const auth = Buffer.from(`${user}:${password}`).toString('base64');
    const res = await httpsRequest(`${tokenUrl}/token?service=${EXAMPLE_SERVICE}&scope=repository:${repo}:pull,push,delete`, ca, {
      headers: { authorization: `Basic ${auth}` },
    });
    if (res.status !== 200) return [];
    const token = (JSON.parse(res.text) as { token: string }).token;
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { access: { actions: string[] }[] };
    return claims.access[0]?.actions ?? [];
  };

  try {
    // A freshly established CRD may answer 429 for a moment; apply until it is accepted.
    const manifests = await exampleManifests();
    await waitFor('examples applied', async () => (await kubectl(cp, ['apply', '-f', '-'], manifests)).code === 0, 30_000);

    for (let i = 0; i < options.operatorReplicas; i++) {
      operators.push(
        startProcess(
          `operator-${i}`,
          process.execPath,
          [cliPath, 'operator', '--lease-namespace', options.leaseNamespace, '--registry-namespaces', 'registry', '--log-level', 'info'],
          {
            env: { ...process.env, KUBECONFIG: options.operatorKubeconfig },
          },
        ),
      );
    }
    const bundle = await publishedBundle(cp, logs);
    await writeFile(join(dir, 'bundle.pem'), bundle);

    tokenServer = startProcess(
      'token-server',
      process.execPath,
      [cliPath, 'token-server', '--registry', 'registry/main', '--listen', '127.0.0.1:0', '--tls-cert', tls.serverCertPath, '--tls-key', tls.serverKeyPath],
      {
        env: { ...process.env, KUBECONFIG: options.tokenServerKubeconfig },
      },
    );
    const ts = tokenServer;
    await waitFor('token-server listening', async () => LISTENING.test(ts.output()), 30_000, logs);
    tokenUrl = `https://localhost:${LISTENING.exec(ts.output())![1]}`;
    await waitFor(
      'the token server to serve the snapshot',
      async () => (await granted('alice', EXAMPLE_PASSWORDS.alice, 'team-a/app')).includes('push'),
      60_000,
      logs,
    );

    registry = await startRegistry({
      flavor: 'v3',
      tls: { cert: tls.serverCertPath, key: tls.serverKeyPath },
      auth: { realm: `${tokenUrl}/token`, service: EXAMPLE_SERVICE, issuer: 'portcullis', rootCertBundle: join(dir, 'bundle.pem') },
    });
    return { tls, registry, tokenServer: ts, tokenUrl, operators, granted, logs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** What every setup of the components needs first: the CRDs (established), the examples' namespaces and deploy/rbac. */
export async function applyClusterBase(cp: ControlPlane): Promise<void> {
  for (const args of [
    ['apply', '-k', join(repoRoot, 'crds')],
    ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s'],
    ['apply', '-f', join(repoRoot, 'examples', '00-namespaces.yaml')],
    ['apply', '-f', join(repoRoot, 'deploy', 'rbac')],
  ]) {
    const r = await kubectl(cp, args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  }
}

/**
 * The usual e2e setup: a control plane with the CRDs, the examples' namespaces and deploy/rbac applied,
 * and the stack running under deploy/rbac's ServiceAccounts. Stop both when done.
 */
export async function startExampleStack(options: {
  dir: string;
  operatorReplicas: number;
  controlPlane?: ControlPlaneOptions;
}): Promise<{ cp: ControlPlane; stack: Stack }> {
  const cp = await startControlPlane(options.controlPlane ?? {});
  try {
    await applyClusterBase(cp);
    const stack = await startStack({
      cp,
      dir: options.dir,
      operatorKubeconfig: (await cp.kubeconfigForServiceAccount('portcullis-system', 'portcullis-operator')).path,
      tokenServerKubeconfig: (await cp.kubeconfigForServiceAccount('registry', 'portcullis-token-server')).path,
      leaseNamespace: 'portcullis-system',
      operatorReplicas: options.operatorReplicas,
    });
    return { cp, stack };
  } catch (error) {
    await cp.stop();
    throw error;
  }
}
