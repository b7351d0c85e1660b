// `portcullis keys init`: a fresh CA and signing-key set in a directory, laid out like the Secret the
// operator writes, so a standalone token server and a Kubernetes one read the same files.

import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KEY_FILES } from '../wire/files.js';
import { SIGNING_FORMAT, type SigningKeySet } from '../wire/signing-key-set.js';
import type { SigningAlgorithm } from '../policy/types.js';
import { createCA } from './ca.js';
import { issueSigningKey, newRefreshKey } from './issue.js';

const DAY = 24 * 60 * 60;

export interface InitKeysOptions {
  algorithm: SigningAlgorithm;
  now: Date;
  /** Default 10 years: the registry's rootcertbundle changes only when the CA does. */
  caLifetimeSeconds?: number;
  /** Default 1 year: without the operator nothing rotates, so the key must last. */
  signingLifetimeSeconds?: number;
  commonName?: string;
  /** Replace existing files. Without it, an existing signing.json or ca.key is an error: a new CA breaks trust. */
  force?: boolean;
  /**
   * Where ca.key (and a copy of ca.crt) go; default `dir`. The token server, which reads `dir`, needs only
   * signing.json: a CA key beside it is a CA key on an internet-facing host.
   */
  caDir?: string;
}

export interface InitKeysResult {
  files: { signing: string; bundle: string; caCert: string; caKey: string };
  kid: string;
}

export async function initKeysDir(dir: string, options: InitKeysOptions): Promise<InitKeysResult> {
  const files = {
    signing: join(dir, KEY_FILES.signing),
    bundle: join(dir, KEY_FILES.bundle),
    caCert: join(dir, KEY_FILES.caCert),
    caKey: join(options.caDir ?? dir, KEY_FILES.caKey),
  };
  if (!options.force) {
    for (const path of [files.signing, files.caKey]) {
      if (await exists(path)) throw new Error(`${path} already exists; refusing to replace the CA (use --force)`);
    }
  }
  const ca = await createCA({
    commonName: options.commonName ?? 'portcullis token CA',
    algorithm: options.algorithm,
    lifetimeSeconds: options.caLifetimeSeconds ?? 3650 * DAY,
    now: options.now,
  });
  const key = await issueSigningKey({
    ca,
    algorithm: options.algorithm,
    lifetimeSeconds: options.signingLifetimeSeconds ?? 365 * DAY,
    notBefore: options.now,
  });
  const set: SigningKeySet = { format: SIGNING_FORMAT, keys: [key], refreshKeys: [newRefreshKey(options.now)] };

  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (options.caDir !== undefined) {
    await mkdir(options.caDir, { recursive: true, mode: 0o700 });
    await writeAtomically(join(options.caDir, KEY_FILES.caCert), ca.certPem, 0o644);
  }
  await writeAtomically(files.caKey, ca.keyPem, 0o600);
  await writeAtomically(files.signing, `${JSON.stringify(set, null, 2)}\n`, 0o600);
  await writeAtomically(files.caCert, ca.certPem, 0o644);
  await writeAtomically(files.bundle, ca.certPem, 0o644);
  return { files, kid: key.kid };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Write-then-rename so a reader (the token server watching the directory) never sees half a file. */
async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}
