// Policy and keys from directories laid out like mounted ConfigMap/Secret volumes:
//   --policy-dir       snapshot.json (and credentials.json unless --credentials-dir says otherwise)
//   --credentials-dir  credentials.json
//   --keys-dir         signing.json
// Nothing here knows about Kubernetes; the kubelet's `..data` symlink swaps are just file changes.

import { join } from 'node:path';
import { KEY_FILES } from '../../wire/files.js';
import { parseCredentials, parseSnapshot } from '../../policy/snapshot-format.js';
import { CREDENTIALS_FORMAT, type Credentials } from '../../policy/types.js';
import { parseSigningKeySet } from '../../wire/signing-key-set.js';
import { buildPolicyState } from './policy-state.js';
import type { KeyState, PolicyState } from './types.js';
import { WatchedFiles } from './watched-files.js';

export const POLICY_FILES = { snapshot: 'snapshot.json', credentials: 'credentials.json' } as const;

export interface DirectorySourceOptions {
  policyDir: string;
  /** Default: policyDir. */
  credentialsDir?: string;
  keysDir: string;
  now?: () => Date;
  pollIntervalMs?: number;
  debounceMs?: number;
}

export interface DirectorySources {
  policy: WatchedFiles<PolicyState>;
  keys: WatchedFiles<KeyState>;
  close(): void;
}

/**
 * Creates both sources without loading; call `start()` on each (after subscribing, so a first
 * rejection is observed) — or use `openDirectorySources`.
 */
export function directorySources(options: DirectorySourceOptions): DirectorySources {
  const now = options.now ?? (() => new Date());
  const credentialsDir = options.credentialsDir ?? options.policyDir;
  const timing = {
    ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
    ...(options.debounceMs === undefined ? {} : { debounceMs: options.debounceMs }),
  };
  const policy = new WatchedFiles<PolicyState>({
    directories: [options.policyDir, credentialsDir],
    files: [join(options.policyDir, POLICY_FILES.snapshot), join(credentialsDir, POLICY_FILES.credentials)],
    parse: ([snapshotText, credentialsText], loadedAt) => {
      if (snapshotText === undefined) throw new Error(`${POLICY_FILES.snapshot} not found in ${options.policyDir}`);
      const snapshot = parseSnapshot(snapshotText);
      // No credentials file: a policy that only grants anonymous access is still usable; nobody can log in.
      const credentials: Credentials = credentialsText === undefined ? { format: CREDENTIALS_FORMAT, registries: {} } : parseCredentials(credentialsText);
      return buildPolicyState(snapshot, credentials, loadedAt);
    },
    now,
    ...timing,
  });
  const keys = new WatchedFiles<KeyState>({
    directories: [options.keysDir],
    files: [join(options.keysDir, KEY_FILES.signing)],
    parse: ([text], loadedAt) => {
      if (text === undefined) throw new Error(`${KEY_FILES.signing} not found in ${options.keysDir}`);
      return { set: parseSigningKeySet(text), loadedAt };
    },
    now,
    ...timing,
  });
  return {
    policy,
    keys,
    close() {
      policy.close();
      keys.close();
    },
  };
}
