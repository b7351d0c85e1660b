// Signing-key and CA rotation as a state machine: (observed state, now) -> the next phase and ONE
// action. The operator executes the action, records the phase in the Registry's status and asks again
// until the answer is "nothing to do". Every decision is derived from what is observed (which CAs
// exist, what the published bundle holds, what the Deployment rolled), so each step is idempotent and
// an operator killed at any point resumes from the status: the phase only says which CA is leaving.
//
// CA rotation (no client ever sees a token its registry cannot verify):
//   Stable -> CAStaged:    create the new CA; publish bundle [old, new]; roll the Deployment and wait
//   CAStaged -> CAIssuing: issue a signing key from the new CA (published in JWKS ahead of use)
//   CAIssuing -> CADraining: wait the longest token lifetime plus the reload delay
//   CADraining -> CARetiring: publish bundle [new]; roll and wait; prune old keys; drop the old CA
// An emergency rotation (CA key compromised) skips the overlap: bundle [new] at once, old keys dropped.

/** Phases recorded in Registry.status.rotation.phase. */
import { activeKey } from './active-key.js';
import { sameElements } from './same-elements.js';

export type RotationPhase = 'Stable' | 'CAStaged' | 'CAIssuing' | 'CADraining' | 'CARetiring' | 'CAEmergency';

export interface RotationStatus {
  phase: RotationPhase;
  /** The CA being replaced (set in every phase but Stable). */
  retiringCA?: string;
  /** CADraining: RFC 3339 time after which the retiring CA can be dropped. */
  drainUntil?: string;
}

export interface CAInfo {
  id: string;
  notBefore: string;
  notAfter: string;
}

export interface KeyInfo {
  kid: string;
  /** Id of the CA that issued the key's certificate. */
  caId: string;
  notBefore: string;
  notAfter: string;
}

export interface RolloutInfo {
  /** Whether Registry.spec.distribution names a Deployment the operator rolls. */
  managed: boolean;
  /** The bundle hash the Deployment's pod template carries (undefined: never rolled by us). */
  templateBundleHash?: string;
  /** The rollout of the current template is complete (observedGeneration, updated and available replicas). */
  complete: boolean;
  paused: boolean;
}

export interface RotationSettings {
  rotateEverySeconds: number;
  certificateLifetimeSeconds: number;
  caLifetimeSeconds: number;
  /** Start a CA rotation this long before the CA expires. */
  caRotateBeforeSeconds: number;
  /** The registry's access-token lifetime: how long a token signed by a retiring key stays in use. */
  tokenTTLSeconds: number;
  /** How long token servers may take to see a new key set (watch delay, mounted-volume sync). */
  reloadDelaySeconds: number;
}

export type RotationRequest = 'keys' | 'ca' | 'ca-emergency';

export interface RotationInput {
  now: Date;
  settings: RotationSettings;
  status: RotationStatus;
  /** CAs whose keys the operator holds. */
  cas: readonly CAInfo[];
  /** CA ids in the published bundle, in bundle order. */
  bundle: readonly string[];
  /** Hash of the bundle as published (what the pod template annotation must equal after a roll). */
  bundleHash: string;
  rollout: RolloutInfo;
  keys: readonly KeyInfo[];
  /** A rotation asked for through the `portcullis.dev/rotate` annotation and not yet acted on. */
  request?: RotationRequest;
}

export type RotationAction =
  | { type: 'CreateCA' }
  | { type: 'PublishBundle'; caIds: string[] }
  | { type: 'RollDeployment' }
  | { type: 'WaitForRollout' }
  | { type: 'IssueKey'; caId: string; notBefore: Date }
  | { type: 'PruneKeys'; kids: string[] }
  | { type: 'DropCA'; caId: string }
  /** The request annotation has been acted on (or cannot be now) and can be cleared. */
  | { type: 'AcknowledgeRequest' }
  | { type: 'Wait'; until: Date }
  | { type: 'None'; requeueAfterSeconds: number };

