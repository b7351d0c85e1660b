// File names inside the objects and directories the operator, `compile`, `keys init` and the token
// server exchange. A mounted ConfigMap or Secret shows its keys as these files.

/** The policy snapshot (ConfigMap, or `compile`'s output directory). */
export const SNAPSHOT_FILE = 'snapshot.json';
/** Password hashes (Secret, or `compile`'s output directory, mode 0600). */
export const CREDENTIALS_FILE = 'credentials.json';
/** The operator's own record of which Secret content each hash came from (operator-only Secret). */
export const HASH_SOURCES_FILE = 'sources.json';

/** File names inside a keys directory (`keys init --dir`, or the mounted signing Secret/bundle ConfigMap). */
export const KEY_FILES = {
  /** SigningKeySet JSON: read by the token server. */
  signing: 'signing.json',
  /** PEM of the CA certificate(s) the registry trusts: Distribution's `rootcertbundle`. */
  bundle: 'bundle.pem',
  /** The CA certificate and key (PEM). Only the operator, or a standalone user, needs these. */
  caCert: 'ca.crt',
  caKey: 'ca.key',
  /** The operator's CAs with their private keys (the CA Secret only). */
  cas: 'cas.json',
} as const;
