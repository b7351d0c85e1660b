// Offline validation of Portcullis manifests against the CRD YAML beside this file, so that
// `portcullis compile` in CI refuses exactly what the API server would refuse, with the same messages.
// The CRD's openAPIV3Schema is interpreted directly (it is a structural schema: a small, closed subset of
// OpenAPI), defaults are applied as the API server applies them, and each CEL rule is matched to a
// TypeScript re-implementation in celRules.ts. A rule without one is reported, never silently skipped.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { API_VERSION } from './types.js';
import { findCelRule, isTransitionRule } from './celRules.js';

export type CrdKind = 'Registry' | 'RegistryUser' | 'RepositoryGrant' | 'RegistryWebhook' | 'RetentionPolicy';
export const CRD_KINDS: readonly CrdKind[] = ['Registry', 'RegistryUser', 'RepositoryGrant', 'RegistryWebhook', 'RetentionPolicy'];

/** The file, beside this module's source, that defines each kind. */
export const CRD_FILES: Record<CrdKind, string> = {
  Registry: 'registries.yaml',
  RegistryUser: 'registryusers.yaml',
  RepositoryGrant: 'repositorygrants.yaml',
  RegistryWebhook: 'registrywebhooks.yaml',
  RetentionPolicy: 'retentionpolicies.yaml',
};

export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
}

/** The structural-schema subset the CRDs use. */
export interface StructuralSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, StructuralSchema>;
  required?: string[];
  items?: StructuralSchema;
  additionalProperties?: StructuralSchema | boolean;
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  minimum?: number;
  maximum?: number;
  default?: unknown;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: ValidationRule[];
}

export interface CustomResourceDefinition {
  apiVersion: string;
  kind: 'CustomResourceDefinition';
  metadata: { name: string };
  spec: {
    group: string;
    names: { kind: string; plural: string; singular?: string; shortNames?: string[]; categories?: string[] };
    versions: { name: string; served: boolean; storage: boolean; schema: { openAPIV3Schema: StructuralSchema } }[];
  };
}

// From source (crds/schema.ts) the YAML is beside this file; from the build (dist/crds/schema.js) it is
// two levels up, in the package's crds/ folder, because the build copies no YAML.
function crdPath(file: string): string {
  const candidates = [new URL(`./${file}`, import.meta.url), new URL(`../../crds/${file}`, import.meta.url)];
  for (const candidate of candidates) {
    const path = fileURLToPath(candidate);
    if (existsSync(path)) return path;
  }
  throw new Error(`CRD file ${file} not found beside ${fileURLToPath(import.meta.url)} or in ../../crds/`);
}

const loaded = new Map<CrdKind, CustomResourceDefinition>();

/** The parsed CRD for a kind (read once). */
export function loadCrd(kind: CrdKind): CustomResourceDefinition {
  let crd = loaded.get(kind);
  if (crd === undefined) {
    crd = parse(readFileSync(crdPath(CRD_FILES[kind]), 'utf8')) as CustomResourceDefinition;
    loaded.set(kind, crd);
  }
  return crd;
}

/** The openAPIV3Schema of the storage version. */
export function crdSchema(kind: CrdKind): StructuralSchema {
  const version = loadCrd(kind).spec.versions.find((v) => v.storage);
  if (version === undefined) throw new Error(`CRD for ${kind} has no storage version`);
  return version.schema.openAPIV3Schema;
}

export function isCrdKind(kind: unknown): kind is CrdKind {
  return typeof kind === 'string' && (CRD_KINDS as readonly string[]).includes(kind);
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

// Regular expressions are how the schema says it; these are how a person would.
const PATTERN_WORDS: Record<string, string> = {
  [DNS1123_SUBDOMAIN.source]: "must be a lowercase DNS-1123 name: a-z, 0-9, '-' and '.', starting and ending with a letter or digit",
  [DNS1123_LABEL.source]: "must be a lowercase DNS-1123 label: a-z, 0-9 and '-', starting and ending with a letter or digit",
  '^[-._a-zA-Z0-9]+$': "must consist of letters, digits, '-', '_' or '.'",
};

/** Validates `metadata` the way the API server does for a namespaced custom resource. */
export function validateObjectMeta(metadata: unknown, errors: string[]): void {
  if (!isPlainObject(metadata)) {
    errors.push('metadata: is required and must be an object');
    return;
  }
  const { name, namespace } = metadata;
  if (name === undefined || name === '') errors.push('metadata.name: is required');
  else if (typeof name !== 'string') errors.push('metadata.name: must be a string');
  else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name))
    errors.push(`metadata.name: ${PATTERN_WORDS[DNS1123_SUBDOMAIN.source]} (at most 253 characters)`);
  if (namespace !== undefined) {
    if (typeof namespace !== 'string' || namespace.length > 63 || !DNS1123_LABEL.test(namespace)) {
      errors.push(`metadata.namespace: ${PATTERN_WORDS[DNS1123_LABEL.source]} (at most 63 characters)`);
    }
  }
}

