// The meta.k8s.io Table kubectl asks for (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), so
// `kubectl get registryevents` prints audit columns instead of names alone: server-side printing, as
// every built-in resource does it.

import type { RegistryEventObject } from './objects.js';

interface ColumnDefinition {
  name: string;
  type: 'string' | 'integer';
  format: string;
  description: string;
  priority: number;
}

export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: Record<string, never>;
  columnDefinitions: ColumnDefinition[];
  rows: { cells: (string | number)[]; object?: unknown }[];
}

/** What a row carries besides its cells (the `includeObject` query parameter). */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

const column = (name: string, description: string, priority = 0, format = ''): ColumnDefinition => ({ name, type: 'string', format, description, priority });

const COLUMNS: ColumnDefinition[] = [
  column('Time', 'When the registry saw the request (RFC 3339, UTC).', 0, 'date-time'),
  column('Registry', 'The Registry that reported it, namespace/name.'),
  column('Action', 'push, pull or delete (of a manifest).'),
  column('Repository', 'The repository.'),
  column('Tag', 'The tag, when the request named one.'),
  column('Digest', "The manifest's digest, shortened (-o wide: whole)."),
  column('Actor', "The access token's subject; <anonymous> for anonymous pulls."),
  column('Name', 'The object name (kubectl get registryevent NAME).', 1, 'name'),
  column('Source', "The client's address as the registry saw it.", 1),
];

const shortDigest = (digest: string | undefined): string => {
  if (digest === undefined) return '<none>';
  const [algorithm, hex] = digest.split(':');
  return hex === undefined ? digest : `${algorithm}:${hex.slice(0, 12)}`;
};

function rowObject(event: RegistryEventObject, include: IncludeObject): unknown {
  if (include === 'Object') return event;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: event.metadata };
}

export function toTable(events: RegistryEventObject[], include: IncludeObject): Table {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: {},
    columnDefinitions: COLUMNS,
    rows: events.map((e) => ({
      cells: [
        e.metadata.creationTimestamp,
        e.registry,
        e.action,
        e.repository,
        e.tag ?? '<none>',
        shortDigest(e.digest),
        e.actor ?? '<anonymous>',
        e.metadata.name,
        e.sourceAddr ?? '<unknown>',
      ],
      ...(include === 'None' ? {} : { object: rowObject(e, include) }),
    })),
  };
}

/** Whether an Accept header asks for a Table (kubectl get does; -o json/yaml does not). */
export function wantsTable(accept: string | undefined): boolean {
  return (accept ?? '').split(',').some((type) => /;\s*as=Table/.test(type) && /;\s*g=meta\.k8s\.io/.test(type));
}

export function parseIncludeObject(value: string | null): IncludeObject {
  return value === 'None' || value === 'Object' ? value : 'Metadata';
}
