// What the retention e2e tests share (test/e2e/retention.test.ts on filesystem registries,
// test/e2e/lifecycle-s3.test.ts on S3): the activity-admin path a run takes — `portcullis activity` as
// the aggregated API with the RegistryToken RBAC, the ClusterRole portcullis-retention
// (deploy/retention/rbac.yaml) bound to `reaper` in the Registry's namespace and `tenant` in team-a —
// the `portcullis retention` CLI as those people, its JSON, the policy's status, the activity trail, and
// the checks of what a run left: stored or not, pulled back byte-identical.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { StoredEvent } from '../../activity/event.js';
import { openEventStore } from '../../activity/store/open.js';
import type { RetentionPolicyResource, RetentionRunSummary } from '../../crds/types.js';
import { kubectl, type ControlPlane } from '../../local/controlPlane.js';
import { waitFor } from '../../local/process.js';
import { repoRoot } from '../../local/tools.js';
import { readActivityKey } from '../../wire/activity-key.js';
import { notificationToken } from '../../wire/notification-token.js';
import { startActivityApi, type ActivityApi } from './activity-api.js';
import { craneDigest, cranePull, type ClientContext } from './clients.js';
import { portcullis } from './portcullis.js';
import type { RetentionFixture } from './retention-fixture.js';

export type RetentionPerson = 'reaper' | 'tenant';

export interface RetentionAccess {
  activity: ActivityApi;
  /** The trail's database (sqlite:FILE). */
  database: string;
  /** The activity server's intake base URL (http://127.0.0.1:PORT). */
  intake: string;
  /** The activity key (what the operator derives notification tokens from). */
  activityKey: Buffer;
  /** The intake token of registry/main (for a registry configured by the test itself). */
  mainToken: string;
  kubeconfigs: Record<RetentionPerson, string>;
}

