import fc from 'fast-check';
import { leakedParts, thrownBy } from '../../test/support/assert.js';
import { describe, expect, it } from 'vitest';
import { activeKeyInfo, nextRotationStep, type RotationRequest, type RotationStatus } from '../../policy/rotation.js';
import {
  applyAction,
  bundleHash,
  bundleIds,
  bundlePemFor,
  caIdOf,
  emptyKeySet,
  ensureRefreshKey,
  keyInfos,
  parseCAs,
  rolloutInfo,
  rotationRequestOf,
  rotationSettings,
  rotationStatusOf,
  serializeCAs,
  type ApplyContext,
  type DeploymentLike,
  type Material,
} from './material.js';

const T0 = new Date('2030-01-01T00:00:00Z');
const REGISTRY = 'registry/main';
const { settings } = rotationSettings({ service: 'r', tokenTTL: '60s', signing: { rotateEvery: '1h' } }, { reloadDelaySeconds: 10 });
const ctx = (now: Date): ApplyContext => ({ now, registryId: REGISTRY, commonName: 'test CA', algorithm: 'ES256', settings });
const empty = (): Material => ({ cas: [], signing: emptyKeySet(), bundlePem: '' });

async function withCAs(n: number): Promise<Material> {
  let m = empty();
  for (let i = 0; i < n; i++) m = (await applyAction(m, { type: 'CreateCA' }, ctx(new Date(T0.getTime() + i * 1000)))).material;
  return m;
}

describe('cas.json', () => {
  it('a serialized list parses back to the same CAs, with ids derived from the certificate', async () => {
    const m = await withCAs(2);
    const parsed = parseCAs(serializeCAs(m.cas));
    expect(parsed).toEqual(m.cas);
    expect(parsed.map((c) => c.id)).toEqual(m.cas.map((c) => caIdOf(c.certPem)));
    expect(parsed[0]?.id).toMatch(/^[0-9a-f]{16}$/);
  });

  it.each([
    ['an absent value is no CA', undefined, []],
    ['an empty value is no CA', '  ', []],
  ])('%s', (_name, text, expected) => {
    expect(parseCAs(text)).toEqual(expected);
  });

  it.each([
    ['text that is not JSON is refused', '{nope', /not valid JSON/],
    ['an object instead of a list is refused', '{}', /must be a list/],
    ['an entry without keyPem is refused', '[{"certPem":"x"}]', /needs certPem and keyPem/],
    ['a certPem that is no certificate is refused', '[{"certPem":"x","keyPem":"y"}]', /not a PEM certificate/],
  ])('%s', (_name, text, error) => {
    expect(() => parseCAs(text)).toThrow(error);
  });

  it('errors never quote the input (it holds private keys)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 6 }), (text) => {
        // Malformed input always throws; no part of it long enough to matter may appear in the message.
        const error = thrownBy(() => parseCAs(`[{"certPem":${JSON.stringify(text)},"keyPem":${JSON.stringify(text)}}]`));
        expect(leakedParts(error.message, text)).toEqual([]);
      }),
    );
  });
});

describe('bundle', () => {
  it('bundle ids are read back in bundle order, and the hash follows the content', async () => {
    const m = await withCAs(2);
    const [a, b] = m.cas.map((c) => c.id) as [string, string];
    expect(bundleIds(bundlePemFor(m.cas, [b, a]))).toEqual([b, a]);
    expect(bundleHash(bundlePemFor(m.cas, [a, b]))).not.toBe(bundleHash(bundlePemFor(m.cas, [b, a])));
    expect(bundleHash(bundlePemFor(m.cas, [a]))).toBe(bundleHash(bundlePemFor(m.cas, [a])));
  });

  it('text around and between certificates is ignored; a damaged block is left out', async () => {
    const m = await withCAs(1);
    const pem = `# comment\n${m.cas[0]?.certPem}\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`;
    expect(bundleIds(pem)).toEqual([m.cas[0]?.id]);
  });

  it('publishing a CA the operator does not hold is refused', async () => {
    await expect(applyAction(empty(), { type: 'PublishBundle', caIds: ['0123456789abcdef'] }, ctx(T0))).rejects.toThrow(/not held/);
  });
});

