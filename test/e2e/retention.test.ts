// `portcullis retention` end to end, on Distribution v3 and 2.8: the activity-admin setup (kube-apiserver
// with the front proxy, operator, token server for ci-bot's crane pushes, `portcullis activity` as the
// aggregated API, registries reporting to its intake), the RetentionPolicy CRD, and people bound to the
// ClusterRole portcullis-retention (deploy/retention/rbac.yaml): `reaper` in the Registry's namespace,
// `tenant` in team-a (delegated team-a/**). The expected candidates are worked out by hand in
// test/harness/retention-fixture.ts; the planner is not asked.
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryToken } from '../../activity/apiserver/registry-token-object.js';
import type { StoredEvent } from '../../activity/event.js';
import type { RetentionPolicyResource, RetentionPolicyStatus } from '../../crds/types.js';
import { KubeApiError, KubeClient } from '../../kube/request.js';
import type { ControlPlane } from '../../local/controlPlane.js';
import { waitFor } from '../../local/process.js';
import { startRegistry, type RegistryFlavor, type RunningRegistry } from '../../local/registry.js';
import { craneDigest, cranePush, type ClientContext } from '../harness/clients.js';
import type { Layout } from '../harness/oci-layouts.js';
import { buildRetentionFixture, type RetentionFixture } from '../harness/retention-fixture.js';
import {
  expectPullsIdentical,
  isStored,
  mustKubectl as kubectlOk,
  policyStatus as statusOf,
  retentionPolicy,
  runRetention,
  runsOf,
  startRetentionAccess,
  trailEvents,
  waitForPushesInTrail,
  type RetentionAccess,
  type RetentionPerson,
} from '../harness/retention-run.js';
import { EXAMPLE_PASSWORDS, EXAMPLE_SERVICE, startExampleStack, type Stack } from '../harness/stack.js';

const FLAVORS = ['v3', '2.8'] as const;
const repositoryOf = (flavor: RegistryFlavor): string => `library/retain-${flavor.replace('.', '')}`;

let cp: ControlPlane;
let stack: Stack;
let access: RetentionAccess;
let dir: string;
const registries = {} as Record<RegistryFlavor, RunningRegistry>;
const fixtures = {} as Record<RegistryFlavor, RetentionFixture>;

