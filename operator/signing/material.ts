// The signing material of one Registry as the operator holds it (CAs, signing-key set, published
// bundle) and the two translations around policy/rotation.ts: material + cluster state -> RotationInput,
// and (material, action) -> new material. No Kubernetes client here: the keys controller reads and
// writes the objects; this file only decides their content, so every step is testable without a cluster.

import { X509Certificate, createHash } from 'node:crypto';
import { createCA } from '../../pki/ca.js';
import { issueSigningKey, newRefreshKey } from '../../pki/issue.js';
import { parseDuration } from '../../policy/duration.js';
import type { CAInfo, KeyInfo, RolloutInfo, RotationAction, RotationRequest, RotationSettings, RotationStatus } from '../../policy/rotation.js';
import { SIGNING_FORMAT, type SigningKey, type SigningKeySet } from '../../wire/signing-key-set.js';
import type { SigningAlgorithm } from '../../policy/types.js';
import type { RegistrySpec } from '../../crds/types.js';
import { KEY_FILES } from '../../wire/files.js';
import { Annotations } from '../../wire/labels.js';

/** One entry of the operator-only `cas.json`. */
export interface StoredCA {
  /** First 16 hex digits of the SHA-256 of the certificate's DER. */
  id: string;
  certPem: string;
  keyPem: string;
  notBefore: string;
  notAfter: string;
}

export interface Material {
  cas: StoredCA[];
  signing: SigningKeySet;
  /** The published bundle.pem (public CA certificates, in bundle order). */
  bundlePem: string;
}

// ---------------------------------------------------------------------------------------------- CAs

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function caIdOf(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex').slice(0, 16);
}

export function storedCA(certPem: string, keyPem: string): StoredCA {
  const cert = new X509Certificate(certPem);
  return {
    id: caIdOf(certPem),
    certPem: `${certPem.trim()}\n`,
    keyPem,
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
  };
}

