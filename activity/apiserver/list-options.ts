// What a list request asks for, read from its query string: a field selector over the event's fields
// (`kubectl get registryevents --field-selector actor=alice,action=push`), `since` (a duration back from
// now, or an RFC 3339 time: what `portcullis audit --since` sends) and `limit`. Anything this server
// cannot honour exactly is refused with 400, never ignored: an audit query that silently dropped a
// filter would answer a different question.

import { EVENT_ACTIONS, type EventAction } from '../event.js';
import { parseDuration } from '../../policy/duration.js';
import { badRequest } from './status.js';

export const DEFAULT_LIMIT = 500;
export const MAX_LIMIT = 5000;

export interface EventFilters {
  /** "namespace/name" of one Registry. */
  registry?: string;
  actor?: string;
  repository?: string;
  action?: EventAction;
  digest?: string;
  tag?: string;
  /** metadata.name: one event. */
  name?: string;
  /** metadata.namespace other than the request's: nothing can match. */
  otherNamespace?: boolean;
  since?: Date;
  limit: number;
}

/** The field selector's keys, with what each must look like. */
export const SELECTABLE_FIELDS = ['registry', 'actor', 'repository', 'action', 'digest', 'tag', 'metadata.name', 'metadata.namespace'] as const;
type SelectableField = (typeof SELECTABLE_FIELDS)[number];

const REGISTRY_REF = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Splits on commas that are not escaped; the terms keep their escapes (k8s escaping: `\,` `\=` `\\`). */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\\' && i + 1 < text.length) {
      current += c + text[i + 1];
      i++;
    } else if (c === ',') {
      terms.push(current);
      current = '';
    } else current += c;
  }
  terms.push(current);
  return terms;
}

/** A field selector value with `\`, `,` and `=` escaped, as clients must write it (the inverse of unescape). */
export function escapeFieldValue(value: string): string {
  return value.replace(/[\\,=]/g, (c) => `\\${c}`);
}

function unescape(value: string): string {
  return value.replace(/\\(.)/g, '$1');
}

/** One `key=value` (or `key==value`) term, the value unescaped. */
function parseTerm(term: string): [string, string] {
  const m = /^([a-zA-Z.]+)\s*(==|=|!=)(.*)$/.exec(term);
  if (m === null) throw badRequest(`invalid field selector term ${JSON.stringify(term)}: expected FIELD=VALUE`);
  if (m[2] === '!=') throw badRequest(`field selector ${JSON.stringify(term)}: registry events support only = (exact match)`);
  return [m[1] as string, unescape(m[3] as string)];
}

function applyField(filters: EventFilters, field: SelectableField, value: string, namespace: string): void {
  switch (field) {
    case 'registry':
      if (!REGISTRY_REF.test(value)) throw badRequest(`field selector registry=${JSON.stringify(value)}: expected NAMESPACE/NAME of a Registry`);
      filters.registry = value;
      return;
    case 'action':
      if (!(EVENT_ACTIONS as readonly string[]).includes(value))
        throw badRequest(`field selector action=${JSON.stringify(value)}: expected one of ${EVENT_ACTIONS.join(', ')}`);
      filters.action = value as EventAction;
      return;
    case 'metadata.name':
      filters.name = value;
      return;
    case 'metadata.namespace':
      if (value !== namespace) filters.otherNamespace = true;
      return;
    default:
      if (value === '') throw badRequest(`field selector ${field}=: the value is empty`);
      filters[field] = value;
  }
}

export function parseFieldSelector(selector: string, namespace: string, filters: EventFilters): void {
  if (selector.trim() === '') return;
  const seen = new Set<string>();
  for (const term of splitTerms(selector)) {
    const [field, value] = parseTerm(term.trim());
    if (!(SELECTABLE_FIELDS as readonly string[]).includes(field)) {
      throw badRequest(`field selector: unknown field ${JSON.stringify(field)} (registry events select on ${SELECTABLE_FIELDS.join(', ')})`);
    }
    if (seen.has(field)) throw badRequest(`field selector: ${field} is given twice`);
    seen.add(field);
    applyField(filters, field as SelectableField, value, namespace);
  }
}

/** `since`: a Go-style duration back from `now` (24h, 90m) or an RFC 3339 time. */
export function parseSince(value: string, now: Date): Date {
  if (RFC3339.test(value)) {
    const ms = Date.parse(value);
    if (Number.isFinite(ms)) return new Date(ms);
  } else {
    let seconds: number | undefined;
    try {
      seconds = parseDuration(value);
    } catch {
      seconds = undefined;
    }
    if (seconds !== undefined) return new Date(now.getTime() - seconds * 1000);
  }
  throw badRequest(`since=${JSON.stringify(value.slice(0, 64))}: expected a duration (24h, 90m) or an RFC 3339 time (2026-11-27T10:00:00Z)`);
}

export function parseLimit(value: string | null): number {
  if (value === null || value === '' || value === '0') return DEFAULT_LIMIT;
  if (!/^\d{1,9}$/.test(value)) throw badRequest(`limit=${JSON.stringify(value.slice(0, 32))}: expected a positive whole number`);
  return Math.min(Number(value), MAX_LIMIT);
}

/** The filters of a list in `namespace`. Throws the 400 Status for anything it cannot honour. */
export function parseListOptions(query: URLSearchParams, namespace: string, now: Date): EventFilters {
  if (query.get('watch') === 'true' || query.get('watch') === '1')
    throw badRequest('registry events cannot be watched; list them again (portcullis audit --since)');
  if ((query.get('labelSelector') ?? '') !== '')
    throw badRequest('registry events have no labels: select with --field-selector (' + SELECTABLE_FIELDS.join(', ') + ')');
  const filters: EventFilters = { limit: parseLimit(query.get('limit')) };
  parseFieldSelector(query.get('fieldSelector') ?? '', namespace, filters);
  const since = query.get('since');
  if (since !== null && since !== '') filters.since = parseSince(since, now);
  return filters;
}
