// `portcullis activity` with its aggregated API on a test control plane, as a cluster runs it: the RBAC
// of deploy/activity/rbac.yaml, the process (the built CLI) under that ServiceAccount with a serving
// certificate for the APIService's Service name, and deploy/activity/apiservice.yaml registered with
// the process on loopback (local/aggregatedApi.ts) and Available. The CRDs are the caller's to apply.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aggregatedServerName, apiServiceFrom, registerLoopbackApi } from '../../local/aggregatedApi.js';
import { kubectl, type ControlPlane } from '../../local/controlPlane.js';
import { createCA, issueCert } from '../../local/pki.js';
import { startProcess, waitFor, type ManagedProcess } from '../../local/process.js';
import { repoRoot } from '../../local/tools.js';
import { cliPath } from './portcullis.js';

export const ACTIVITY_RBAC = join(repoRoot, 'deploy', 'activity', 'rbac.yaml');
export const ACTIVITY_APISERVICE = join(repoRoot, 'deploy', 'activity', 'apiservice.yaml');

export interface ActivityApi {
  process: ManagedProcess;
  /** https://127.0.0.1:PORT: the aggregated API's own listener, for requests that bypass the kube-apiserver. */
  apiUrl: string;
  /** The CA of the API listener's certificate (PEM). */
  caCert: string;
  /** A name the certificate is valid for, to send as TLS servername when connecting to apiUrl directly. */
  serverName: string;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

const API_LISTENING = /activity api listening on (https:\/\/\S+)/;

export async function startActivityApi(cp: ControlPlane, options: { dir: string; database: string; extraArgs?: string[] }): Promise<ActivityApi> {
  const applied = await kubectl(cp, ['apply', '-f', ACTIVITY_RBAC]);
  if (applied.code !== 0) throw new Error(`kubectl apply ${ACTIVITY_RBAC}: ${applied.stderr}`);
  const serviceAccount = await cp.kubeconfigForServiceAccount('portcullis-system', 'portcullis-activity');
  const apiService = apiServiceFrom(await readFile(ACTIVITY_APISERVICE, 'utf8'));
  const serverName = aggregatedServerName(apiService);
  const ca = await createCA(options.dir, 'activity-api');
  const serving = await issueCert(ca, options.dir, { name: 'activity-api', commonName: serverName, dnsNames: [serverName, 'localhost'], usage: 'server' });
  const keyFile = join(options.dir, 'activity.key');
  await writeFile(keyFile, randomBytes(32).toString('base64url'), { mode: 0o600 });

  const proc = startProcess(
    'activity',
    process.execPath,
    [
      cliPath,
      'activity',
      '--database',
      options.database,
      '--activity-key-file',
      keyFile,
      '--events-listen',
      '127.0.0.1:0',
      '--listen',
      '127.0.0.1:0',
      '--tls-cert',
      serving.certPath,
      '--tls-key',
      serving.keyPath,
      ...(options.extraArgs ?? []),
    ],
    { env: { ...process.env, KUBECONFIG: serviceAccount.path } },
  );
  const stop = async (): Promise<number | null> => {
    // Past the activity server's own grace for requests in flight (10 s), as the kubelet's 30 s is: a
    // request it is still receiving may hold the stop that long, and the exit must still be clean.
    await proc.stop(15_000);
    return proc.child.exitCode;
  };
  try {
    await waitFor(
      'activity api listening line',
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`activity exited with ${proc.child.exitCode}`);
        return API_LISTENING.test(proc.output());
      },
      30_000,
      () => proc.output(),
    );
    const apiUrl = API_LISTENING.exec(proc.output())![1]!;
    const caCert = await readFile(ca.certPath, 'utf8');
    await registerLoopbackApi(cp, { apiService, port: Number(new URL(apiUrl).port), caBundle: caCert });
    return { process: proc, apiUrl, caCert, serverName, stop };
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n--- activity ---\n${proc.output().slice(-4000)}`, { cause: error });
  }
}
