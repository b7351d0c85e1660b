// Short digests that identify a credential, or a login session, without revealing anything: what the
// verified-credential cache and refresh tokens are bound to.

import { sha256Hex } from './canonical.js';

/** Identifies a stored password hash (never the hash itself). Moves when the password changes. */
export function credentialRevision(hash: string): string {
  return sha256Hex(`portcullis credential revision\n${hash}`).slice(0, 16);
}

/**
 * What a refresh token is bound to: the credential and the RegistryUser object (`uid:generation`). It moves
 * on a password change, on deleting and recreating the user, and on any spec edit, disabling included,
 * so a refresh token never outlives the state of the user it was issued to.
 */
export function sessionRevision(credential: string, objectRevision: string | undefined): string {
  return sha256Hex(`portcullis session revision\n${credential}\n${objectRevision ?? ''}`).slice(0, 16);
}
