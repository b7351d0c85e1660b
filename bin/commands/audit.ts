// `portcullis audit --registry NS/NAME [--namespace N] [--user U] [--repository R] [--action A]
// [--since 24h] [--limit N] [-o table|json]`: who pushed, pulled or deleted what, read from the
// aggregated API (activity.portcullis.dev) through the kube-apiserver with the caller's own kubeconfig
// (KUBECONFIG or ~/.kube/config: client certificates, tokens, exec plugins), so Kubernetes RBAC decides
// who reads which namespace's trail. --namespace defaults to the Registry's own; a tenant of a
// delegated namespace passes its own and sees its prefixes only.

import type { Command } from 'commander';
import { EVENT_ACTIONS } from '../../activity/event.js';
import { GROUP, namespacedPath, REGISTRY_EVENTS } from '../../activity/apiserver/group.js';
import { escapeFieldValue } from '../../activity/apiserver/list-options.js';
import { READER_CLUSTER_ROLE } from '../../activity/apiserver/authorizer.js';
import type { RegistryEventList } from '../../activity/apiserver/objects.js';
import { parseDuration } from '../../policy/duration.js';
import { findTagOverwrites, type TagOverwrite, type TagPush } from '../../policy/tag-overwrites.js';

export interface AuditFlags {
  registry: string;
  namespace?: string;
  user?: string;
  repository?: string;
  action?: string;
  since?: string;
  limit?: string;
  output: string;
  /** Only pushes that moved an existing tag to another digest (docs/adr/0007). */
  overwrites?: boolean;
  /** With --overwrites: only tags matching these globs (`v*`). */
  tags?: string[];
}

export interface AuditRequest {
  namespace: string;
  path: string;
  query: Record<string, string>;
  output: 'table' | 'json';
  /** Set with --overwrites: the tag globs (empty: every tag). */
  overwrites?: string[];
}

const REGISTRY_REF = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** The request the flags describe. Throws a sentence naming the flag for anything wrong. */
export function auditRequest(flags: AuditFlags): AuditRequest {
  const ref = REGISTRY_REF.exec(flags.registry);
  if (ref === null) throw new Error(`--registry must be NAMESPACE/NAME, not ${JSON.stringify(flags.registry)}`);
  const namespace = flags.namespace ?? ref[1]!;
  if (!NAMESPACE.test(namespace)) throw new Error(`--namespace must be a namespace name, not ${JSON.stringify(namespace)}`);
  if (flags.action !== undefined && !(EVENT_ACTIONS as readonly string[]).includes(flags.action)) {
    throw new Error(`--action must be one of ${EVENT_ACTIONS.join(', ')}, not ${JSON.stringify(flags.action)}`);
  }
  if (flags.since !== undefined && !RFC3339.test(flags.since)) {
    try {
      parseDuration(flags.since);
    } catch {
      throw new Error(`--since must be a duration (24h, 90m) or an RFC 3339 time (2026-11-27T10:00:00Z), not ${JSON.stringify(flags.since)}`);
    }
  }
  if (flags.limit !== undefined && !/^[1-9]\d{0,8}$/.test(flags.limit))
    throw new Error(`--limit must be a positive whole number, not ${JSON.stringify(flags.limit)}`);
  if (flags.output !== 'table' && flags.output !== 'json') throw new Error(`-o must be table or json, not ${JSON.stringify(flags.output)}`);
  if (flags.overwrites !== true && flags.tags !== undefined) throw new Error('--tags needs --overwrites');
  if (flags.overwrites === true && flags.action !== undefined && flags.action !== 'push')
    throw new Error(`--overwrites reads pushes: --action must be push or absent, not ${JSON.stringify(flags.action)}`);
  for (const glob of flags.tags ?? []) {
    if (!/^[A-Za-z0-9_.*?-]{1,128}$/.test(glob)) throw new Error(`--tags takes tag globs (letters, digits, . _ - * ?), not ${JSON.stringify(glob)}`);
  }
  const action = flags.overwrites === true ? 'push' : flags.action;
  for (const [flag, value] of [
    ['--user', flags.user],
    ['--repository', flags.repository],
  ] as const) {
    if (value === '') throw new Error(`${flag} must not be empty`);
  }
  const fields = [
    `registry=${flags.registry}`,
    ...(flags.user === undefined ? [] : [`actor=${escapeFieldValue(flags.user)}`]),
    ...(flags.repository === undefined ? [] : [`repository=${escapeFieldValue(flags.repository)}`]),
    ...(action === undefined ? [] : [`action=${action}`]),
  ];
  return {
    namespace,
    path: namespacedPath(REGISTRY_EVENTS, namespace),
    query: {
      fieldSelector: fields.join(','),
      ...(flags.since === undefined ? {} : { since: flags.since }),
      ...(flags.limit === undefined ? {} : { limit: flags.limit }),
    },
    output: flags.output,
    ...(flags.overwrites === true ? { overwrites: flags.tags ?? [] } : {}),
  };
}

const shortDigest = (digest: string | undefined): string => (digest === undefined ? '-' : digest.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]+$/, '$1'));