/**
 * Validates a Portcullis custom resource offline: apiVersion/kind, metadata, then spec against the CRD
 * schema and CEL rules (after defaulting, as the API server does). Returns readable messages, each
 * starting with the field path (`spec.actions[1]: must be one of pull, push, delete, *`); empty if valid.
 * `status` is ignored: the API server drops it on create.
 */
export function validateResource(obj: unknown): string[] {
  const errors: string[] = [];
  if (!isPlainObject(obj)) return ['must be an object with apiVersion, kind, metadata and spec'];
  if (!isCrdKind(obj.kind)) {
    return [`kind: must be one of ${CRD_KINDS.join(', ')}`];
  }
  if (obj.apiVersion !== API_VERSION) errors.push(`apiVersion: must be ${API_VERSION} for kind ${obj.kind}`);
  validateObjectMeta(obj.metadata, errors);
  const schema = withoutMetaAndStatus(crdSchema(obj.kind));
  const { status: _status, metadata: _metadata, ...rest } = obj;
  validateValue(applyDefaults(rest, schema), schema, '', errors);
  return errors;
}

// metadata is checked by validateObjectMeta; status is not the author's to set.
function withoutMetaAndStatus(schema: StructuralSchema): StructuralSchema {
  const properties = { ...(schema.properties ?? {}) };
  delete properties.metadata;
  delete properties.status;
  return { ...schema, properties, required: (schema.required ?? []).filter((r) => r !== 'metadata' && r !== 'status') };
}

/**
 * A copy of `value` with the schema's defaults filled in where a field is absent (or null), recursively,
 * as the API server defaults on create. Does not validate.
 */
export function applyDefaults<T>(value: T, schema: StructuralSchema): T {
  return defaultValue(structuredClone(value), schema) as T;
}

/** Applies a kind's CRD defaults to a resource (a deep copy). */
export function withCrdDefaults<T extends { kind: CrdKind }>(resource: T): T {
  return applyDefaults(resource, crdSchema(resource.kind));
}

