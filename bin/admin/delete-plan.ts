// What `portcullis delete` checks before it deletes, as pure functions: the reference it was given, and
// the two warnings that refuse without --force — other tags that share the digest (Distribution deletes
// manifests by digest, and that removes every tag pointing at it) and recent pulls by someone else
// (deleting an image another team is pulling breaks their deploys mid-rollout).

import { isRepositoryName } from '../../policy/scope.js';

export type ImageReference = { repository: string; tag: string; digest?: undefined } | { repository: string; digest: string; tag?: undefined };

// Distribution's grammar (distribution/reference): a tag is up to 128 word characters, dots and dashes,
// not leading with either; a digest is ALGORITHM:HEX.
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;

/** `REPOSITORY:TAG` or `REPOSITORY@DIGEST`; throws a sentence for anything else. */
export function parseImageReference(text: string): ImageReference {
  const at = text.indexOf('@');
  if (at >= 0) {
    const repository = text.slice(0, at);
    const digest = text.slice(at + 1);
    if (!isRepositoryName(repository)) throw new Error(`${JSON.stringify(text)}: ${JSON.stringify(repository)} is not a repository name`);
    if (!DIGEST.test(digest)) throw new Error(`${JSON.stringify(text)}: ${JSON.stringify(digest)} is not a digest (sha256:...)`);
    return { repository, digest };
  }
  // The tag follows the last ':' after the last '/', so a registry host's port is never taken for a tag.
  const colon = text.lastIndexOf(':');
  if (colon < 0 || colon < text.lastIndexOf('/')) throw new Error(`${JSON.stringify(text)}: name a tag (REPOSITORY:TAG) or a digest (REPOSITORY@sha256:...)`);
  const repository = text.slice(0, colon);
  const tag = text.slice(colon + 1);
  if (!isRepositoryName(repository)) throw new Error(`${JSON.stringify(text)}: ${JSON.stringify(repository)} is not a repository name`);
  if (!TAG.test(tag)) throw new Error(`${JSON.stringify(text)}: ${JSON.stringify(tag)} is not a tag`);
  return { repository, tag };
}

/** A pull of the digest from the activity trail. */
export interface RecentPull {
  actor?: string;
  tag?: string;
  timestamp: string;
  sourceAddr?: string;
}

export interface DeleteFindings {
  reference: ImageReference;
  digest: string;
  /** Tags other than the one named that point at the digest (every tag, for a digest reference). */
  sharedTags: readonly string[];
  /** Pulls of the digest by anyone but the person deleting, newest first. */
  recentPulls: readonly RecentPull[];
  /** Why the trail could not be read; undefined: it was, and recentPulls is what it holds. */
  trailUnreadable?: string;
  /** The window recentPulls covers, as written (15m). */
  window: string;
}

function named(reference: ImageReference): string {
  return reference.tag === undefined ? `${reference.repository}@${reference.digest}` : `${reference.repository}:${reference.tag}`;
}

/** Who pulled, at most five, then how many more. */
function pullers(pulls: readonly RecentPull[]): string {
  const shown = pulls.slice(0, 5).map((p) => `${p.actor ?? '<anonymous>'} at ${p.timestamp}${p.sourceAddr ? ` from ${p.sourceAddr}` : ''}`);
  return pulls.length > 5 ? `${shown.join(', ')} and ${pulls.length - 5} more` : shown.join(', ');
}

/** The pull warning: others pulled the digest within the window, or the trail could not say. */
export function pullWarning(findings: DeleteFindings): string | undefined {
  if (findings.trailUnreadable !== undefined) {
    return `cannot tell who pulled ${named(findings.reference)} in the last ${findings.window}: ${findings.trailUnreadable}`;
  }
  if (findings.recentPulls.length === 0) return undefined;
  return `${named(findings.reference)} (${findings.digest}) was pulled in the last ${findings.window} by ${pullers(findings.recentPulls)}`;
}

/** The shared-digest warning, for a delete by digest: which tags go with it. */
export function sharedTagWarning(findings: DeleteFindings): string | undefined {
  if (findings.sharedTags.length === 0) return undefined;
  const tags = findings.sharedTags.map((t) => `${findings.reference.repository}:${t}`).join(', ');
  const subject = findings.reference.tag === undefined ? 'deleting it' : `deleting ${findings.reference.tag} deletes the digest, which`;
  return `${findings.digest} is also tagged ${tags}: ${subject} removes ${findings.sharedTags.length === 1 ? 'that tag' : 'those tags'} too`;
}

/** Every warning, each a reason to refuse without --force. */
export function deleteWarnings(findings: DeleteFindings, byDigest: boolean): string[] {
  return [pullWarning(findings), byDigest ? sharedTagWarning(findings) : undefined].filter((w): w is string => w !== undefined);
}