/** The events as aligned columns, newest first (as the API returns them). */
export function formatTable(list: RegistryEventList): string {
  if (list.items.length === 0) return 'No events found.\n';
  const header = ['TIME', 'ACTION', 'REPOSITORY', 'TAG', 'DIGEST', 'ACTOR', 'SOURCE'];
  const rows = list.items.map((e) => [
    e.metadata.creationTimestamp,
    e.action,
    e.repository,
    e.tag ?? '-',
    shortDigest(e.digest),
    e.actor ?? '<anonymous>',
    e.sourceAddr ?? '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  return [header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] as number))).join('   ')).join('\n') + '\n';
}

/** The overwrites among the listed pushes, as aligned columns, oldest first. */
export function formatOverwrites(overwrites: readonly TagOverwrite[]): string {
  if (overwrites.length === 0) return 'No tag was moved to another digest.\n';
  const header = ['TIME', 'REPOSITORY', 'TAG', 'FROM', 'TO', 'ACTOR'];
  const rows = overwrites.map((o) => [o.timestamp, o.repository, o.tag, shortDigest(o.previousDigest), shortDigest(o.digest), o.actor ?? '<anonymous>']);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  return [header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] as number))).join('   ')).join('\n') + '\n';
}

/** The trail's pushes with a tag and a digest, as findTagOverwrites reads them. */
export function tagPushesOf(list: RegistryEventList): TagPush[] {
  return list.items.flatMap((e) =>
    e.tag === undefined || e.digest === undefined
      ? []
      : [
          {
            repository: e.repository,
            tag: e.tag,
            digest: e.digest,
            timestamp: e.metadata.creationTimestamp,
            ...(e.actor === undefined ? {} : { actor: e.actor }),
          },
        ],
  );
}

/** What to say when the API server refused with 403: who, what, where, and which binding to ask for. */
export function forbiddenMessage(user: string | undefined, namespace: string, registry: string, serverMessage: string): string {
  const who = user === undefined ? 'you' : `user ${JSON.stringify(user)}`;
  const registryNamespace = registry.split('/')[0];
  return [
    `${who} may not list ${REGISTRY_EVENTS.name} (${GROUP}) in namespace ${JSON.stringify(namespace)}.`,
    `  the cluster said: ${serverMessage}`,
    `  ask an administrator of namespace ${JSON.stringify(namespace)} for a RoleBinding to ClusterRole ${READER_CLUSTER_ROLE}, e.g.`,
    `    kubectl create rolebinding activity-reader -n ${namespace} --clusterrole=${READER_CLUSTER_ROLE} --user=${user ?? 'USER'}`,
    ...(namespace === registryNamespace
      ? [`  a namespace the Registry delegates to sees its own repositories: pass --namespace YOUR-NAMESPACE if you are a tenant of ${registry}`]
      : []),
  ].join('\n');
}

export function register(program: Command): void {
  program
    .command('audit')
    .description("show who pushed, pulled or deleted what in a Registry (the activity trail, read with your kubeconfig's Kubernetes permissions)")
    .requiredOption('--registry <namespace/name>', 'the Registry whose events to show')
    .option('-n, --namespace <namespace>', "read as this namespace (default: the Registry's); a delegated namespace sees its own prefixes")
    .option('--user <name>', 'only events by this actor (the token subject, e.g. a RegistryUser name)')
    .option('--repository <name>', 'only events of this repository (exact name)')
    .option('--action <action>', `only ${EVENT_ACTIONS.join(', ')}`)
    .option('--since <duration|time>', 'only events since this long ago (24h, 90m) or since an RFC 3339 time')
    .option('--limit <n>', 'at most this many events (default 500, at most 5000)')
    .option('--overwrites', 'only pushes that moved an existing tag to another digest (tags are not immutable: see docs/adr/0007)')
    .option('--tags <glob...>', "with --overwrites: only tags matching these globs, e.g. 'v*'")
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (flags: AuditFlags) => {
      let request: AuditRequest;
      try {
        request = auditRequest(flags);
      } catch (error) {
        program.error(`audit: ${(error as Error).message}`);
      }
      // Loaded when run, so other commands do not pay for client-node's config module.
      const [{ loadKubeConfig }, { KubeApiError, KubeClient }] = await Promise.all([import('../../kube/config.js'), import('../../kube/request.js')]);
      const client = new KubeClient(await loadKubeConfig());
      try {
        const list = await client.get<RegistryEventList>(request.path, request.query);
        if (request.overwrites !== undefined) {
          const overwrites = findTagOverwrites(tagPushesOf(list), request.overwrites);
          process.stdout.write(request.output === 'json' ? `${JSON.stringify(overwrites, null, 2)}\n` : formatOverwrites(overwrites));
        } else process.stdout.write(request.output === 'json' ? `${JSON.stringify(list, null, 2)}\n` : formatTable(list));
      } catch (error) {
        if (!(error instanceof KubeApiError)) program.error(`audit: cannot reach the cluster: ${(error as Error).message}`);
        if (error.code === 403) {
          const user = await client
            .request<{ status?: { userInfo?: { username?: string } } }>('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
              body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
            })
            .then((r) => r.status?.userInfo?.username)
            .catch(() => undefined);
          program.error(`audit: forbidden: ${forbiddenMessage(user, request.namespace, flags.registry, error.message.replace(/^GET \S+: /, ''))}`);
        }
        if (error.code === 404 || error.code === 503) {
          program.error(
            `audit: the cluster does not serve ${GROUP} (HTTP ${error.code}): is portcullis activity installed, with --listen, and APIService v1alpha1.${GROUP} Available? (${error.message})`,
          );
        }
        program.error(`audit: ${error.message}`);
      } finally {
        client.close();
      }
    });
}