describe('actions', () => {
  it('IssueKey issues a key from the named CA, for this registry, with the certificate lifetime', async () => {
    const m = await withCAs(2);
    const second = m.cas[1]!.id;
    const notBefore = new Date(T0.getTime() + 10_000);
    const r = await applyAction(m, { type: 'IssueKey', caId: second, notBefore }, ctx(T0));
    expect(r.changed).toEqual(['signing']);
    const [info] = keyInfos(r.material.signing, r.material.cas, REGISTRY);
    expect(info).toMatchObject({ kid: r.created, caId: second, notBefore: notBefore.toISOString() });
    expect(Date.parse(info!.notAfter) - notBefore.getTime()).toBe(settings.certificateLifetimeSeconds * 1000);
    expect(r.material.signing.keys[0]?.registry).toBe(REGISTRY);
    expect(keyInfos(r.material.signing, r.material.cas, 'other/registry')).toEqual([]);
  });

  it('PruneKeys removes exactly the named keys and DropCA exactly the named CA', async () => {
    let m = await withCAs(2);
    for (const ca of m.cas) m = (await applyAction(m, { type: 'IssueKey', caId: ca.id, notBefore: T0 }, ctx(T0))).material;
    const [k1, k2] = m.signing.keys.map((k) => k.kid);
    const pruned = (await applyAction(m, { type: 'PruneKeys', kids: [k1!] }, ctx(T0))).material;
    expect(pruned.signing.keys.map((k) => k.kid)).toEqual([k2]);
    const dropped = (await applyAction(m, { type: 'DropCA', caId: m.cas[0]!.id }, ctx(T0))).material;
    expect(dropped.cas.map((c) => c.id)).toEqual([m.cas[1]!.id]);
  });

  it('actions on the Deployment, the request or the clock change no material', async () => {
    const m = await withCAs(1);
    for (const action of [
      { type: 'RollDeployment' },
      { type: 'WaitForRollout' },
      { type: 'AcknowledgeRequest' },
      { type: 'Wait', until: T0 },
      { type: 'None', requeueAfterSeconds: 1 },
    ] as const) {
      const r = await applyAction(m, action, ctx(T0));
      expect(r.changed).toEqual([]);
      expect(r.material).toBe(m);
    }
  });

  it('a set without refresh keys gets one; a set with one is left alone', () => {
    const first = ensureRefreshKey(emptyKeySet(), T0);
    expect(first.changed).toBe(true);
    expect(first.set.refreshKeys).toHaveLength(1);
    expect(ensureRefreshKey(first.set, T0)).toEqual({ set: first.set, changed: false });
  });
});

describe('rollout', () => {
  const dep = (
    over: Partial<{ gen: number; observed: number; replicas: number; updated: number; available: number; total: number; paused: boolean; hash: string }>,
  ): DeploymentLike => ({
    metadata: { name: 'registry', generation: over.gen ?? 2 },
    spec: {
      replicas: over.replicas ?? 2,
      paused: over.paused ?? false,
      template: { metadata: { annotations: over.hash ? { 'portcullis.dev/bundle-hash': over.hash } : {} } },
    },
    status: { observedGeneration: over.observed ?? 2, updatedReplicas: over.updated ?? 2, availableReplicas: over.available ?? 2, replicas: over.total ?? 2 },
  });
  it.each([
    ['every replica updated and available on the observed generation is complete', dep({}), true],
    ['a generation the controller has not observed is not complete', dep({ gen: 3 }), false],
    ['a replica still on the old template is not complete', dep({ updated: 1 }), false],
    ['an updated replica not yet available is not complete', dep({ available: 1 }), false],
    ['an old replica still running (surge) is not complete', dep({ total: 3 }), false],
  ])('%s', (_name, d, complete) => {
    expect(rolloutInfo(d, true).complete).toBe(complete);
  });
  it('the template hash and paused flag are read; an unmanaged or missing Deployment is not managed', () => {
    expect(rolloutInfo(dep({ hash: 'abc', paused: true }), true)).toEqual({ managed: true, templateBundleHash: 'abc', complete: true, paused: true });
    expect(rolloutInfo(dep({}), false).managed).toBe(false);
    expect(rolloutInfo(undefined, true).managed).toBe(false);
  });
});