export interface RotationStep {
  status: RotationStatus;
  action: RotationAction;
  /** A sentence for logs and the Rotating condition. */
  message: string;
  /** Whether the step should be reported as a Warning Event (e.g. emergency rotation, paused Deployment). */
  warning?: boolean;
}

const ms = (seconds: number): number => seconds * 1000;
const t = (rfc3339: string): number => Date.parse(rfc3339);

/** The CA that signs new keys outside a rotation: the newest one in the bundle. */
function currentCA(input: RotationInput): CAInfo | undefined {
  const published = input.cas.filter((ca) => input.bundle.includes(ca.id));
  const pool = published.length > 0 ? published : input.cas;
  return [...pool].sort((a, b) => t(b.notBefore) - t(a.notBefore) || a.id.localeCompare(b.id))[0];
}

/** The key token servers sign with at `now` (policy/active-key.ts, the rule they use too). */
export function activeKeyInfo(keys: readonly KeyInfo[], now: Date): KeyInfo | undefined {
  const validity = keys.map((info) => ({ kid: info.kid, notBefore: t(info.notBefore), notAfter: t(info.notAfter), info }));
  return activeKey(validity, now.getTime())?.info;
}

/** A key that will become active later (already published, waiting for its notBefore). */
function pendingKey(keys: readonly KeyInfo[], now: Date, caId?: string): KeyInfo | undefined {
  return keys.find((k) => t(k.notBefore) > now.getTime() && (caId === undefined || k.caId === caId));
}

/** Roll the Deployment to the published bundle and wait until the rollout completes. */
function rolloutStep(input: RotationInput, status: RotationStatus, what: string): RotationStep | undefined {
  const { rollout } = input;
  if (!rollout.managed) return undefined;
  if (rollout.templateBundleHash !== input.bundleHash) {
    if (rollout.paused) {
      return { status, action: { type: 'None', requeueAfterSeconds: 30 }, message: `the registry Deployment is paused; not rolling it ${what}`, warning: true };
    }
    return { status, action: { type: 'RollDeployment' }, message: `rolling the registry Deployment ${what}` };
  }
  if (!rollout.complete) return { status, action: { type: 'WaitForRollout' }, message: `waiting for the registry rollout ${what}` };
  return undefined;
}

/** Keys to delete: expired, issued by a CA that is gone, or superseded long enough ago that no token signed by them is still valid. */
function prunableKeys(input: RotationInput): string[] {
  const n = input.now.getTime();
  const caIds = new Set(input.cas.map((c) => c.id));
  const active = activeKeyInfo(input.keys, input.now);
  const grace = ms(input.settings.tokenTTLSeconds + input.settings.reloadDelaySeconds);
  return input.keys
    .filter((k) => {
      if (t(k.notAfter) <= n) return true;
      if (!caIds.has(k.caId)) return true;
      // superseded: the active key has been in use for longer than any token lives
      return active !== undefined && k.kid !== active.kid && t(k.notBefore) < t(active.notBefore) && n - t(active.notBefore) > grace;
    })
    .map((k) => k.kid)
    .sort();
}

