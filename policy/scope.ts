// Docker Registry token scopes (`scope=repository:team/app:pull,push`), read the way Distribution and
// docker_auth read them: the type runs to the FIRST `:`, the actions follow the LAST `:`, so a name may
// carry a `host:port` (`repository:localhost:5000/foo:pull`). A type may carry a class in parentheses
// (`repository(plugin):name:pull`). Parsing is strict and bounded: a client gets a message naming the bad
// scope instead of a silently smaller token.

export interface ResourceScope {
  type: string;
  class?: string;
  name: string;
  actions: string[];
}

export type ScopeParseResult = { ok: true; scopes: ResourceScope[] } | { ok: false; message: string };

export const DEFAULT_MAX_SCOPES = 32;
/** Distribution's NameTotalLengthMax. */
export const DEFAULT_MAX_NAME_LENGTH = 255;
/**
 * Distinct actions on one resource, after merging, and the length of one action. Clients ask for at most
 * four (pull, push, delete, `*`); without a bound, one anonymous request of 6,000 actions cost 100 ms of
 * CPU and audit lines of 87 KB.
 */
export const MAX_ACTIONS_PER_SCOPE = 8;
export const MAX_ACTION_LENGTH = 64;

const TYPE = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/;
const ACTION = /^[A-Za-z0-9_.*-]+$/;

// Distribution's reference grammar (distribution/reference/regexp.go), the name part only.
const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|${IPV6})(?::[0-9]+)?`;
const REPOSITORY_NAME = new RegExp(`^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const PATH_COMPONENT_RE = new RegExp(`^${PATH_COMPONENT}$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);

/** True if `name` is a repository name Distribution accepts (without tag or digest). */
export function isRepositoryName(name: string, maxLength = DEFAULT_MAX_NAME_LENGTH): boolean {
  return name.length > 0 && name.length <= maxLength && REPOSITORY_NAME.test(name);
}

/** True if `segment` is one path component of a repository name (`[a-z0-9]+` joined by `.`, `_`, `__`, `-`+). */
export function isPathComponent(segment: string): boolean {
  return PATH_COMPONENT_RE.test(segment);
}

/** True if `segment` is a registry domain (host, optional port), which may only lead a name. */
export function isDomain(segment: string): boolean {
  return DOMAIN_RE.test(segment);
}

/** Quotes client input for a message: bounded, and JSON-escaped so control characters cannot forge lines. */
function quote(s: string): string {
  return JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}…` : s);
}

function parseOne(raw: string, maxNameLength: number): ResourceScope | string {
  const first = raw.indexOf(':');
  const last = raw.lastIndexOf(':');
  if (first < 0 || first === last) return `invalid scope ${quote(raw)}: expected type:name:actions`;
  const typeWithClass = raw.slice(0, first);
  const name = raw.slice(first + 1, last);
  const actionText = raw.slice(last + 1);
  const t = TYPE.exec(typeWithClass);
  if (t === null) return `invalid scope ${quote(raw)}: bad resource type ${quote(typeWithClass)}`;
  if (name.length === 0) return `invalid scope ${quote(raw)}: empty resource name`;
  if (name.length > maxNameLength) return `invalid scope ${quote(raw)}: resource name longer than ${maxNameLength}`;
  const type = t[1] as string;
  if (type === 'repository' && !isRepositoryName(name, maxNameLength)) {
    return `invalid scope ${quote(raw)}: ${quote(name)} is not a valid repository name`;
  }
  if (type !== 'repository' && !/^[\x21-\x7e]+$/.test(name)) {
    return `invalid scope ${quote(raw)}: bad resource name`;
  }
  const actions: string[] = [];
  for (const action of actionText.split(',')) {
    if (action === '') continue;
    if (action.length > MAX_ACTION_LENGTH || !ACTION.test(action)) return `invalid scope ${quote(raw)}: bad action ${quote(action)}`;
    if (!actions.includes(action)) actions.push(action);
    if (actions.length > MAX_ACTIONS_PER_SCOPE) return tooManyActions(raw);
  }
  if (actions.length === 0) return `invalid scope ${quote(raw)}: no actions`;
  const scope: ResourceScope = { type, name, actions };
  if (t[2] !== undefined) scope.class = t[2];
  return scope;
}

function tooManyActions(raw: string): string {
  return `invalid scope ${quote(raw)}: more than ${MAX_ACTIONS_PER_SCOPE} actions on one resource`;
}

function resourceKey(s: ResourceScope): string {
  return `${s.type}\u0000${s.class ?? ''}\u0000${s.name}`;
}

/**
 * Parses the `scope` query parameters of a token request. Each parameter may hold several
 * space-separated scopes; empty ones are ignored. The same resource named twice is merged (union of
 * actions, first-seen order). At most `maxScopes` scopes are read, counted before merging, so a client
 * cannot make the server do unbounded work.
 */
export function parseScopes(params: readonly string[], limits?: { maxScopes?: number; maxNameLength?: number }): ScopeParseResult {
  const maxScopes = limits?.maxScopes ?? DEFAULT_MAX_SCOPES;
  const maxNameLength = limits?.maxNameLength ?? DEFAULT_MAX_NAME_LENGTH;
  const byResource = new Map<string, ResourceScope>();
  let count = 0;
  for (const param of params) {
    for (const raw of param.split(' ')) {
      if (raw === '') continue;
      count += 1;
      if (count > maxScopes) return { ok: false, message: `too many scopes: at most ${maxScopes} allowed` };
      const parsed = parseOne(raw, maxNameLength);
      if (typeof parsed === 'string') return { ok: false, message: parsed };
      const key = resourceKey(parsed);
      const seen = byResource.get(key);
      if (seen === undefined) {
        byResource.set(key, parsed);
      } else {
        for (const action of parsed.actions) if (!seen.actions.includes(action)) seen.actions.push(action);
        if (seen.actions.length > MAX_ACTIONS_PER_SCOPE) return { ok: false, message: tooManyActions(raw) };
      }
    }
  }
  return { ok: true, scopes: [...byResource.values()] };
}

/**
 * Whether a scope can never change: frozen, its actions too (token.ts freezes the parsed scopes it shares
 * between requests). What is derived from such a scope may be remembered with it.
 */
export function isShared(scope: ResourceScope): boolean {
  return Object.isFrozen(scope) && Object.isFrozen(scope.actions);
}

/** Prints a scope the way it is written in requests and in the token's `access` claim reasoning. */
export function formatScope(s: ResourceScope): string {
  const type = s.class !== undefined && s.class !== '' ? `${s.type}(${s.class})` : s.type;
  return `${type}:${s.name}:${s.actions.join(',')}`;
}