describe('settings', () => {
  it.each([
    [
      'an empty spec gets the documented defaults',
      {},
      {
        rotateEverySeconds: 86400,
        certificateLifetimeSeconds: 172800,
        caLifetimeSeconds: 8760 * 3600,
        caRotateBeforeSeconds: 720 * 3600,
        tokenTTLSeconds: 300,
        reloadDelaySeconds: 10,
      },
      0,
    ],
    [
      'a certificate lifetime not longer than rotateEvery + tokenTTL is raised and reported',
      { tokenTTL: '5m', signing: { rotateEvery: '1h', certificateLifetime: '1h' } },
      { certificateLifetimeSeconds: 3600 + 2 * 310 },
      1,
    ],
    [
      'caRotateBefore not shorter than caLifetime is halved and reported',
      { signing: { caLifetime: '10h', caRotateBefore: '20h' } },
      { caRotateBeforeSeconds: 18000 },
      1,
    ],
    ['the default certificate lifetime follows a long rotateEvery', { signing: { rotateEvery: '720h' } }, { certificateLifetimeSeconds: 1440 * 3600 }, 0],
  ])('%s', (_name, spec, expected, warnings) => {
    const r = rotationSettings({ service: 's', ...spec });
    expect(r.settings).toMatchObject(expected);
    expect(r.warnings).toHaveLength(warnings);
  });
  it('test overrides replace tokenTTL and reloadDelay', () => {
    expect(rotationSettings({ service: 's', tokenTTL: '5m' }, { overrides: { tokenTTLSeconds: 5, reloadDelaySeconds: 1 } }).settings).toMatchObject({
      tokenTTLSeconds: 5,
      reloadDelaySeconds: 1,
    });
  });
  it.each([
    ['an absent status is Stable', undefined, { phase: 'Stable' }],
    ['an unknown phase is Stable', { phase: 'Sideways' }, { phase: 'Stable' }],
    [
      'a draining status keeps its fields',
      { phase: 'CADraining', retiringCA: 'a', drainUntil: '2030-01-01T00:00:00Z' },
      { phase: 'CADraining', retiringCA: 'a', drainUntil: '2030-01-01T00:00:00Z' },
    ],
  ])('%s', (_n, value, expected) => {
    expect(rotationStatusOf(value)).toEqual(expected);
  });
  it.each([
    ['keys', 'keys'],
    ['ca', 'ca'],
    ['ca-emergency', 'ca-emergency'],
    ['now', undefined],
  ])('the rotate annotation %s is read as %s', (value, expected) => {
    expect(rotationRequestOf({ 'portcullis.dev/rotate': value })).toBe(expected);
  });
});

// The state machine driven over real material with a Deployment that rolls instantly: whatever key
// signs at any moment, the CA that issued it is in the bundle the registry currently runs with.
describe('rotation over real material', () => {
  it('five key rotations and two CA rotations never sign with a key the running registry cannot verify', async () => {
    let m = empty();
    let status: RotationStatus = { phase: 'Stable' };
    let now = T0;
    let running = { bundle: '', hash: '' }; // what the registry pods trust
    let template: string | undefined;
    let request: RotationRequest | undefined;
    const verify = () => {
      const active = activeKeyInfo(keyInfos(m.signing, m.cas, REGISTRY), now);
      if (active) expect(bundleIds(running.bundle)).toContain(active.caId);
    };
    const run = async (maxSteps = 60) => {
      for (let i = 0; i < maxSteps; i++) {
        const step = nextRotationStep({
          now,
          settings,
          status,
          cas: m.cas,
          bundle: bundleIds(m.bundlePem),
          bundleHash: bundleHash(m.bundlePem),
          rollout: { managed: true, ...(template ? { templateBundleHash: template } : {}), complete: running.hash === template, paused: false },
          keys: keyInfos(m.signing, m.cas, REGISTRY),
          ...(request ? { request } : {}),
        });
        status = step.status;
        const a = step.action;
        if (a.type === 'AcknowledgeRequest') request = undefined;
        else if (a.type === 'RollDeployment') template = bundleHash(m.bundlePem);
        else if (a.type === 'WaitForRollout') running = { bundle: m.bundlePem, hash: template! };
        else if (a.type === 'Wait') now = new Date(a.until.getTime());
        else if (a.type === 'None') {
          if (a.requeueAfterSeconds > 0 && request === undefined && status.phase === 'Stable') return;
        } else m = (await applyAction(m, a, ctx(now))).material;
        verify();
        now = new Date(now.getTime() + 1000);
        verify();
      }
      throw new Error('did not settle');
    };
    await run();
    const caOf = () => keyInfos(m.signing, m.cas, REGISTRY).map((k) => k.caId);
    for (let i = 0; i < 5; i++) {
      const before = activeKeyInfo(keyInfos(m.signing, m.cas, REGISTRY), now)!.kid;
      request = 'keys';
      await run();
      now = new Date(now.getTime() + (settings.reloadDelaySeconds + 1) * 1000);
      await run();
      expect(activeKeyInfo(keyInfos(m.signing, m.cas, REGISTRY), now)!.kid).not.toBe(before);
    }
    for (let i = 0; i < 2; i++) {
      const oldCA = m.cas[0]!.id;
      request = 'ca';
      await run();
      expect(m.cas.map((c) => c.id)).not.toContain(oldCA);
      expect(bundleIds(m.bundlePem)).toEqual(m.cas.map((c) => c.id));
      expect(new Set(caOf())).toEqual(new Set([m.cas[0]!.id]));
      expect(status.phase).toBe('Stable');
    }
  });
});