/** Parses cas.json; an absent value is no CA. Throws (without quoting the text: it holds keys) on anything malformed. */
export function parseCAs(text: string | undefined): StoredCA[] {
  if (text === undefined || text.trim() === '') return [];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${KEY_FILES.cas} is not valid JSON`);
  }
  if (!Array.isArray(value)) throw new Error(`${KEY_FILES.cas} must be a list`);
  return value.map((entry: unknown, i) => {
    const e = entry as Partial<StoredCA> | null;
    if (typeof e !== 'object' || e === null || typeof e.certPem !== 'string' || typeof e.keyPem !== 'string') {
      throw new Error(`${KEY_FILES.cas}[${i}] needs certPem and keyPem`);
    }
    // Derived fields are recomputed, so a hand-edited id or date cannot disagree with the certificate.
    try {
      return storedCA(e.certPem, e.keyPem);
    } catch {
      throw new Error(`${KEY_FILES.cas}[${i}].certPem is not a PEM certificate`);
    }
  });
}

export function serializeCAs(cas: readonly StoredCA[]): string {
  return `${JSON.stringify(cas, null, 2)}\n`;
}

export function caInfos(cas: readonly StoredCA[]): CAInfo[] {
  return cas.map(({ id, notBefore, notAfter }) => ({ id, notBefore, notAfter }));
}

// ------------------------------------------------------------------------------------------ bundle

export function bundlePemFor(cas: readonly StoredCA[], ids: readonly string[]): string {
  return ids
    .map((id) => {
      const ca = cas.find((c) => c.id === id);
      if (!ca) throw new Error(`CA ${id} is not held`);
      return ca.certPem;
    })
    .join('');
}

/** CA ids of the certificates in a bundle, in order; text that is not a certificate is skipped. */
export function bundleIds(pem: string): string[] {
  const ids: string[] = [];
  for (const block of pem.match(PEM_BLOCK) ?? []) {
    try {
      ids.push(caIdOf(block));
    } catch {
      // A damaged block trusts nothing; leaving it out makes the bundle differ from the desired one, so it is republished.
    }
  }
  return ids;
}

export function bundleHash(pem: string): string {
  return createHash('sha256').update(pem).digest('hex').slice(0, 32);
}

// ------------------------------------------------------------------------------------------- keys

export function emptyKeySet(): SigningKeySet {
  return { format: SIGNING_FORMAT, keys: [], refreshKeys: [] };
}

/** The issuing CA of a key: the id of the chain's second certificate, else the held CA whose key signed the leaf. */
export function issuingCAId(key: SigningKey, cas: readonly StoredCA[]): string {
  const issuer = key.certificateChain[1];
  if (issuer !== undefined) {
    try {
      return caIdOf(issuer);
    } catch {
      // fall through to signature checks
    }
  }
  try {
    const leaf = new X509Certificate(key.certificateChain[0] ?? '');
    for (const ca of cas) if (leaf.verify(new X509Certificate(ca.certPem).publicKey)) return ca.id;
  } catch {
    // unreadable leaf: no known issuer
  }
  return '';
}

/** The keys of this registry (or of any registry) as the state machine sees them. */
export function keyInfos(set: SigningKeySet, cas: readonly StoredCA[], registryId: string): KeyInfo[] {
  return set.keys
    .filter((k) => k.registry === undefined || k.registry === registryId)
    .map((k) => ({ kid: k.kid, caId: issuingCAId(k, cas), notBefore: k.notBefore, notAfter: k.notAfter }));
}

// ---------------------------------------------------------------------------------------- rollout

/** The parts of an apps/v1 Deployment the rotation reads. */
export interface DeploymentLike {
  metadata: { name: string; generation?: number; annotations?: Record<string, string> };
  spec?: { replicas?: number; paused?: boolean; template?: { metadata?: { annotations?: Record<string, string> } } };
  status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; availableReplicas?: number; readyReplicas?: number };
}

/**
 * Rollout state as `kubectl rollout status` judges it: the controller saw the latest template, every
 * replica runs it and is available, and no old replica is left (status.replicas counts old ones too).
 */
export function rolloutInfo(deployment: DeploymentLike | undefined, managed: boolean): RolloutInfo {
  if (!managed || deployment === undefined) return { managed: false, complete: true, paused: false };
  const desired = deployment.spec?.replicas ?? 1;
  const s = deployment.status ?? {};
  const complete =
    (s.observedGeneration ?? 0) >= (deployment.metadata.generation ?? 1) &&
    (s.updatedReplicas ?? 0) === desired &&
    (s.availableReplicas ?? 0) === desired &&
    (s.replicas ?? 0) === desired;
  const hash = deployment.spec?.template?.metadata?.annotations?.[Annotations.bundleHash];
  return { managed: true, ...(hash === undefined ? {} : { templateBundleHash: hash }), complete, paused: deployment.spec?.paused === true };
}

// --------------------------------------------------------------------------------------- settings

export const DEFAULT_SETTINGS = {
  rotateEvery: '24h',
  caLifetime: '8760h',
  caRotateBefore: '720h',
  tokenTTL: '5m',
  reloadDelaySeconds: 10,
} as const;

export interface SettingsResult {
  settings: RotationSettings;
  algorithm: SigningAlgorithm;
  /** Sentences about values that were adjusted (for a condition message and a Warning Event). */
  warnings: string[];
}

/**
 * Rotation settings from the Registry spec, with defaults. `overrides` replace derived values (tests
 * shorten tokenTTL this way, since the CRD's 60 s minimum makes a CA rotation's drain a minute long).
 */
export function rotationSettings(spec: RegistrySpec, options: { reloadDelaySeconds?: number; overrides?: Partial<RotationSettings> } = {}): SettingsResult {
  const warnings: string[] = [];
  const signing = spec.signing ?? {};
  const rotateEverySeconds = parseDuration(signing.rotateEvery ?? DEFAULT_SETTINGS.rotateEvery);
  const tokenTTLSeconds = options.overrides?.tokenTTLSeconds ?? parseDuration(spec.tokenTTL ?? DEFAULT_SETTINGS.tokenTTL);
  const reloadDelaySeconds = options.overrides?.reloadDelaySeconds ?? options.reloadDelaySeconds ?? DEFAULT_SETTINGS.reloadDelaySeconds;
  // A certificate must outlive its key's turn as the signer plus the tokens it signed last, with
  // room to spare; otherwise the state machine would rotate on expiry instead of on schedule.
  const minimumLifetime = rotateEverySeconds + 2 * (tokenTTLSeconds + reloadDelaySeconds);
  let certificateLifetimeSeconds =
    signing.certificateLifetime !== undefined ? parseDuration(signing.certificateLifetime) : Math.max(2 * rotateEverySeconds, minimumLifetime);
  if (certificateLifetimeSeconds < minimumLifetime) {
    warnings.push(`signing.certificateLifetime ${signing.certificateLifetime} is not longer than rotateEvery + tokenTTL; using ${minimumLifetime}s`);
    certificateLifetimeSeconds = minimumLifetime;
  }
  const settings: RotationSettings = {
    rotateEverySeconds,
    certificateLifetimeSeconds,
    caLifetimeSeconds: parseDuration(signing.caLifetime ?? DEFAULT_SETTINGS.caLifetime),
    caRotateBeforeSeconds: parseDuration(signing.caRotateBefore ?? DEFAULT_SETTINGS.caRotateBefore),
    tokenTTLSeconds,
    reloadDelaySeconds,
  };
  if (settings.caRotateBeforeSeconds >= settings.caLifetimeSeconds) {
    const adjusted = Math.floor(settings.caLifetimeSeconds / 2);
    warnings.push(`signing.caRotateBefore is not shorter than caLifetime; using ${adjusted}s`);
    settings.caRotateBeforeSeconds = adjusted;
  }
  Object.assign(settings, {
    ...options.overrides,
    certificateLifetimeSeconds: options.overrides?.certificateLifetimeSeconds ?? settings.certificateLifetimeSeconds,
  });
  return { settings, algorithm: signing.algorithm ?? 'ES256', warnings };
}

// ----------------------------------------------------------------------------------------- status

/** status.signing.rotation as written; anything unreadable is Stable (the machine re-derives the rest). */
export function rotationStatusOf(value: unknown): RotationStatus {
  const v = value as Partial<RotationStatus> | undefined;
  const phases = ['Stable', 'CAStaged', 'CAIssuing', 'CADraining', 'CARetiring', 'CAEmergency'];
  if (typeof v !== 'object' || v === null || typeof v.phase !== 'string' || !phases.includes(v.phase)) return { phase: 'Stable' };
  const status: RotationStatus = { phase: v.phase };
  if (typeof v.retiringCA === 'string') status.retiringCA = v.retiringCA;
  if (typeof v.drainUntil === 'string') status.drainUntil = v.drainUntil;
  return status;
}

export function rotationRequestOf(annotations: Record<string, string> | undefined): RotationRequest | undefined {
  const value = annotations?.[Annotations.rotate];
  return value === 'keys' || value === 'ca' || value === 'ca-emergency' ? value : undefined;
}

// ---------------------------------------------------------------------------------------- actions

export interface ApplyContext {
  now: Date;
  registryId: string;
  /** CA common name, e.g. `portcullis registry/main CA`. */
  commonName: string;
  algorithm: SigningAlgorithm;
  settings: RotationSettings;
}

export type Changed = 'cas' | 'signing' | 'bundle';

export interface ApplyResult {
  material: Material;
  changed: Changed[];
  /** For Events: the kid of an issued key or the id of a created CA. */
  created?: string;
}

/** Executes a material-changing action; actions on the Deployment, the request or the clock change nothing here. */
export async function applyAction(material: Material, action: RotationAction, ctx: ApplyContext): Promise<ApplyResult> {
  switch (action.type) {
    case 'CreateCA': {
      const ca = await createCA({ commonName: ctx.commonName, algorithm: ctx.algorithm, lifetimeSeconds: ctx.settings.caLifetimeSeconds, now: ctx.now });
      const stored = storedCA(ca.certPem, ca.keyPem);
      return { material: { ...material, cas: [...material.cas, stored] }, changed: ['cas'], created: stored.id };
    }
    case 'PublishBundle':
      return { material: { ...material, bundlePem: bundlePemFor(material.cas, action.caIds) }, changed: ['bundle'] };
    case 'IssueKey': {
      const ca = material.cas.find((c) => c.id === action.caId);
      if (!ca) throw new Error(`cannot issue a key from CA ${action.caId}: not held`);
      const key = await issueSigningKey({
        ca,
        algorithm: ctx.algorithm,
        lifetimeSeconds: ctx.settings.certificateLifetimeSeconds,
        notBefore: action.notBefore,
        registry: ctx.registryId,
      });
      return { material: { ...material, signing: { ...material.signing, keys: [...material.signing.keys, key] } }, changed: ['signing'], created: key.kid };
    }
    case 'PruneKeys': {
      const drop = new Set(action.kids);
      return { material: { ...material, signing: { ...material.signing, keys: material.signing.keys.filter((k) => !drop.has(k.kid)) } }, changed: ['signing'] };
    }
    case 'DropCA':
      return { material: { ...material, cas: material.cas.filter((c) => c.id !== action.caId) }, changed: ['cas'] };
    default:
      return { material, changed: [] };
  }
}

/** A set always holds a refresh key: refresh tokens must be verifiable by every replica. */
export function ensureRefreshKey(set: SigningKeySet, now: Date): { set: SigningKeySet; changed: boolean } {
  if (set.refreshKeys.length > 0) return { set, changed: false };
  return { set: { ...set, refreshKeys: [newRefreshKey(now)] }, changed: true };
}
