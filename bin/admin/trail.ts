// What the admin commands read from the activity trail (registryevents, through the kube-apiserver with
// the caller's kubeconfig): the repositories a tenant's namespace has seen, and who pulled a digest
// recently. Listing in a delegated namespace returns only the events under its prefixes, so neither
// query can show a tenant more than its own repositories.

import { namespacedPath, REGISTRY_EVENTS } from '../../activity/apiserver/group.js';
import type { RegistryEventList } from '../../activity/apiserver/objects.js';
import { escapeFieldValue, MAX_LIMIT } from '../../activity/apiserver/list-options.js';
import type { KubeClient } from '../../kube/request.js';
import type { RecentPull } from './delete-plan.js';
import type { RegistryTarget } from './registry-session.js';

/** How far back `delete` looks for pulls by others. */
export const RECENT_PULL_WINDOW = '15m';

function list(client: KubeClient, target: RegistryTarget, fields: string[], query: Record<string, string> = {}): Promise<RegistryEventList> {
  return client.get<RegistryEventList>(namespacedPath(REGISTRY_EVENTS, target.namespace), {
    fieldSelector: [`registry=${target.registry}`, ...fields].join(','),
    ...query,
  });
}

/** The repositories seen in the namespace's trail (the newest MAX_LIMIT events), sorted. */
export async function repositoriesSeen(client: KubeClient, target: RegistryTarget): Promise<string[]> {
  const events = await list(client, target, [], { limit: String(MAX_LIMIT) });
  return [...new Set(events.items.map((e) => e.repository))].sort();
}

/** Pulls of `digest` in `repository` within RECENT_PULL_WINDOW by anyone but `self`, newest first. */
export async function recentPullsByOthers(client: KubeClient, target: RegistryTarget, repository: string, digest: string, self: string): Promise<RecentPull[]> {
  const events = await list(client, target, [`repository=${escapeFieldValue(repository)}`, `digest=${escapeFieldValue(digest)}`, 'action=pull'], {
    since: RECENT_PULL_WINDOW,
    limit: String(MAX_LIMIT),
  });
  return events.items
    .filter((e) => e.actor !== self)
    .map((e) => ({
      ...(e.actor === undefined ? {} : { actor: e.actor }),
      ...(e.tag === undefined ? {} : { tag: e.tag }),
      ...(e.sourceAddr === undefined ? {} : { sourceAddr: e.sourceAddr }),
      timestamp: e.timestamp,
    }));
}