function stable(input: RotationInput): RotationStep {
  const { now, settings } = input;
  const status: RotationStatus = { phase: 'Stable' };
  const ca = currentCA(input);
  if (ca === undefined) return { status, action: { type: 'CreateCA' }, message: 'creating the registry CA' };

  // A second CA in Stable is a staging that crashed before its phase was recorded: resume it.
  const extra = input.cas.find((c) => c.id !== ca.id && !input.bundle.includes(c.id));
  if (extra !== undefined && input.bundle.includes(ca.id)) {
    return {
      status: { phase: 'CAStaged', retiringCA: ca.id },
      action: { type: 'None', requeueAfterSeconds: 0 },
      message: `resuming the rotation to CA ${extra.id}`,
    };
  }

  if (input.request === 'ca' || input.request === 'ca-emergency') {
    const emergency = input.request === 'ca-emergency';
    return {
      status: { phase: emergency ? 'CAEmergency' : 'CAStaged', retiringCA: ca.id },
      action: { type: 'AcknowledgeRequest' },
      message: emergency
        ? `emergency CA rotation requested: CA ${ca.id} is dropped at once; clients may see brief failures until the registry restarts`
        : `CA rotation requested: replacing CA ${ca.id}`,
      ...(emergency ? { warning: true } : {}),
    };
  }
  if (now.getTime() >= t(ca.notAfter) - ms(settings.caRotateBeforeSeconds)) {
    return {
      status: { phase: 'CAStaged', retiringCA: ca.id },
      action: { type: 'None', requeueAfterSeconds: 0 },
      message: `CA ${ca.id} expires ${ca.notAfter}: rotating it`,
    };
  }

  if (!sameElements(input.bundle, [ca.id]))
    return { status, action: { type: 'PublishBundle', caIds: [ca.id] }, message: `publishing the bundle with CA ${ca.id}` };
  const roll = rolloutStep(input, status, 'to the published bundle');
  if (roll) return roll;

  const active = activeKeyInfo(input.keys, now);
  const pending = pendingKey(input.keys, now, ca.id);
  if (active === undefined && pending === undefined) {
    return { status, action: { type: 'IssueKey', caId: ca.id, notBefore: now }, message: 'issuing a signing key (none is valid)' };
  }
  const due =
    active !== undefined &&
    (now.getTime() - t(active.notBefore) >= ms(settings.rotateEverySeconds) ||
      // the leaf must outlive the tokens it signs: rotate before notAfter - tokenTTL
      t(active.notAfter) - now.getTime() <= ms(settings.tokenTTLSeconds + settings.reloadDelaySeconds));
  if (input.request === 'keys' && pending === undefined) {
    return {
      status,
      action: { type: 'IssueKey', caId: ca.id, notBefore: new Date(now.getTime() + ms(settings.reloadDelaySeconds)) },
      message: 'signing-key rotation requested',
    };
  }
  if (input.request === 'keys') return { status, action: { type: 'AcknowledgeRequest' }, message: 'signing-key rotation started' };
  if (due && pending === undefined) {
    // published now, used once every token server has had time to load it
    return {
      status,
      action: { type: 'IssueKey', caId: ca.id, notBefore: new Date(now.getTime() + ms(settings.reloadDelaySeconds)) },
      message: `signing key ${active.kid} is due for rotation`,
    };
  }
  const prune = prunableKeys(input);
  if (prune.length > 0) return { status, action: { type: 'PruneKeys', kids: prune }, message: `removing ${prune.length} retired signing key(s)` };

  // Next wake-up: the earliest of key rotation, a pending key's activation, and CA rotation.
  const wakeups = [t(ca.notAfter) - ms(settings.caRotateBeforeSeconds)];
  if (active)
    wakeups.push(t(active.notBefore) + ms(settings.rotateEverySeconds), t(active.notAfter) - ms(settings.tokenTTLSeconds + settings.reloadDelaySeconds));
  if (pending) wakeups.push(t(pending.notBefore));
  const next = Math.min(...wakeups) - now.getTime();
  return { status, action: { type: 'None', requeueAfterSeconds: Math.max(1, Math.ceil(next / 1000)) }, message: 'signing keys are current' };
}

