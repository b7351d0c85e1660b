// `portcullis gc NAMESPACE/NAME [--wait] [--timeout 30m]`: asks the operator for a garbage-collection
// window, by setting the `portcullis.dev/gc-requested-at` annotation on the Registry to the time of the
// request (with the caller's kubeconfig: whoever may patch the Registry may ask). With --wait it follows
// status.garbageCollection until the window that served this request is over, and prints its result.

import { Option, type Command } from 'commander';
import type { GarbageCollectionStatus, RegistryResource } from '../../crds/types.js';
import type { KubeClient } from '../../kube/request.js';
import { parseDuration } from '../../policy/duration.js';
import { DEFAULT_NAMESPACE } from '../../policy/object-keys.js';
import { Annotations } from '../../wire/labels.js';
import { AdminError } from '../admin/registry-session.js';
import { runAdmin } from '../admin/command.js';

interface GcFlags {
  namespace?: string;
  wait: boolean;
  timeout: string;
  pollMs?: string;
}

/** NAMESPACE/NAME, or NAME in --namespace (default `default`). */
export function registryKeyFrom(argument: string, namespace: string | undefined): { namespace: string; name: string } {
  const parts = argument.split('/');
  if (parts.length === 2 && parts[0] && parts[1]) return { namespace: parts[0], name: parts[1] };
  if (parts.length === 1 && parts[0]) return { namespace: namespace || DEFAULT_NAMESPACE, name: parts[0] };
  throw new AdminError(`"${argument}" is not NAMESPACE/NAME or NAME`);
}

function statusOf(registry: RegistryResource): GarbageCollectionStatus | undefined {
  return (registry.status as { garbageCollection?: GarbageCollectionStatus } | undefined)?.garbageCollection;
}

/** One line about the window that served `request`, for the terminal. */
export function windowReport(status: GarbageCollectionStatus): string {
  const result = status.lastResult;
  const window = `${status.windowStart ?? '?'} .. ${status.windowEnd ?? '?'}`;
  if (result === undefined) return `window ${window}: no result`;
  return `window ${window}: ${result.succeeded ? 'succeeded' : 'FAILED'}, ${result.message}`;
}

async function follow(
  client: KubeClient,
  path: string,
  request: string,
  timeoutMs: number,
  pollMs: number,
  say: (line: string) => void,
): Promise<GarbageCollectionStatus> {
  const deadline = Date.now() + timeoutMs;
  let lastPhase: string | undefined;
  for (;;) {
    const status = statusOf(await client.get<RegistryResource>(path));
    const mine = status?.requestId === request;
    if (mine && status.phase !== lastPhase) {
      lastPhase = status.phase;
      if (status.phase !== 'Idle') say(`${new Date().toISOString()} ${status.phase}`);
    }
    if (mine && status.phase === 'Idle' && status.windowEnd !== undefined) return status;
    if (Date.now() > deadline) {
      const where = mine
        ? `the window is in phase ${status.phase}`
        : `the operator has not opened a window for it (status: ${status?.phase ?? 'none'}, serving ${status?.requestId ?? 'nothing'})`;
      throw new AdminError(`gave up waiting after ${Math.round(timeoutMs / 1000)}s: ${where}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export function register(program: Command): void {
  program
    .command('gc')
    .description('ask the operator for a garbage-collection window on a Registry (read-only while Distribution collects unreferenced blobs)')
    .argument('<registry>', 'the Registry, NAMESPACE/NAME (or NAME with -n)')
    .option('-n, --namespace <namespace>', "the Registry's namespace when the argument is only a name (default: default)")
    .option('--wait', 'follow the window until it is over and print its result (exit 1 if it failed)', false)
    .option('--timeout <duration>', 'with --wait: give up after this long (e.g. 30m)', '30m')
    // Tests follow faster than a person needs.
    .addOption(new Option('--poll-ms <ms>', 'status poll interval').hideHelp())
    .action(async (argument: string, opts: GcFlags) => {
      let timeoutMs: number;
      try {
        timeoutMs = parseDuration(opts.timeout) * 1000;
      } catch (error) {
        program.error(`gc: --timeout: ${(error as Error).message}`);
      }
      await runAdmin(program, 'gc', async (client) => {
        const { namespace, name } = registryKeyFrom(argument, opts.namespace);
        const { MERGE_PATCH, objectPath, Resources } = await import('../../kube/request.js');
        const path = objectPath(Resources.registries, namespace, name);
        const request = new Date().toISOString();
        await client.request('PATCH', path, { body: { metadata: { annotations: { [Annotations.gcRequestedAt]: request } } }, contentType: MERGE_PATCH });
        process.stdout.write(`requested a garbage-collection window on Registry ${namespace}/${name} (${Annotations.gcRequestedAt}=${request})\n`);
        if (!opts.wait) return;
        const say = (line: string): void => void process.stdout.write(`${line}\n`);
        const status = await follow(client, path, request, timeoutMs, Number(opts.pollMs ?? 1000), say);
        say(windowReport(status));
        if (status.lastResult?.succeeded !== true) throw new AdminError(`the window failed: ${status.lastResult?.message ?? 'no result'}`);
      });
    });
}