const ciBot = (): ClientContext => ({ tls: stack.tls, auth: { username: 'ci-bot', password: EXAMPLE_PASSWORDS['ci-bot'] } });
const ref = (flavor: RegistryFlavor, reference: string): string =>
  `${registries[flavor].host}/${repositoryOf(flavor)}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;

const retention = (who: RetentionPerson, flavor: RegistryFlavor, args: string[]) =>
  runRetention({ kubeconfig: access.kubeconfigs[who], server: registries[flavor].url, caFile: stack.tls.caCertPath }, args);
const policy = retentionPolicy;
const mustKubectl = (args: string[], input?: string): Promise<void> => kubectlOk(cp, args, input);
const policyStatus = (namespace: string, name: string): Promise<RetentionPolicyResource['status']> => statusOf(cp, namespace, name);
const events = (filter: (e: StoredEvent) => boolean): Promise<StoredEvent[]> => trailEvents(access.database, filter);

/** Pulls `reference` (an image) and compares every blob pulled with the bytes built for `digest`. */
const pullsIdentical = (flavor: RegistryFlavor, reference: string, digest: string): Promise<void> =>
  expectPullsIdentical(ref(flavor, reference), join(dir, 'pulled', flavor, reference.replace(/[^a-z0-9.]/g, '-')), fixtures[flavor], digest, ciBot());

/** Whether the registry still stores `digest` in the flavor's repository (crane as ci-bot). */
const stored = (flavor: RegistryFlavor, digest: string): Promise<boolean> => isStored(ref(flavor, digest), ciBot());

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-retention-'));
  ({ cp, stack } = await startExampleStack({ dir, operatorReplicas: 1 }));
  access = await startRetentionAccess(cp, dir);
  for (const flavor of FLAVORS) {
    registries[flavor] = await startRegistry({
      flavor,
      tls: { cert: stack.tls.serverCertPath, key: stack.tls.serverKeyPath },
      auth: { realm: `${stack.tokenUrl}/token`, service: EXAMPLE_SERVICE, issuer: 'portcullis', rootCertBundle: join(dir, 'bundle.pem') },
      notifications: { url: `${access.intake}/events/registry/main`, token: access.mainToken },
    });
    fixtures[flavor] = await buildRetentionFixture(join(dir, `images-${flavor}`));
    for (const [tag, layout] of fixtures[flavor].pushes) {
      const pushed = await cranePush(layout.layoutDir, ref(flavor, tag), ciBot());
      if (pushed.code !== 0) throw new Error(`push ${tag} to ${flavor}: ${pushed.stderr}`);
    }
    await mustKubectl(['apply', '-f', '-'], policy(`keep-releases-${flavor.replace('.', '')}`, 'registry', [repositoryOf(flavor)]));
    await mustKubectl(
      ['apply', '-f', '-'],
      policy(`capped-${flavor.replace('.', '')}`, 'registry', [repositoryOf(flavor)], { dryRun: false, maxDeletionsPerRun: 5 }),
    );
  }
  // Untagged manifests are known from the trail only: every push must be in it, and older than 1s.
  await waitForPushesInTrail(
    access,
    FLAVORS.flatMap((f) => [...fixtures[f].prunedUntagged, ...fixtures[f].keptChildren]),
  );
}, 400_000);

afterAll(async () => {
  for (const r of Object.values(registries)) await r.stop();
  await access?.activity.stop();
  await stack?.stop();
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.each(FLAVORS)('Distribution %s', (flavor) => {
  const name = (prefix: string): string => `${prefix}-${flavor.replace('.', '')}`;
  const fixture = (): RetentionFixture => fixtures[flavor];

  it('a dry run (the default for a new policy) lists exactly the expected candidates, says why each tag is kept, and deletes nothing', async () => {
    const r = await retention('reaper', flavor, ['--policy', name('keep-releases'), '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const [run] = runsOf(r.stdout);
    expect(run!.summary).toMatchObject({ dryRun: true, result: 'Succeeded', repositories: 1, candidates: fixture().deletedDigests.length, deleted: 0 });
    expect(run!.summary.bytesFreed).toBe(fixture().bytesFreed);
    expect(run!.deletions!.map((d) => d.digest).sort()).toEqual(fixture().deletedDigests);
    const [repository] = run!.repositories!;
    expect(repository!.candidates.map((c) => c.tag).sort()).toEqual(fixture().candidateTags);
    expect(repository!.untagged.sort()).toEqual([...fixture().prunedUntagged].sort());
    expect(repository!.kept.map((k) => k.tag).sort()).toEqual([...fixture().keptTags].sort());
    expect(repository!.kept.find((k) => k.tag === '1.3.0')).toMatchObject({ keptBy: [], reason: 'shares digest with kept tag stable' });
    expect(repository!.kept.find((k) => k.tag === '1.2.0')?.reason).toBe(`listed by kept index ${fixture().tagged.get('1.29.0')}`);
    for (const digest of fixture().deletedDigests) expect(await stored(flavor, digest), digest).toBe(true);

    const text = await retention('reaper', flavor, ['--policy', name('keep-releases')]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(
      `RetentionPolicy registry/${name('keep-releases')} (dry run): Succeeded: 1 repositories, 36 tags, ${fixture().deletedDigests.length} manifests to delete, 0 deleted`,
    );
    expect(text.stdout).toMatch(/keep stable \(sha256:[0-9a-f]{12}\): keepTags\n/);
    expect(text.stdout).toMatch(/keep 1\.29\.0 \(sha256:[0-9a-f]{12}\): keepNewestSemver\n/);
    const status = await policyStatus('registry', name('keep-releases'));
    expect(status?.lastRun).toMatchObject({ dryRun: true, result: 'Succeeded', candidates: fixture().deletedDigests.length, deleted: 0 });
    expect(status?.conditions).toContainEqual(expect.objectContaining({ type: 'LastRunSucceeded', status: 'True', reason: 'RetentionSucceeded' }));
  });

  it('a policy whose cap is below its candidates deletes nothing, reports CapExceeded and exits 1', async () => {
    const r = await retention('reaper', flavor, ['--policy', name('capped')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${fixture().deletedDigests.length} manifests selected, more than maxDeletionsPerRun 5: nothing was deleted`);
    expect(r.stdout).toContain(`most selected in: ${repositoryOf(flavor)} (${fixture().deletedDigests.length})`);
    expect(r.stderr).toContain(`retention: RetentionPolicy registry/${name('capped')}: CapExceeded`);
    for (const digest of fixture().deletedDigests) expect(await stored(flavor, digest), digest).toBe(true);
    const status = await policyStatus('registry', name('capped'));
    expect(status?.lastRun).toMatchObject({ dryRun: false, result: 'CapExceeded', deleted: 0 });
    expect(status?.conditions).toContainEqual(expect.objectContaining({ type: 'LastRunSucceeded', status: 'False', reason: 'CapExceeded' }));
  });

  it('the real run deletes exactly the candidates; every kept tag and the kept index children still pull, byte-identical; the trail shows the deletes', async () => {
    await mustKubectl(['patch', 'retentionpolicy', name('keep-releases'), '-n', 'registry', '--type=merge', '-p', '{"spec":{"dryRun":false}}']);
    const r = await retention('reaper', flavor, ['--policy', name('keep-releases'), '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const [run] = runsOf(r.stdout);
    expect(run!.summary).toMatchObject({ dryRun: false, result: 'Succeeded', deleted: fixture().deletedDigests.length, errors: [] });
    expect(run!.deleted.map((d) => d.digest).sort()).toEqual(fixture().deletedDigests);
    for (const digest of fixture().deletedDigests) expect(await stored(flavor, digest), digest).toBe(false);

    for (const tag of fixture().keptTags) {
      const digest = await craneDigest(ref(flavor, tag), ciBot());
      expect(digest.stdout.trim(), `${tag}: ${digest.stderr}`).toBe(fixture().tagged.get(tag));
      // An index tag is pulled as its children, below.
      if (tag !== '1.29.0') await pullsIdentical(flavor, tag, fixture().tagged.get(tag) as string);
    }
    for (const child of fixture().keptChildren) await pullsIdentical(flavor, child, child);

    // Distribution reports a manifest delete by digest, and each tag it removed as a delete by tag.
    let deletes: StoredEvent[] = [];
    const byDigest = (): StoredEvent[] => deletes.filter((e) => e.digest !== undefined);
    const byTag = (): StoredEvent[] => deletes.filter((e) => e.digest === undefined);
    await waitFor(
      'the deletes in the trail',
      async () => {
        deletes = await events((e) => e.action === 'delete' && e.repository === repositoryOf(flavor));
        return byDigest().length >= fixture().deletedDigests.length && byTag().length >= fixture().candidateTags.length;
      },
      30_000,
    );
    expect(
      byDigest()
        .map((e) => e.digest)
        .sort(),
    ).toEqual(fixture().deletedDigests);
    expect(
      byTag()
        .map((e) => e.tag)
        .sort(),
    ).toEqual(fixture().candidateTags);
    expect(new Set(deletes.map((e) => e.actor))).toEqual(new Set(['kubernetes:reaper']));
    expect((await policyStatus('registry', name('keep-releases')))?.lastRun).toMatchObject({
      dryRun: false,
      result: 'Succeeded',
      deleted: fixture().deletedDigests.length,
    });
  });
});

