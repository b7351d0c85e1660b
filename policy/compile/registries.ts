// Phase 1 of compileSnapshot: Registries. Each is validated; then services are claimed oldest first, so
// a Registry created later with the same service can never take it over (and freeze the original's
// revocations); both sides of a conflict say so in their status.

import type { Delegation, GarbageCollectionStatus, RegistryResource, SecretKeyReference } from '../../crds/types.js';
import { parseDuration } from '../duration.js';
import { maintenanceOf } from '../read-only-window.js';
import { Reasons } from '../reasons.js';
import { MAX_TOKEN_TTL_SECONDS, MIN_TOKEN_TTL_SECONDS, SIGNING_ALGORITHMS } from '../snapshot-format.js';
import type { IdentitySecrets, RegistryPolicy } from '../types.js';
import { authenticationPolicy, registryUserPasswords } from './authentication.js';
import { checkDelegation } from './delegation.js';
import { byAge, isRefusal, metaOf, readyStatus, refuse, refusedStatus, withConflict, type Meta, type ObjectStatus, type Refusal } from './status.js';

export const DEFAULT_ISSUER = 'portcullis';
export const DEFAULT_TOKEN_TTL = '5m';
export const DEFAULT_ALGORITHM = 'ES256' as const;

export interface AcceptedRegistry {
  meta: Meta;
  id: string;
  policy: Omit<RegistryPolicy, 'users' | 'grants'>;
  delegation: Delegation[];
  /** Keys of younger Registries refused because they claim this one's service. */
  conflicts: string[];
  /** What its identity sources need that cannot be in the snapshot (the bind password). */
  secrets?: IdentitySecrets;
}

export interface AcceptedRegistries {
  accepted: Map<string, AcceptedRegistry>;
  /** Registries that exist but were refused: a reference to them is RegistryNotReady, not NotFound. */
  refused: Map<string, ObjectStatus>;
}

function isNonEmptyString(x: unknown): x is string {
  return typeof x === 'string' && x.length > 0;
}

function checkDuration(field: string, value: unknown): Refusal | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return refuse(Reasons.InvalidSpec, `${field} must be a duration string such as 5m`);
  try {
    parseDuration(value);
    return undefined;
  } catch (e) {
    return refuse(Reasons.InvalidSpec, `${field}: ${(e as Error).message}`);
  }
}

function acceptRegistry(r: RegistryResource): AcceptedRegistry | Refusal {
  const meta = metaOf(r);
  const spec = r.spec ?? ({} as RegistryResource['spec']);
  if (!isNonEmptyString(spec.service)) return refuse(Reasons.InvalidSpec, 'spec.service is required');
  if (spec.issuer !== undefined && !isNonEmptyString(spec.issuer)) return refuse(Reasons.InvalidSpec, 'spec.issuer must be a non-empty string');
  if (spec.realm !== undefined && !isNonEmptyString(spec.realm)) return refuse(Reasons.InvalidSpec, 'spec.realm must be a non-empty string');
  const ttlText = spec.tokenTTL ?? DEFAULT_TOKEN_TTL;
  let ttl: number;
  try {
    ttl = parseDuration(ttlText);
  } catch (e) {
    return refuse(Reasons.InvalidSpec, `spec.tokenTTL: ${(e as Error).message}`);
  }
  if (ttl < MIN_TOKEN_TTL_SECONDS || ttl > MAX_TOKEN_TTL_SECONDS) {
    return refuse(Reasons.InvalidSpec, `spec.tokenTTL ${JSON.stringify(ttlText)} is outside the allowed range 60s..24h`);
  }
  const algorithm = spec.signing?.algorithm ?? DEFAULT_ALGORITHM;
  if (!SIGNING_ALGORITHMS.includes(algorithm)) return refuse(Reasons.InvalidSpec, 'spec.signing.algorithm must be ES256 or RS256');
  for (const field of ['rotateEvery', 'certificateLifetime', 'caLifetime', 'caRotateBefore'] as const) {
    const bad = checkDuration(`spec.signing.${field}`, spec.signing?.[field]);
    if (bad !== undefined) return bad;
  }
  const badDelegation = checkDelegation(spec.delegation);
  if (badDelegation !== undefined) return badDelegation;
  const authentication = authenticationPolicy(spec.authentication, spec.service);
  if (isRefusal(authentication)) return authentication;
  const policy: Omit<RegistryPolicy, 'users' | 'grants'> = {
    id: meta.key,
    service: spec.service,
    issuer: spec.issuer ?? DEFAULT_ISSUER,
    tokenTTLSeconds: ttl,
    signingAlgorithm: algorithm,
  };
  if (spec.realm !== undefined) policy.realm = spec.realm;
  if (authentication !== undefined) policy.authentication = authentication;
  // The operator's maintenance controller writes this status; the token server refuses writes from it.
  const maintenance = maintenanceOf((r.status as { garbageCollection?: GarbageCollectionStatus } | undefined)?.garbageCollection);
  if (maintenance !== undefined) policy.maintenance = maintenance;
  return { meta, id: meta.key, policy, delegation: spec.delegation ?? [], conflicts: [] };
}