function defaultValue(value: unknown, schema: StructuralSchema): unknown {
  if (isPlainObject(value) && schema.properties !== undefined) {
    for (const [key, child] of Object.entries(schema.properties)) {
      if ((value[key] === undefined || value[key] === null) && child.default !== undefined) {
        value[key] = structuredClone(child.default);
      }
      if (value[key] !== undefined) value[key] = defaultValue(value[key], child);
    }
  } else if (isPlainObject(value) && isSchema(schema.additionalProperties)) {
    for (const key of Object.keys(value)) value[key] = defaultValue(value[key], schema.additionalProperties);
  } else if (Array.isArray(value) && schema.items !== undefined) {
    return value.map((item) => defaultValue(item, schema.items as StructuralSchema));
  }
  return value;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function typeName(type: StructuralSchema['type']): string {
  switch (type) {
    case 'object':
      return 'an object';
    case 'array':
      return 'a list';
    case 'integer':
      return 'an integer';
    default:
      return `a ${type}`;
  }
}

function hasType(value: unknown, type: StructuralSchema['type']): boolean {
  switch (type) {
    case 'object':
      return isPlainObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    default:
      return true;
  }
}

/** Validates one value; returns whether it was structurally valid (CEL rules run only on those). */
function validateValue(value: unknown, schema: StructuralSchema, path: string, errors: string[]): boolean {
  const before = errors.length;
  if (!hasType(value, schema.type)) {
    errors.push(`${path}: must be ${typeName(schema.type)}`);
    return false;
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) {
    errors.push(`${path}: must be one of ${schema.enum.map(String).join(', ')}`);
  }
  if (typeof value === 'string') validateString(value, schema, path, errors);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${path}: must be at least ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${path}: must be at most ${schema.maximum}`);
  }
  if (Array.isArray(value)) validateArray(value, schema, path, errors);
  if (isPlainObject(value)) validateObject(value, schema, path, errors);
  if (errors.length !== before) return false;
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    if (isTransitionRule(rule.rule)) continue; // needs oldSelf: only an update on the API server can check it
    const check = findCelRule(rule.rule);
    if (check === undefined) {
      errors.push(`${path}: no offline implementation of the CRD rule ${JSON.stringify(rule.rule)} (a bug in portcullis)`);
      continue;
    }
    if (!check(value)) {
      const where = rule.fieldPath === undefined ? path : `${path}${rule.fieldPath}`;
      errors.push(`${where}: ${rule.message ?? `failed rule: ${rule.rule}`}`);
    }
  }
  return errors.length === before;
}

function validateString(value: string, schema: StructuralSchema, path: string, errors: string[]): void {
  if (schema.minLength !== undefined && value.length < schema.minLength) {
    errors.push(schema.minLength === 1 ? `${path}: must not be empty` : `${path}: must be at least ${schema.minLength} characters`);
    return;
  }
  if (schema.maxLength !== undefined && [...value].length > schema.maxLength) {
    errors.push(`${path}: must be at most ${schema.maxLength} characters`);
    return;
  }
  if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
    errors.push(`${path}: ${PATTERN_WORDS[schema.pattern] ?? `must match the regular expression ${schema.pattern}`}`);
  }
  if (schema.format === 'date-time' && Number.isNaN(Date.parse(value))) errors.push(`${path}: must be an RFC 3339 date-time`);
}

function validateArray(value: unknown[], schema: StructuralSchema, path: string, errors: string[]): void {
  if (schema.minItems !== undefined && value.length < schema.minItems) {
    errors.push(schema.minItems === 1 ? `${path}: must not be empty` : `${path}: must have at least ${schema.minItems} items`);
  }
  if (schema.maxItems !== undefined && value.length > schema.maxItems) {
    errors.push(`${path}: must have at most ${schema.maxItems} items`);
    return; // the API server stops here too, rather than validating a list it already refused for size
  }
  value.forEach((item, i) => {
    if (schema.items !== undefined) validateValue(item, schema.items, `${path}[${i}]`, errors);
  });
  const listType = schema['x-kubernetes-list-type'];
  if (listType === 'set' || listType === 'map') {
    const keys = schema['x-kubernetes-list-map-keys'] ?? [];
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const identity = listType === 'set' ? JSON.stringify(item) : JSON.stringify(keys.map((k) => (isPlainObject(item) ? item[k] : undefined)));
      if (seen.has(identity)) errors.push(`${path}[${i}]: duplicate entry ${identity.length > 80 ? `${identity.slice(0, 80)}…` : identity}`);
      seen.add(identity);
    });
  }
}

function validateObject(value: Record<string, unknown>, schema: StructuralSchema, path: string, errors: string[]): void {
  for (const key of schema.required ?? []) {
    if (value[key] === undefined || value[key] === null) errors.push(`${join(path, key)}: is required`);
  }
  const count = Object.keys(value).length;
  if (schema.maxProperties !== undefined && count > schema.maxProperties) {
    errors.push(`${path}: must have at most ${schema.maxProperties} entries`);
  }
  for (const [key, child] of Object.entries(value)) {
    const childPath = join(path, key);
    const childSchema = schema.properties?.[key];
    if (childSchema !== undefined) {
      if (child === undefined) continue;
      validateValue(child, childSchema, childPath, errors);
    } else if (isSchema(schema.additionalProperties)) {
      validateValue(child, schema.additionalProperties, childPath, errors);
    } else if (schema['x-kubernetes-preserve-unknown-fields'] !== true && schema.type === 'object' && schema.properties !== undefined) {
      // kubectl's default (--validate=strict) refuses unknown fields rather than silently dropping them.
      errors.push(`${childPath}: unknown field`);
    }
  }
}

function isSchema(value: StructuralSchema | boolean | undefined): value is StructuralSchema {
  return typeof value === 'object' && value !== null;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
