// Policy and keys read live from the cluster for `portcullis token-server --registry NAMESPACE/NAME`.
// In the Registry's namespace only, and only what the token server needs (its Role names exactly these):
//   ConfigMaps labelled portcullis.dev/registry=NAME: the snapshot (main object with a manifest, plus
//     parts; one snapshot.json or shards, snapshot-reader.ts), watched by label: ConfigMaps hold nothing secret;
//   the Secret portcullis-NAME-credentials, watched by name, and its part Secrets
//     portcullis-NAME-credentials-<slot>, read by name when the manifest lists them (wire/names.ts);
//   the Secret portcullis-NAME-signing, watched by name: signing.json.
// It never lists Secrets: the CA Secret (with the CA's private key) and users' password Secrets live in
// the same namespace, and the token server is the internet-facing process.
// A new policy is assembled only when the snapshot manifest, the credentials manifest and every part
// they list have arrived with matching hashes; then it is swapped in whole. Watch errors, a missing
// object or a malformed one never clear what is served: the last good state stays until a better one.

import type { KubeConnection } from '../../kube/connection.js';
import type { Logger } from 'pino';
import { Informer, type InformerEvent } from '../../kube/informer.js';
import { isNotFound, KubeClient, objectPath, Resources } from '../../kube/request.js';
import { parseCredentials } from '../../policy/snapshot-format.js';
import type { Credentials } from '../../policy/types.js';
import { assembleChunks, mainValues, openChunks, parseManifest, partBytes, sha256Hex, MANIFEST_KEY, type StoredObject } from '../../wire/chunked.js';
import { CREDENTIALS_FILE, KEY_FILES } from '../../wire/files.js';
import { Labels } from '../../wire/labels.js';
import { credentialsSecretName, signingSecretName, snapshotConfigMapName, tokenServerSecretNames } from '../../wire/names.js';
import { parseSigningKeySet } from '../../wire/signing-key-set.js';
import { buildPolicyState, type StoredCredentialMemo } from './policy-state.js';
import { PushedSource } from './pushed.js';
import { SnapshotReader } from './snapshot-reader.js';
import type { KeyState, PolicyState } from './types.js';

export interface KubernetesSourceOptions {
  kubeConfig: KubeConnection;
  namespace: string;
  registry: string;
  log?: Logger;
  now?: () => Date;
  /** Informer relist period. */
  resyncMs?: number;
  /** First retry after a failed part read; doubles up to 30 s. Default 500 ms. */
  retryMs?: number;
}

export interface KubernetesSources {
  policy: PushedSource<PolicyState>;
  keys: PushedSource<KeyState>;
  /** Starts the watches; resolves when they have listed once. */
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
  const byName = (name: string) => new Informer<Stored>({ ...common, resource: Resources.secrets, fieldSelector: `metadata.name=${name}` });
  const configMaps = new Informer<Stored>({ ...common, resource: Resources.configMaps, labelSelector: `${Labels.registry}=${registry}` });
  const credentialsMain = byName(credentialsSecretName(registry));
  const signing = byName(signingSecretName(registry));
  const readable = new Set(tokenServerSecretNames(registry));
  const policy = new PushedSource<PolicyState>();
  const keys = new PushedSource<KeyState>();
  /** Part bytes already read, by name and content hash: an unchanged part is not read again. */
  let partCache = new Map<string, Buffer>();
  const snapshots = new SnapshotReader();
  /** The credentials file last read, by its content hash. */
  let credentialsParsed: { sha256: string; value: Credentials } | undefined;
  /** Checked credentials by stored hash, reused across generations (policy-state.ts). */
  const storedCredentials: StoredCredentialMemo = new Map();
  let loadedPolicy = '';
  let loadedKeys = '';
  let closed = false;
  const lastRejected = { policy: '', keys: '' };

  const reject = (which: 'policy' | 'keys', reason: string): void => {
    // The same complaint on every event would flood the log.
    if (lastRejected[which] === reason) return;
    lastRejected[which] = reason;
    options.log?.warn({ registry: `${namespace}/${registry}`, source: which, reason }, `${which} not updated; serving the last good one`);
    (which === 'policy' ? policy : keys).reject(reason);
  };

