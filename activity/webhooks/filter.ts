// Which stored events one webhook receives: its actions, its repository patterns, and, for a tenant's
// webhook, the delegated prefixes again (policy/webhook-tenancy.ts admitted the patterns already; checking
// each event against the prefixes too means a mistake there still cannot leak another tenant's events).

import type { RegistryWebhookSpec } from '../../crds/types.js';
import { compilePattern, matchesParts, type CompiledPattern } from '../../policy/match.js';
import { ALL_REPOSITORIES, type WebhookScope } from '../../policy/webhook-tenancy.js';
import type { EventAction, StoredEvent } from '../event.js';

export interface EventFilter {
  registry: string;
  actions: ReadonlySet<EventAction>;
  patterns: readonly CompiledPattern[];
  /** Absent for a webhook in the Registry's own namespace. */
  prefixes?: readonly CompiledPattern[];
}

/** The filter of an admitted webhook (its patterns were validated by webhookScope). */
export function eventFilter(spec: Pick<RegistryWebhookSpec, 'actions' | 'repositories'>, scope: WebhookScope): EventFilter {
  const filter: EventFilter = {
    registry: scope.registry,
    actions: new Set(spec.actions ?? ['push']),
    patterns: (spec.repositories ?? [ALL_REPOSITORIES]).map(compilePattern),
  };
  if (scope.prefixes !== undefined) filter.prefixes = scope.prefixes.map(compilePattern);
  return filter;
}

const matchesAny = (patterns: readonly CompiledPattern[], parts: readonly string[]): boolean => patterns.some((p) => matchesParts(p, parts, undefined));

export function wants(filter: EventFilter, event: StoredEvent): boolean {
  if (event.registry !== filter.registry || !filter.actions.has(event.action)) return false;
  const parts = event.repository.split('/');
  if (!matchesAny(filter.patterns, parts)) return false;
  return filter.prefixes === undefined || matchesAny(filter.prefixes, parts);
}
