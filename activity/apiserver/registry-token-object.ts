// The RegistryToken object of the aggregated API (activity.portcullis.dev/v1alpha1, verb create only):
// what `portcullis images|tags|delete` send, what they get back, and the one parser of the request.
// Nothing is stored: a create answers with a short-lived registry token and is forgotten.

import { parseScopes, type ResourceScope } from '../../policy/scope.js';
import { GROUP_VERSION } from './group.js';

/**
 * The resource RBAC speaks of for what a registry token may do (SubjectAccessReview verb `get`: pull and
 * list, `delete`: delete). Nothing serves it: it exists in Roles and reviews only.
 */
export const REGISTRY_IMAGES = 'registryimages';

export interface RegistryTokenSpec {
  /** The Registry, "NAMESPACE/NAME" (a bare NAME: the namespace the token is asked in). */
  registry: string;
  /** Docker Registry token scopes: `repository:team-a/app:pull,delete`, `registry:catalog:*`. */
  scopes: string[];
}

/** One granted scope, as in the token's `access` claim. */
export interface GrantedAccess {
  type: string;
  class?: string;
  name: string;
  actions: string[];
}

export interface RegistryTokenStatus {
  /** The registry bearer token (a JWT); never logged. */
  token: string;
  /** RFC 3339. */
  expirationTimestamp: string;
  /** The Registry's service: the token's audience and, by default, the host its commands talk to. */
  service: string;
  /** What the token carries. */
  access: GrantedAccess[];
  /** Scopes (or parts of them) asked for and not given, each with the reason. */
  withheld: { scope: string; reason: string }[];
}

export interface RegistryToken {
  apiVersion: typeof GROUP_VERSION;
  kind: 'RegistryToken';
  metadata: { namespace: string; creationTimestamp: string };
  spec: RegistryTokenSpec;
  status: RegistryTokenStatus;
}

export interface RegistryTokenRequest {
  registry: { namespace: string; name: string };
  scopes: ResourceScope[];
}

// DNS-1123: a namespace is a label, a Registry's name a subdomain.
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isNamespaceName(value: string): boolean {
  return value.length <= 63 && LABEL.test(value);
}

function isObjectName(value: string): boolean {
  return value.length <= 253 && SUBDOMAIN.test(value);
}

/** Quotes client input for a message: bounded and JSON-escaped. */
function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/** The request in a create body, or a sentence saying what is wrong with it. */
export function parseRegistryTokenRequest(body: unknown, namespace: string): RegistryTokenRequest | { invalid: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { invalid: 'the body must be a RegistryToken object' };
  const object = body as { apiVersion?: unknown; kind?: unknown; spec?: unknown };
  if (object.apiVersion !== GROUP_VERSION) return { invalid: `apiVersion must be ${GROUP_VERSION}` };
  if (object.kind !== 'RegistryToken') return { invalid: 'kind must be RegistryToken' };
  if (typeof object.spec !== 'object' || object.spec === null) return { invalid: 'spec is required' };
  const spec = object.spec as { registry?: unknown; scopes?: unknown };
  if (typeof spec.registry !== 'string' || spec.registry === '') return { invalid: 'spec.registry is required: NAMESPACE/NAME of the Registry' };
  const parts = spec.registry.split('/');
  const [registryNamespace, name] = parts.length === 1 ? [namespace, parts[0] as string] : parts;
  if (parts.length > 2 || registryNamespace === undefined || name === undefined || !isNamespaceName(registryNamespace) || !isObjectName(name)) {
    return { invalid: `spec.registry ${quote(spec.registry)} is not NAMESPACE/NAME` };
  }
  if (!Array.isArray(spec.scopes) || spec.scopes.length === 0) return { invalid: 'spec.scopes must list at least one scope' };
  if (!spec.scopes.every((s): s is string => typeof s === 'string')) return { invalid: 'spec.scopes must be strings' };
  const parsed = parseScopes(spec.scopes);
  if (!parsed.ok) return { invalid: `spec.scopes: ${parsed.message}` };
  if (parsed.scopes.length === 0) return { invalid: 'spec.scopes must list at least one scope' };
  return { registry: { namespace: registryNamespace, name }, scopes: parsed.scopes };
}