  /** Reads the credential parts a manifest lists (by name, from the allowed slots only). */
  const readCredentialParts = async (mainData: Record<string, string>): Promise<Map<string, Buffer>> => {
    const manifest = parseManifest(mainData[MANIFEST_KEY] ?? '');
    const wanted = Object.values(manifest.files).flatMap((f) => f.parts);
    const next = new Map<string, Buffer>();
    for (const part of wanted) {
      if (!readable.has(part.name)) throw new Error(`the credentials manifest names ${JSON.stringify(part.name)}, which is not a credentials part`);
      const cacheKey = `${part.name}@${part.sha256}`;
      let bytes = partCache.get(cacheKey);
      if (bytes === undefined) {
        try {
          const secret = await client.get<Stored>(objectPath(Resources.secrets, namespace, part.name));
          bytes = partBytes('Secret', secret);
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      }
      // A part caught mid-rewrite (or not there yet) does not match; the next manifest event tries again.
      if (bytes !== undefined && sha256Hex(bytes) === part.sha256) next.set(cacheKey, bytes);
    }
    partCache = next;
    return new Map([...next].map(([k, v]) => [k.slice(0, k.lastIndexOf('@')), v]));
  };

  let reloading: Promise<void> | undefined;
  let again = false;
  let retryMs = options.retryMs ?? 500;
  let retryTimer: NodeJS.Timeout | undefined;

  const assemblePolicy = async (): Promise<'done' | 'retry'> => {
    if (!configMaps.hasSynced || !credentialsMain.hasSynced) return 'done';
    const snapshotMain = configMaps.get(`${namespace}/${snapshotConfigMapName(registry)}`);
    if (!snapshotMain) return (reject('policy', `ConfigMap ${namespace}/${snapshotConfigMapName(registry)} not found`), 'done');
    const credentialsObject = credentialsMain.get(`${namespace}/${credentialsSecretName(registry)}`);
    if (!credentialsObject) return (reject('policy', `Secret ${namespace}/${credentialsSecretName(registry)} not found`), 'done');
    const snapshotValues = mainValues('ConfigMap', snapshotMain);
    const snapshotPart = (name: string): Buffer | undefined => {
      const part = configMaps.get(`${namespace}/${name}`);
      return part && partBytes('ConfigMap', part);
    };
    // Shards the reader already holds are neither looked for nor unzipped again.
    const snapshot = openChunks(snapshotValues, snapshotPart, snapshots.known);
    // Parts still on their way: the next event completes the set.
    if (!snapshot.complete) return 'done';
    const credentialsData = mainValues('Secret', credentialsObject);
    const credentialsManifest = parseManifest(credentialsData[MANIFEST_KEY] ?? '');
    const version = `${snapshot.generation}/${credentialsManifest.generation}`;
    if (version === loadedPolicy) return 'done';
    const credentialsSha = credentialsManifest.files[CREDENTIALS_FILE]?.sha256;
    if (credentialsSha === undefined) return (reject('policy', `the credentials manifest lists no ${CREDENTIALS_FILE}`), 'done');
    // A grant change leaves the credentials as they were: neither read, unzipped nor parsed again.
    if (credentialsSha !== credentialsParsed?.sha256) {
      const parts = await readCredentialParts(credentialsData);
      const credentials = assembleChunks(credentialsData, (name) => parts.get(name));
      if (!credentials.complete) return 'retry';
      credentialsParsed = { sha256: credentialsSha, value: parseCredentials(credentials.files[CREDENTIALS_FILE] ?? '') };
    }
    const hashes = Object.fromEntries(Object.entries(parseManifest(snapshotValues[MANIFEST_KEY] ?? '').files).map(([file, f]) => [file, f.sha256]));
    // Shards are unzipped one at a time as the reader parses them (openChunks): never every text at once.
    let parsed = snapshots.read(hashes, snapshot.file);
    if (parsed === 'reread') {
      const whole = openChunks(snapshotValues, snapshotPart);
      if (!whole.complete) return 'done';
      parsed = snapshots.read(hashes, whole.file);
      if (parsed === 'reread') throw new Error('snapshot shards missing after a full read');
    }
    // The served state's index is patched with the changed shards' entries, not built again.
    const state = buildPolicyState(parsed, credentialsParsed.value, now(), storedCredentials, policy.current());
    loadedPolicy = version;
    lastRejected.policy = '';
    policy.set(state);
    return 'done';
  };

  // One reload at a time; events during one ask for another. Failed part reads retry with backoff.
  const reloadPolicy = (): void => {
    if (closed) return;
    if (reloading) {
      again = true;
      return;
    }
    reloading = (async () => {
      do {
        again = false;
        let outcome: 'done' | 'retry';
        try {
          outcome = await assemblePolicy();
        } catch (error) {
          reject('policy', error instanceof Error ? error.message : String(error));
          outcome = 'retry';
        }
        if (outcome === 'retry' && !again && !closed) {
          clearTimeout(retryTimer);
          retryTimer = setTimeout(reloadPolicy, retryMs);
          retryTimer.unref();
          retryMs = Math.min(retryMs * 2, 30_000);
        } else if (outcome === 'done') retryMs = options.retryMs ?? 500;
      } while (again && !closed);
    })().finally(() => (reloading = undefined));
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
    if (event.type === 'error')
      options.log?.warn({ resource: name, attempt: event.attempt, err: event.error.message }, 'watch failed; serving the last good state');
    if (event.type === 'added' || event.type === 'updated' || event.type === 'deleted' || event.type === 'relisted') reload();
  };
  configMaps.on(onEvent(reloadPolicy, 'configmaps'));
  credentialsMain.on(onEvent(reloadPolicy, 'credentials secret'));
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

  const informers = [configMaps, credentialsMain, signing];
  return {
    policy,
    keys,
    async start() {
      for (const i of informers) i.start();
      await Promise.all(informers.map((i) => i.waitForSync()));
    },
    ready: () => Promise.all([waitFor(policy), waitFor(keys)]).then(() => undefined),
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      await Promise.all(informers.map((i) => i.stop()));
      await reloading;
      client.close();
    },
  };
}
