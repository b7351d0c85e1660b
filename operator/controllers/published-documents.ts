// The hash-sources and credentials documents a Registry publishes on every reconcile, serialized (and
// hashed) again only when what they hold changed. At 10,000 users the sources document alone (sorted,
// stringified, hashed) was a fifth of a reconcile that changed one grant (bench:operator), and it grows
// with the users, not with the change.

import type { Credentials } from '../../policy/types.js';
import { serializeCredentials } from '../../policy/snapshot-format.js';
import { sha256Hex } from '../../wire/chunked.js';
import type { HashSource } from './password-hashes.js';

export interface SerializedDocument {
  json: string;
  digest: string;
}

function documentOf(json: string): SerializedDocument {
  return { json, digest: sha256Hex(json) };
}

/** Whether two hash-source maps hold the same records (PasswordHashes reuses an unchanged record's object). */
export function sameSources(a: ReadonlyMap<string, HashSource>, b: ReadonlyMap<string, HashSource>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [user, record] of a) {
    const other = b.get(user);
    if (other !== record && (other === undefined || other.sourceVersion !== record.sourceVersion || other.hash !== record.hash)) return false;
  }
  return true;
}

/** One Registry's last published documents. */
export class PublishedDocuments {
  private sources: { of: ReadonlyMap<string, HashSource>; document: SerializedDocument } | undefined;
  private credentials: { hashes: Record<string, string>; identity: string; document: SerializedDocument } | undefined;

  /** The sources as JSON, by user key in order. */
  sourcesDocument(sources: ReadonlyMap<string, HashSource>): SerializedDocument {
    if (this.sources !== undefined && sameSources(this.sources.of, sources)) return this.sources.document;
    const document = documentOf(JSON.stringify(Object.fromEntries([...sources].sort(([a], [b]) => (a < b ? -1 : 1)))));
    this.sources = { of: sources, document };
    return document;
  }

  /**
   * The credentials of the Registry `id` as serializeCredentials writes them. The incremental compiler
   * hands back the same hashes object while no user changed, so identity says "unchanged".
   */
  credentialsDocument(id: string, credentials: Credentials): SerializedDocument {
    const hashes = credentials.registries[id] ?? {};
    const identity = JSON.stringify(credentials.identity ?? null);
    const last = this.credentials;
    if (last !== undefined && last.hashes === hashes && last.identity === identity) return last.document;
    const document = documentOf(serializeCredentials(credentials));
    this.credentials = { hashes, identity, document };
    return document;
  }
}
