// Everything proven on a real single-node cluster, in one file so the node starts once and the chart is
// installed once: the suites (test/cluster/suites/) take turns on them in this order, each leaving the
// install as the next expects.
//   1. the node's own proofs (a Deployment rolled, Services through kube-proxy, logs, exec, restarts);
//   2. the chart installed (images imported, `helm install`, the scenario's users and grants), its pods,
//      clients (crane, skopeo, docker) and refusals;
//   3. signing-key and CA rotations under client load, the operator leader disrupted in every phase;
//   4. faults: a token-server pod deleted, the kubelet and the API server restarted, under load;
//   5. `helm upgrade` and `helm uninstall` (what uninstall keeps);
//   6. stop() of the node, and nothing of it left on the machine.
// One file, not a globalSetup: the suites call the RunningCluster's methods (restartKubelet,
// restartApiServer), which a globalSetup could not hand to a test worker.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { startCluster } from '../../local/cluster.js';
import { chartSuite } from './suites/chart.js';
import { dockerClientSuite } from './suites/docker-client.js';
import { installShared, type NodeContext, type PortcullisContext } from './suites/context.js';
import { faultsSuite } from './suites/faults.js';
import { helmLifecycleSuite } from './suites/helm-lifecycle.js';
import { nodeStopSuite, nodeSuite } from './suites/node.js';
import { rotationSuite } from './suites/rotation.js';

let node: NodeContext | undefined;
let installed: PortcullisContext | undefined;

const nodeContext = (): NodeContext => {
  if (!node) throw new Error('the node did not start (see beforeAll)');
  return node;
};
const portcullisContext = (): PortcullisContext => {
  if (!installed) throw new Error('the chart was not installed (see the beforeAll of "Portcullis on the node")');
  return installed;
};

beforeAll(async () => {
  const work = await mkdtemp(join(tmpdir(), 'portcullis-cluster-test-'));
  const started = Date.now();
  try {
    node = { cluster: await startCluster(), work };
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  }
  process.stdout.write(`[measured] cluster started in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}, 1_800_000);

afterAll(async () => {
  await node?.cluster.stop();
  await installed?.p.cleanup();
  if (node) await rm(node.work, { recursive: true, force: true });
});

nodeSuite(nodeContext);

describe('Portcullis on the node', () => {
  beforeAll(async () => {
    installed = await installShared(nodeContext());
  }, 1_800_000);

  chartSuite(portcullisContext);
  dockerClientSuite(portcullisContext);
  rotationSuite(portcullisContext);
  faultsSuite(portcullisContext);
  helmLifecycleSuite(portcullisContext);
});

nodeStopSuite(nodeContext);
