// The activity trail as a retention run reads it: manifest push events (registryevents, through the
// kube-apiserver with the caller's kubeconfig, in the policy's namespace, so a tenant sees only its
// prefixes). The API answers newest first, at most MAX_LIMIT events per list, and has no continue
// token: one list of the Registry's pushes serves every repository when it is not full; when it is,
// each repository is asked on its own, and a repository whose own list is full is reported truncated
// (its oldest pushes are unknown, which the planner treats as "age unknown": never pruned).

import { namespacedPath, REGISTRY_EVENTS } from '../activity/apiserver/group.js';
import { escapeFieldValue, MAX_LIMIT } from '../activity/apiserver/list-options.js';
import type { RegistryEventList, RegistryEventObject } from '../activity/apiserver/objects.js';
import type { KubeClient } from '../kube/request.js';
import { mapLimit } from './pool.js';
import type { ManifestPush, PushHistory, TrailSource } from './sources.js';

/** Lists asked at once when the trail is read repository by repository. */
const PARALLEL_LISTS = 4;

function toPush(event: RegistryEventObject): ManifestPush[] {
  if (event.digest === undefined) return [];
  return [{ repository: event.repository, digest: event.digest, timestamp: event.timestamp, ...(event.tag === undefined ? {} : { tag: event.tag }) }];
}

export class KubeTrail implements TrailSource {
  constructor(
    private readonly client: KubeClient,
    /** Where the events are listed: the policy's namespace. */
    private readonly namespace: string,
    /** "namespace/name" of the Registry. */
    private readonly registry: string,
  ) {}

  private async list(fields: string[]): Promise<RegistryEventObject[]> {
    const answer = await this.client.get<RegistryEventList>(namespacedPath(REGISTRY_EVENTS, this.namespace), {
      fieldSelector: [`registry=${this.registry}`, 'action=push', ...fields].join(','),
      limit: String(MAX_LIMIT),
    });
    return answer.items;
  }

  async pushes(repositories: readonly string[]): Promise<PushHistory> {
    const wanted = new Set(repositories);
    const all = await this.list([]);
    if (all.length < MAX_LIMIT) return { pushes: all.filter((e) => wanted.has(e.repository)).flatMap(toPush), truncated: new Set() };
    const truncated = new Set<string>();
    const perRepository = await mapLimit([...wanted].sort(), PARALLEL_LISTS, async (repository) => {
      const events = await this.list([`repository=${escapeFieldValue(repository)}`]);
      if (events.length >= MAX_LIMIT) truncated.add(repository);
      return events.flatMap(toPush);
    });
    return { pushes: perRepository.flat(), truncated };
  }

  async repositoriesSeen(): Promise<string[]> {
    return [...new Set((await this.list([])).map((e) => e.repository))].sort();
  }
}
