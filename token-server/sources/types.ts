// Where the token server's inputs come from. A source owns loading and reloading; the app only asks for
// the current state and listens for changes. The directory source (mounted ConfigMap/Secret volumes) and
// the Kubernetes source implement the same two interfaces.

import type { PolicyIndex } from '../../policy/authorize.js';
import type { SigningKeySet } from '../../wire/signing-key-set.js';
import type { IdentitySecrets, RegistryPolicy } from '../../policy/types.js';

export interface StoredCredential {
  /** bcrypt hash, `$2y$` already rewritten to `$2b$`; its cost within the accepted range. */
  hash: string;
  /** The bcrypt cost of `hash`. */
  cost: number;
  /** credentialRevision(hash): what the verified-credential cache and refresh tokens are bound to. */
  revision: string;
}

export interface LoadedRegistry {
  policy: RegistryPolicy;
  index: PolicyIndex;
  /** username -> stored credential. A user without an entry cannot log in. */
  credentials: ReadonlyMap<string, StoredCredential>;
  /** The highest bcrypt cost among `credentials` (undefined: none): what unknown users are checked at. */
  maxCost?: number;
  /** What the identity sources need from the credentials Secret (the LDAP bind password). */
  identitySecrets?: IdentitySecrets;
}

export interface PolicyState {
  generation: string;
  /** When this state was loaded (the source's clock). */
  loadedAt: Date;
  /** Keyed by service (the `service` clients ask for). */
  registries: ReadonlyMap<string, LoadedRegistry>;
}

export interface KeyState {
  set: SigningKeySet;
  loadedAt: Date;
}

export type Unsubscribe = () => void;

export interface Source<T> {
  /** The last good state, or undefined until one has loaded. */
  current(): T | undefined;
  onChange(listener: (state: T) => void): Unsubscribe;
  /** A new input was refused (malformed, inconsistent); the previous state stays in use. */
  onRejected(listener: (reason: string) => void): Unsubscribe;
}

export type PolicySource = Source<PolicyState>;
export type KeySource = Source<KeyState>;