/** The secrets a Registry's identity sources need, resolved by the caller, or why they could not be. */
export type ResolvedIdentitySecrets = IdentitySecrets | { reason: string; message: string };

/** Why the caller cannot serve a Registry (the operator: it neither reads nor writes in its namespace). */
export type UnservedRegistries = ReadonlyMap<string, { reason: string; message: string }>;

/** The Secret holding a Registry's LDAP bind password, if its spec names one. */
export function bindPasswordSecretRef(r: RegistryResource): SecretKeyReference | undefined {
  return r.spec?.authentication?.ldap?.bindPasswordSecretRef;
}

/**
 * Validates Registries and claims services oldest first. With `identitySecrets` (compileSnapshot), a
 * Registry whose bind password cannot be read is refused after it claimed its service: a missing Secret
 * must not let a younger Registry take the service over. So is one in `unserved`, for the same reason:
 * serving it is a matter of where the operator runs, not of who was first.
 */
export function acceptRegistries(
  registries: readonly RegistryResource[],
  identitySecrets?: ReadonlyMap<string, ResolvedIdentitySecrets>,
  unserved?: UnservedRegistries,
): AcceptedRegistries {
  const accepted = new Map<string, AcceptedRegistry>();
  const refused = new Map<string, ObjectStatus>();
  const owners = new Map<string, AcceptedRegistry>();
  const valid: AcceptedRegistry[] = [];
  for (const r of registries) {
    const result = acceptRegistry(r);
    if (isRefusal(result)) refused.set(metaOf(r).key, refusedStatus('Registry', metaOf(r), result));
    else valid.push(result);
  }
  for (const reg of valid.sort((a, b) => byAge(a.meta, b.meta))) {
    const owner = owners.get(reg.policy.service);
    if (owner !== undefined) {
      owner.conflicts.push(reg.id);
      const message =
        `service ${JSON.stringify(reg.policy.service)} is already served by Registry ${owner.id}, which is older; ` + 'give this Registry another service';
      refused.set(reg.id, readyStatus('Registry', reg.meta, false, Reasons.ServiceConflict, message));
      continue;
    }
    owners.set(reg.policy.service, reg);
    const notServed = unserved?.get(reg.id);
    if (notServed !== undefined) {
      refused.set(reg.id, readyStatus('Registry', reg.meta, false, notServed.reason, notServed.message));
      continue;
    }
    if (identitySecrets !== undefined && reg.policy.authentication?.ldap?.bindDN !== undefined) {
      const secrets = identitySecrets.get(reg.id);
      if (secrets === undefined || 'reason' in secrets) {
        const why = secrets ?? { reason: Reasons.SecretNotFound, message: 'the LDAP bind password Secret was not read' };
        refused.set(reg.id, readyStatus('Registry', reg.meta, false, why.reason, why.message));
        continue;
      }
      reg.secrets = secrets;
    }
    accepted.set(reg.id, reg);
  }
  return { accepted, refused };
}

/** One object for every compile, so the operator sees unchanged credentials as unchanged (published-documents.ts). */
const NO_HASHES: Record<string, string> = Object.freeze({});

/**
 * The password hashes a Registry's credentials carry: none when its RegistryUsers may not log in with
 * passwords, so the internet-facing token server holds no hash it must never accept. The users stay in
 * the snapshot (and Ready): turning the switch back on brings their hashes back with the next compile.
 */
export function shippedHashes(reg: AcceptedRegistry, hashes: Record<string, string>): Record<string, string> {
  return registryUserPasswords(reg.policy) ? hashes : NO_HASHES;
}

/** The Ready status of an accepted Registry, with Conflicted=True while a younger one claims its service. */
export function acceptedRegistryStatus(reg: AcceptedRegistry, users: number, grants: number): ObjectStatus {
  const passwords = registryUserPasswords(reg.policy) ? '' : '; RegistryUser passwords are off (spec.authentication.registryUsers: false)';
  let s = readyStatus('Registry', reg.meta, true, Reasons.Compiled, `${users} users and ${grants} grants compiled${passwords}`);
  s.counts = { users, grants };
  if (reg.conflicts.length > 0) {
    const others = [...reg.conflicts].sort().join(', ');
    s = withConflict(
      s,
      reg.meta,
      Reasons.ServiceConflict,
      `Registry ${others} also claims service ${JSON.stringify(reg.policy.service)}; this Registry is older and keeps it`,
    );
  }
  return s;
}