export function nextRotationStep(input: RotationInput): RotationStep {
  const { status, now, settings } = input;
  if (status.phase === 'Stable') return stable(input);

  const old = status.retiringCA;
  const fresh = input.cas.filter((c) => c.id !== old).sort((a, b) => t(b.notBefore) - t(a.notBefore))[0];
  if (old === undefined || !input.cas.some((c) => c.id === old)) {
    // The old CA is already gone: the rotation finished except for bookkeeping.
    return { status: { phase: 'Stable' }, action: { type: 'None', requeueAfterSeconds: 0 }, message: 'CA rotation complete' };
  }
  if (fresh === undefined) return { status, action: { type: 'CreateCA' }, message: `creating the CA that replaces ${old}` };
  if (input.request !== undefined)
    return { status, action: { type: 'AcknowledgeRequest' }, message: `a rotation is already in progress (${status.phase}); request noted` };

  switch (status.phase) {
    case 'CAEmergency': {
      if (!sameElements(input.bundle, [fresh.id]))
        return {
          status,
          action: { type: 'PublishBundle', caIds: [fresh.id] },
          message: `emergency: publishing a bundle with only CA ${fresh.id}`,
          warning: true,
        };
      if (!input.keys.some((k) => k.caId === fresh.id))
        return {
          status,
          action: { type: 'IssueKey', caId: fresh.id, notBefore: now },
          message: `emergency: issuing a signing key from CA ${fresh.id}`,
          warning: true,
        };
      const stale = input.keys.filter((k) => k.caId !== fresh.id).map((k) => k.kid);
      if (stale.length > 0)
        return { status, action: { type: 'PruneKeys', kids: stale }, message: `emergency: dropping keys issued by CA ${old}`, warning: true };
      const roll = rolloutStep(input, status, 'to the emergency bundle');
      if (roll) return roll;
      return { status: { phase: 'Stable' }, action: { type: 'DropCA', caId: old }, message: `emergency rotation complete: CA ${old} dropped` };
    }
    case 'CAStaged': {
      if (!sameElements(input.bundle, [old, fresh.id]))
        return {
          status,
          action: { type: 'PublishBundle', caIds: [old, fresh.id] },
          message: `publishing a bundle that trusts both CA ${old} and CA ${fresh.id}`,
        };
      const roll = rolloutStep(input, status, 'so the registry trusts both CAs');
      if (roll) return roll;
      return {
        status: { phase: 'CAIssuing', retiringCA: old },
        action: { type: 'None', requeueAfterSeconds: 0 },
        message: `the registry trusts CA ${fresh.id}`,
      };
    }
    case 'CAIssuing': {
      if (!input.keys.some((k) => k.caId === fresh.id)) {
        return {
          status,
          action: { type: 'IssueKey', caId: fresh.id, notBefore: new Date(now.getTime() + ms(settings.reloadDelaySeconds)) },
          message: `issuing a signing key from CA ${fresh.id}`,
        };
      }
      const newest = input.keys.filter((k) => k.caId === fresh.id).sort((a, b) => t(b.notBefore) - t(a.notBefore))[0]!;
      // Tokens signed by the old CA's keys stay valid until their exp: the last one is signed just
      // before the new key becomes active.
      const drainUntil = new Date(Math.max(t(newest.notBefore), now.getTime()) + ms(settings.tokenTTLSeconds + settings.reloadDelaySeconds));
      return {
        status: { phase: 'CADraining', retiringCA: old, drainUntil: drainUntil.toISOString() },
        action: { type: 'None', requeueAfterSeconds: 0 },
        message: `waiting until ${drainUntil.toISOString()} for tokens signed under CA ${old} to expire`,
      };
    }
    case 'CADraining': {
      const until = status.drainUntil ? t(status.drainUntil) : now.getTime();
      if (now.getTime() < until) return { status, action: { type: 'Wait', until: new Date(until) }, message: `draining tokens signed under CA ${old}` };
      return { status: { phase: 'CARetiring', retiringCA: old }, action: { type: 'None', requeueAfterSeconds: 0 }, message: `retiring CA ${old}` };
    }
    case 'CARetiring': {
      if (!sameElements(input.bundle, [fresh.id]))
        return { status, action: { type: 'PublishBundle', caIds: [fresh.id] }, message: `publishing a bundle without CA ${old}` };
      const roll = rolloutStep(input, status, `so the registry stops trusting CA ${old}`);
      if (roll) return roll;
      const stale = input.keys.filter((k) => k.caId === old).map((k) => k.kid);
      if (stale.length > 0) return { status, action: { type: 'PruneKeys', kids: stale }, message: `removing signing keys issued by CA ${old}` };
      return { status: { phase: 'Stable' }, action: { type: 'DropCA', caId: old }, message: `CA rotation complete: CA ${old} dropped` };
    }
  }
}
