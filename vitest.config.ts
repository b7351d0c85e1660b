import { defineConfig } from 'vitest/config';

// Four projects: unit tests beside the code (no processes), integration tests against a real
// kube-apiserver + etcd, e2e tests against real registries and clients, and cluster tests on a real
// single-node cluster (kubelet, containerd). `npm test` runs all four.
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: [
            'policy/**/*.test.ts',
            'wire/**/*.test.ts',
            'kube/**/*.test.ts',
            'token-server/**/*.test.ts',
            'operator/**/*.test.ts',
            'activity/**/*.test.ts',
            'lifecycle/**/*.test.ts',
            'bin/**/*.test.ts',
            'crds/**/*.test.ts',
            'credentials/**/*.test.ts',
            'credential-provider/**/*.test.ts',
            'pki/**/*.test.ts',
            'bench/**/*.test.ts',
            'test/harness/**/*.test.ts',
            'test/*.test.ts',
          ],
        },
      },
      {
        test: {
          name: 'integration',
          // Projects with their own worker limits run as separate groups: unit, then integration, then e2e.
          sequence: { groupOrder: 1 },
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Each file starts its own control plane; two at once on two cores is the limit.
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: 'e2e',
          sequence: { groupOrder: 2 },
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: 'cluster',
          // Last, alone: one real node per machine (local/cluster.ts). One file starts it once and installs
          // the chart once; the node, chart, rotation, fault and helm suites (test/cluster/suites/) take
          // turns on them, about 15 minutes with the images cached (README, "On a real node").
          sequence: { groupOrder: 3 },
          include: ['test/cluster/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 900_000,
          maxWorkers: 1,
        },
      },
    ],
  },
});