describe('a policy in a delegated namespace', () => {
  it('cannot reach a repository outside its prefixes: the token is refused (403, naming the prefixes), nothing is deleted, the run fails', async () => {
    await mustKubectl(['apply', '-f', '-'], policy('steal', 'team-a', [repositoryOf('v3')], { dryRun: false }));
    const kc = new KubeConfig();
    kc.loadFromFile(access.kubeconfigs.tenant);
    const client = new KubeClient(kc);
    const refusal = await client
      .request<RegistryToken>('POST', '/apis/activity.portcullis.dev/v1alpha1/namespaces/team-a/registrytokens', {
        body: {
          apiVersion: 'activity.portcullis.dev/v1alpha1',
          kind: 'RegistryToken',
          spec: { registry: 'registry/main', scopes: [`repository:${repositoryOf('v3')}:pull,delete`] },
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
      .finally(() => client.close());
    expect(refusal).toBeInstanceOf(KubeApiError);
    expect(refusal).toMatchObject({ code: 403, reason: 'Forbidden' });
    const sentence = `repository "${repositoryOf('v3')}" is outside the prefixes Registry registry/main delegates to namespace team-a: "team-a/**"`;
    expect((refusal as KubeApiError).message).toContain(sentence);

    const r = await retention('tenant', 'v3', ['-n', 'team-a', '--policy', 'steal']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('RetentionPolicy team-a/steal (run): Failed');
    expect(r.stdout).toContain(sentence);
    for (const tag of fixtures.v3.keptTags) expect((await craneDigest(ref('v3', tag), ciBot())).stdout.trim()).toBe(fixtures.v3.tagged.get(tag));
    const status = await policyStatus('team-a', 'steal');
    expect(status?.conditions).toContainEqual(expect.objectContaining({ type: 'LastRunSucceeded', status: 'False', reason: 'RetentionFailed' }));
  });
});

describe("a tenant's long trail and the owner's run", () => {
  it('a repository with 5,000 pushes or more is left alone, and the run still deletes elsewhere (not Failed)', async () => {
    // The tenant's repository: one real push, then 5,000 more push events in the trail (a re-tag loop).
    const images = fixtures.v3.pushes.map(([, layout]) => layout).filter((layout) => layout.children.length === 0);
    const first = images[0] as Layout;
    const second = images.find((layout) => layout.digest !== first.digest) as Layout;
    const host = registries.v3.host;
    for (const [reference, layout] of [
      ['team-a/flood:v1', first],
      ['library/beside-flood:keep', first],
      ['library/beside-flood:old', second],
    ] as const) {
      const pushed = await cranePush(layout.layoutDir, `${host}/${reference}`, ciBot());
      expect(pushed.code, pushed.stderr).toBe(0);
    }
    const flood = Array.from({ length: 5000 }, (_, i) => ({
      id: `flood-${i}`,
      timestamp: new Date().toISOString(),
      action: 'push',
      target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: first.digest, size: 402, repository: 'team-a/flood', tag: 'v1' },
      request: { id: `flood-req-${i}`, addr: '127.0.0.1:1', host: 'localhost', method: 'PUT', useragent: 'crane' },
      actor: { name: 'ci-bot' },
      source: { addr: 'registry-0:5000', instanceID: 'flood' },
    }));
    for (let i = 0; i < flood.length; i += 250) {
      const res = await fetch(`${access.intake}/events/registry/main`, {
        method: 'POST',
        headers: { authorization: `Bearer ${access.mainToken}`, 'content-type': 'application/vnd.docker.distribution.events.v2+json' },
        body: JSON.stringify({ events: flood.slice(i, i + 250) }),
      });
      expect(res.status).toBeLessThan(300);
    }
    await waitFor('the flood in the trail', async () => (await events((e) => e.repository === 'team-a/flood' && e.action === 'push')).length >= 5000, 60_000);

    // The owner's policy over both: keep `keep`, delete the rest.
    await mustKubectl(
      ['apply', '-f', '-'],
      policy('beside-flood', 'registry', ['library/beside-flood', 'team-a/flood'], { dryRun: false, rules: { keepTags: ['keep'] } }),
    );
    const r = await retention('reaper', 'v3', ['-n', 'registry', '--policy', 'beside-flood', '-o', 'json']);
    const [run] = runsOf(r.stdout);
    // Before: Failed with nothing deleted anywhere, for as long as the flood stayed in the trail.
    expect(run?.summary, r.stderr).toMatchObject({ result: 'Succeeded', deleted: 1, errors: [] });
    expect(run?.summary.leftAlone).toEqual([expect.stringMatching(/^team-a\/flood: the activity trail returned only its newest pushes/)]);
    expect(await isStored(`${host}/library/beside-flood@${second.digest}`, ciBot())).toBe(false);
    expect(await isStored(`${host}/library/beside-flood:keep`, ciBot())).toBe(true);
    expect(await isStored(`${host}/team-a/flood:v1`, ciBot())).toBe(true);
    const status = (await policyStatus('registry', 'beside-flood')) as RetentionPolicyStatus | undefined;
    expect(status?.lastRun?.leftAlone).toEqual(run?.summary.leftAlone);
  });
});
