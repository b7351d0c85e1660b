// What the cluster suites share: one real node (local/cluster.ts) started once for the whole project, and
// one install of the chart on it (test/harness/cluster-portcullis.ts) that the chart, rotation, fault and
// helm-lifecycle suites take turns on, in the order test/cluster/cluster.test.ts registers them. The
// client load every suite puts on the install (crane on the host pushing and pulling through the
// NodePorts) starts from here too, from one image pushed once.
import { join } from 'node:path';
import type { RunningCluster } from '../../../local/cluster.js';
import { buildImage, type BuiltImage } from '../../../local/image.js';
import { waitFor } from '../../../local/process.js';
import { cranePush } from '../../harness/clients.js';
import { startClientLoop, type ClientLoop } from '../../harness/cluster-client-loop.js';
import { podsOf } from '../../harness/cluster-pods.js';
import { installPortcullis, NS, RELEASE, type InstalledPortcullis } from '../../harness/cluster-portcullis.js';

export interface NodeContext {
  cluster: RunningCluster;
  /** A temporary directory of the run, removed by the test file's afterAll. */
  work: string;
}

export interface PortcullisContext extends NodeContext {
  p: InstalledPortcullis;
  /** The image every client loop pushes (a new tag each time) and whose base tag it pulls. */
  loadImage: BuiltImage;
  /**
   * Starts crane on the host pushing to team/<name> and pulling team/load:base, and resolves once it has
   * done a few operations. `retries: 1` lets a failed operation be tried once more (recorded as retried).
   */
  startLoad(name: string, retries?: 0 | 1): Promise<ClientLoop>;
  /** Resolves once the client loop has finished `n` more operations. */
  moreOperations(loop: ClientLoop, n: number): Promise<void>;
  /** Resolves once every Deployment of the release is rolled out and no pod of it is terminating. */
  settled(): Promise<void>;
}

export const LOAD_BASE = 'team/load:base';

/** Installs the chart on `cluster` and pushes the load's base image; prints what the install took. */
export async function installShared(node: NodeContext): Promise<PortcullisContext> {
  const p = await installPortcullis(node.cluster);
  const t = p.timings;
  process.stdout.write(
    `[measured] images built in ${t.imageBuild} s (0: cached), imported in ${t.imageImport} s; chart installed and serving in ${t.install} s\n`,
  );
  const loadImage = await buildImage(join(node.work, 'load-image'));
  const pushed = await cranePush(loadImage.layoutDir, `${p.registryHost}/${LOAD_BASE}`, await p.ctx('alice'));
  if (pushed.code !== 0) throw new Error(`pushing ${LOAD_BASE}: ${pushed.stderr}`);

  const moreOperations = async (loop: ClientLoop, n: number): Promise<void> => {
    const target = loop.operations() + n;
    await waitFor(
      `${n} more client operations`,
      async () => loop.operations() >= target,
      180_000,
      () => loop.failures().join('\n'),
    );
  };
  return {
    ...node,
    p,
    loadImage,
    async startLoad(name, retries = 0) {
      const loop = startClientLoop({
        pull: LOAD_BASE,
        pushRepository: `team/${name}`,
        layoutDir: loadImage.layoutDir,
        ctx: await p.ctx('alice'),
        registryHost: p.registryHost,
        retries,
      });
      await waitFor(
        'the client loop running',
        async () => loop.operations() >= 3,
        120_000,
        () => loop.failures().join('\n'),
      );
      return loop;
    },
    moreOperations,
    async settled() {
      for (const deployment of ['operator', 'token-server', 'registry']) {
        const rolled = await p.kubectl(['-n', NS, 'rollout', 'status', `deployment/${RELEASE}-${deployment}`, '--timeout=300s']);
        if (rolled.code !== 0) throw new Error(`deployment ${deployment} did not roll out: ${rolled.stderr}`);
      }
      await waitFor(
        'no pod of the release terminating',
        async () => {
          const pods = [...(await podsOf(p.kubectl, 'operator')), ...(await podsOf(p.kubectl, 'token-server')), ...(await podsOf(p.kubectl, 'registry'))];
          return pods.every((pod) => !pod.deleting && pod.ready);
        },
        180_000,
      );
    },
  };
}