export async function mustKubectl(cp: ControlPlane, args: string[], input?: string): Promise<void> {
  const r = await kubectl(cp, args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
}

/** The activity server (trail in `dir`/events.db) and the people allowed to run retention. The CRDs and examples must be applied. */
export async function startRetentionAccess(cp: ControlPlane, dir: string): Promise<RetentionAccess> {
  const database = `sqlite:${join(dir, 'events.db')}`;
  const activity = await startActivityApi(cp, { dir: join(dir, 'activity'), database });
  await mustKubectl(cp, ['apply', '-f', join(repoRoot, 'deploy', 'activity', 'registry-tokens-rbac.yaml')]);
  await mustKubectl(cp, ['apply', '-f', join(repoRoot, 'deploy', 'retention', 'rbac.yaml')]);
  await mustKubectl(cp, ['create', 'rolebinding', 'reaper', '-n', 'registry', '--clusterrole=portcullis-retention', '--user=reaper']);
  await mustKubectl(cp, ['create', 'rolebinding', 'tenant', '-n', 'team-a', '--clusterrole=portcullis-retention', '--user=tenant']);
  const kubeconfigs = {} as Record<RetentionPerson, string>;
  for (const who of ['reaper', 'tenant'] as const) kubeconfigs[who] = (await cp.kubeconfigForUser(who)).path;
  const intake = /activity events listening on (http:\/\/\S+)/.exec(activity.process.output())?.[1];
  if (intake === undefined) throw new Error(`no events listener in:\n${activity.process.output()}`);
  const activityKey = await readActivityKey(join(dir, 'activity', 'activity.key'));
  const mainToken = notificationToken(activityKey, { namespace: 'registry', name: 'main' });
  return { activity, database, intake, activityKey, mainToken, kubeconfigs };
}

/** `portcullis retention ... --registry registry/main` as `kubeconfig`'s person, against the registry at `server`. */
export function runRetention(options: { kubeconfig: string; server: string; caFile: string }, args: string[]) {
  return portcullis(['retention', ...args, '--registry', 'registry/main', '--server', options.server, '--ca-file', options.caFile], {
    env: { ...process.env, KUBECONFIG: options.kubeconfig },
  });
}

export interface JsonRun {
  summary: RetentionRunSummary;
  deletions?: { repository: string; digest: string; tags: string[] }[];
  repositories?: { repository: string; candidates: { tag: string }[]; untagged: string[]; kept: { tag: string; keptBy: string[]; reason?: string }[] }[];
  deleted: { digest: string }[];
}

export function runsOf(stdout: string): JsonRun[] {
  return (JSON.parse(stdout) as { runs: JsonRun[] }).runs;
}

/**
 * A RetentionPolicy of registry/main as JSON: keep the newest five releases and the newest pre-release,
 * `latest` and `stable`, prune untagged manifests older than a second (what retention-fixture.ts works out).
 */
export function retentionPolicy(name: string, namespace: string, repositories: string[], extra: Partial<RetentionPolicyResource['spec']> = {}): string {
  return JSON.stringify({
    apiVersion: 'portcullis.dev/v1alpha1',
    kind: 'RetentionPolicy',
    metadata: { name, namespace },
    spec: {
      registryRef: { name: 'main', namespace: 'registry' },
      repositories,
      rules: { keepNewestSemver: { count: 5, preReleases: 'Separate', preReleaseCount: 1 }, keepTags: ['latest', 'stable'], pruneUntaggedOlderThan: '1s' },
      ...extra,
    },
  });
}

export async function policyStatus(cp: ControlPlane, namespace: string, name: string): Promise<RetentionPolicyResource['status']> {
  const r = await kubectl(cp, ['get', 'retentionpolicy', name, '-n', namespace, '-o', 'json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout) as RetentionPolicyResource).status;
}

/** registry/main's events in the trail that pass `filter`. */
export async function trailEvents(database: string, filter: (e: StoredEvent) => boolean): Promise<StoredEvent[]> {
  const store = await openEventStore(database);
  try {
    return (await store.query({ registry: 'registry/main', limit: 5000 })).filter(filter);
  } finally {
    await store.close();
  }
}

/**
 * Untagged manifests are known from the trail only: waits until every digest pushed is in it, then a
 * little longer than the policy's `pruneUntaggedOlderThan: 1s`.
 */
export async function waitForPushesInTrail(access: RetentionAccess, digests: string[]): Promise<void> {
  await waitFor(
    'every push by digest in the trail',
    async () => {
      const pushed = new Set((await trailEvents(access.database, (e) => e.action === 'push')).map((e) => e.digest));
      return digests.every((d) => pushed.has(d));
    },
    60_000,
    () => access.activity.process.output().slice(-3000),
  );
  await new Promise((resolve) => setTimeout(resolve, 1500));
}

/** Pulls `ref` (an image) into `into` and compares every blob pulled with the bytes the fixture built for `digest`. */
export async function expectPullsIdentical(ref: string, into: string, fixture: RetentionFixture, digest: string, ctx: ClientContext): Promise<void> {
  const pulled = await cranePull(ref, into, ctx);
  expect(pulled.code, `${ref}: ${pulled.stderr}`).toBe(0);
  const blobs = fixture.blobsOf.get(digest) ?? [];
  expect(blobs.length).toBeGreaterThan(0);
  for (const blob of blobs) expect((await readFile(join(into, 'blobs', 'sha256', blob.digest.slice(7)))).equals(blob.data), `${ref} ${blob.digest}`).toBe(true);
}

/** Whether the registry still stores the manifest `ref` (NAME@DIGEST) names. */
export async function isStored(ref: string, ctx: ClientContext): Promise<boolean> {
  const r = await craneDigest(ref, ctx);
  if (r.code === 0) return true;
  if (/MANIFEST_UNKNOWN/.test(r.stderr)) return false;
  throw new Error(`crane digest ${ref}: ${r.stderr}`);
}
