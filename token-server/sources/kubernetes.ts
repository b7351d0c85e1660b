// Policy and keys read live from the cluster for `portcullis token-server --registry NAMESPACE/NAME`.
// Watches, in the Registry's namespace only (the token server's Role allows nothing else):
//   ConfigMaps and Secrets labelled portcullis.dev/registry=NAME: the snapshot and credentials objects the
//     operator writes (main objects with a manifest, plus parts; see operator/chunked.ts);
//   the Secret portcullis-NAME-signing (by field selector): signing.json.
// A new policy is assembled only when the snapshot manifest, the credentials manifest and every part
// they list have arrived with matching hashes; then it is swapped in whole. Watch errors, a missing
// object or a malformed one never clear what is served: the last good state stays until a better one.

import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { assembleChunks } from '../../operator/chunked.js';
import { mainValues, partBytes, type StoredObject } from '../../operator/controllers/publish.js';
import { CREDENTIALS_FILE, credentialsSecretName, SNAPSHOT_FILE, snapshotConfigMapName } from '../../operator/controllers/registry.js';
import { Informer, type InformerEvent } from '../../operator/informer.js';
import { Labels } from '../../operator/kube/apply.js';
import { KubeClient, Resources } from '../../operator/kube/request.js';
import { KEY_FILES } from '../../policy/signing.js';
import { parseCredentials, parseSnapshot } from '../../policy/snapshot-format.js';
import { parseSigningKeySet } from './key-set.js';
import { buildPolicyState } from './policy-state.js';
import { PushedSource } from './pushed.js';
import type { KeyState, PolicyState } from './types.js';

export function signingSecretName(registry: string): string {
  return `portcullis-${registry}-signing`;
}

export interface KubernetesSourceOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  registry: string;
  log?: Logger;
  now?: () => Date;
  /** Informer relist period. */
  resyncMs?: number;
}

export interface KubernetesSources {
  policy: PushedSource<PolicyState>;
  keys: PushedSource<KeyState>;
  /** Starts the watches; resolves when both states have loaded once (or waits on). */
  start(): Promise<void>;
  /** Resolves once a policy and keys are loaded. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

type Stored = StoredObject & { metadata: { name: string; namespace?: string; resourceVersion?: string } };

export function kubernetesSources(options: KubernetesSourceOptions): KubernetesSources {
  const { kubeConfig: kc, namespace, registry } = options;
  const now = options.now ?? (() => new Date());
  const client = new KubeClient(kc);
  const common = { kc, client, namespace, ...(options.resyncMs ? { resyncMs: options.resyncMs } : {}) };
  const selector = `${Labels.registry}=${registry}`;
  const configMaps = new Informer<Stored>({ ...common, resource: Resources.configMaps, labelSelector: selector });
  const secrets = new Informer<Stored>({ ...common, resource: Resources.secrets, labelSelector: selector });
  const signing = new Informer<Stored>({ ...common, resource: Resources.secrets, fieldSelector: `metadata.name=${signingSecretName(registry)}` });
  const policy = new PushedSource<PolicyState>();
  const keys = new PushedSource<KeyState>();
  let loadedPolicy = '';
  let loadedKeys = '';
  const lastRejected = { policy: '', keys: '' };

  const reject = (which: 'policy' | 'keys', reason: string): void => {
    // The same complaint on every event would flood the log.
    if (lastRejected[which] === reason) return;
    lastRejected[which] = reason;
    options.log?.warn({ registry: `${namespace}/${registry}`, source: which, reason }, `${which} not updated; serving the last good one`);
    (which === 'policy' ? policy : keys).reject(reason);
  };

  const assemble = (informer: Informer<Stored>, kind: 'ConfigMap' | 'Secret', mainName: string) => {
    const main = informer.get(`${namespace}/${mainName}`);
    if (!main) return { missing: `${kind} ${namespace}/${mainName} not found` } as const;
    return assembleChunks(mainValues(kind, main), (name) => {
      const part = informer.get(`${namespace}/${name}`);
      return part && partBytes(kind, part);
    });
  };

  const reloadPolicy = (): void => {
    if (!configMaps.hasSynced || !secrets.hasSynced) return;
    try {
      const snapshot = assemble(configMaps, 'ConfigMap', snapshotConfigMapName(registry));
      if ('missing' in snapshot) return reject('policy', snapshot.missing);
      const credentials = assemble(secrets, 'Secret', credentialsSecretName(registry));
      if ('missing' in credentials) return reject('policy', credentials.missing);
      // Parts still on their way: the next event completes the set.
      if (!snapshot.complete || !credentials.complete) return;
      const version = `${snapshot.generation}/${credentials.generation}`;
      if (version === loadedPolicy) return;
      const snapshotText = snapshot.files[SNAPSHOT_FILE];
      const credentialsText = credentials.files[CREDENTIALS_FILE];
      if (snapshotText === undefined || credentialsText === undefined) return reject('policy', 'manifest lists no snapshot.json or credentials.json');
      const state = buildPolicyState(parseSnapshot(snapshotText), parseCredentials(credentialsText), now());
      loadedPolicy = version;
      lastRejected.policy = '';
      policy.set(state);
    } catch (error) {
      reject('policy', error instanceof Error ? error.message : String(error));
    }
  };

  const reloadKeys = (): void => {
    if (!signing.hasSynced) return;
    const secret = signing.get(`${namespace}/${signingSecretName(registry)}`);
    if (!secret) return reject('keys', `Secret ${namespace}/${signingSecretName(registry)} not found`);
    const version = secret.metadata.resourceVersion ?? '';
    if (version !== '' && version === loadedKeys) return;
    const encoded = secret.data?.[KEY_FILES.signing];
    if (encoded === undefined) return reject('keys', `Secret ${namespace}/${signingSecretName(registry)} has no ${KEY_FILES.signing}`);
    try {
      const set = parseSigningKeySet(Buffer.from(encoded, 'base64').toString('utf8'));
      loadedKeys = version;
      lastRejected.keys = '';
      keys.set({ set, loadedAt: now() });
    } catch (error) {
      reject('keys', error instanceof Error ? error.message : String(error));
    }
  };

  const onEvent = (reload: () => void, name: string) => (event: InformerEvent<Stored>) => {
    if (event.type === 'error') options.log?.warn({ resource: name, attempt: event.attempt, err: event.error.message }, 'watch failed; serving the last good state');
    if (event.type === 'added' || event.type === 'updated' || event.type === 'deleted' || event.type === 'relisted') reload();
  };
  configMaps.on(onEvent(reloadPolicy, 'configmaps'));
  secrets.on(onEvent(reloadPolicy, 'secrets'));
  signing.on(onEvent(reloadKeys, 'signing secret'));

  const waitFor = <T>(source: PushedSource<T>): Promise<void> =>
    source.current() !== undefined
      ? Promise.resolve()
      : new Promise((resolve) => {
          const off = source.onChange(() => {
            off();
            resolve();
          });
        });

  return {
    policy,
    keys,
    async start() {
      configMaps.start();
      secrets.start();
      signing.start();
      await Promise.all([configMaps.waitForSync(), secrets.waitForSync(), signing.waitForSync()]);
    },
    ready: () => Promise.all([waitFor(policy), waitFor(keys)]).then(() => undefined),
    async close() {
      await Promise.all([configMaps.stop(), secrets.stop(), signing.stop()]);
      client.close();
    },
  };
}
