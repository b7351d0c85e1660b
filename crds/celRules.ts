// TypeScript re-implementations of the CEL rules (x-kubernetes-validations) in the CRD YAML, so that
// offline validation (`portcullis compile`) refuses what the API server refuses. Rules are looked up by
// their exact text: editing a rule in the YAML without updating this file makes schema.test.ts fail
// ("every CEL rule has an offline implementation") instead of silently weakening offline checks.
// Repository patterns are checked by policy/match.ts, the same code that later matches them.

import { namespaceUnambiguous } from '../policy/compile/delegation.js';
import { validatePattern } from '../policy/match.js';
import { hasHeaderControlCharacters, isHeaderNameSyntax, isReservedHeaderName, RESERVED_HEADER_PATTERNS, urlHasCredentials } from '../policy/webhook-spec.js';

/** Returns true when the rule holds for `self`. */
export type CelCheck = (self: unknown) => boolean;

/** Rules that compare with the stored object (`oldSelf`) can only be checked by the API server on update. */
export function isTransitionRule(rule: string): boolean {
  return /\boldSelf\b/.test(rule);
}

function field(self: unknown, key: string): unknown {
  return typeof self === 'object' && self !== null ? (self as Record<string, unknown>)[key] : undefined;
}

function has(self: unknown, key: string): boolean {
  return field(self, key) !== undefined;
}

// RE2's \s (what CEL's matches() uses) is exactly these; JavaScript's \s also matches Unicode spaces.
const RE2_SPACE = '\\t\\n\\f\\r ';
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const EXACT: Record<string, CelCheck> = {
  // Regexes rather than CEL's format.dns1123Subdomain(), which needs a newer API server.
  "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')": (self) => typeof self === 'string' && DNS1123_SUBDOMAIN.test(self),

  "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')": (self) => typeof self === 'string' && DNS1123_LABEL.test(self),

  "!self.matches('[:\\\\s]')": (self) => typeof self === 'string' && !new RegExp(`[:${RE2_SPACE}]`).test(self),

  "!self.matches('\\\\s')": (self) => typeof self === 'string' && !new RegExp(`[${RE2_SPACE}]`).test(self),

  "!self.contains(' ')": (self) => typeof self === 'string' && !self.includes(' '),

  // Delegated identity patterns: each name matched belongs to one namespace (policy/compile/delegation.ts).
  "!self.contains('*') || !self.contains('${namespace}') || self.matches('^[^*]*[$][{]namespace[}][^a-z0-9*${}-]') || self.matches('[^a-z0-9*${}-][$][{]namespace[}][^*]*$')":
    (self) => typeof self === 'string' && namespaceUnambiguous(self),

  // Registry storage: exactly one driver.
  'has(self.filesystem) != has(self.s3)': (self) => has(self, 'filesystem') !== has(self, 's3'),

  "(self.startsWith('https://') || self.startsWith('http://')) && isURL(self)": (self) => {
    if (typeof self !== 'string' || !(self.startsWith('https://') || self.startsWith('http://'))) return false;
    try {
      return new URL(self).host !== '';
    } catch {
      return false;
    }
  },

  "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0": (self) => {
    const values = field(self, 'values');
    const size = Array.isArray(values) ? values.length : 0;
    return ['In', 'NotIn'].includes(field(self, 'operator') as string) ? has(self, 'values') && size > 0 : !has(self, 'values') || size === 0;
  },

  "self.from == 'Selector' ? has(self.selector) : !has(self.selector)": (self) =>
    field(self, 'from') === 'Selector' ? has(self, 'selector') : !has(self, 'selector'),

  "self.kind in ['User', 'Group'] ? has(self.name) : true": (self) => (['User', 'Group'].includes(field(self, 'kind') as string) ? has(self, 'name') : true),

  "self.kind in ['Anonymous', 'Authenticated'] ? !has(self.name) : true": (self) =>
    ['Anonymous', 'Authenticated'].includes(field(self, 'kind') as string) ? !has(self, 'name') : true,

  "self.kind == 'ServiceAccount' || !has(self.namespace)": (self) => field(self, 'kind') === 'ServiceAccount' || !has(self, 'namespace'),

  'has(self.bindDN) == has(self.bindPasswordSecretRef)': (self) => has(self, 'bindDN') === has(self, 'bindPasswordSecretRef'),

  "self.contains('{username}')": (self) => typeof self === 'string' && self.includes('{username}'),

  "self.contains('{dn}') || self.contains('{username}')": (self) => typeof self === 'string' && (self.includes('{dn}') || self.includes('{username}')),

  // RegistryWebhook: repository patterns without variables, a URL without credentials, safe headers.
  "!self.contains('${')": (self) => typeof self === 'string' && !self.includes('${'),

  "!self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@')": (self) => typeof self === 'string' && !urlHasCredentials(self),

  "self.matches('^[A-Za-z0-9][-A-Za-z0-9]*$')": (self) => typeof self === 'string' && isHeaderNameSyntax(self),

  [`!self.matches('(?i)^(${RESERVED_HEADER_PATTERNS.join('|')})$')`]: (self) => typeof self === 'string' && !isReservedHeaderName(self),

  "!self.matches('[\\\\x00-\\\\x08\\\\x0a-\\\\x1f\\\\x7f]')": (self) => typeof self === 'string' && !hasHeaderControlCharacters(self),

  // RetentionPolicy: patterns without ${user}, at least one rule, preReleaseCount only with Separate.
  "!self.contains('${user}')": (self) => typeof self === 'string' && !self.includes('${user}'),

  'has(self.keepNewestSemver) || has(self.keepTags) || has(self.keepPushedWithin) || has(self.pruneUntaggedOlderThan)': (self) =>
    ['keepNewestSemver', 'keepTags', 'keepPushedWithin', 'pruneUntaggedOlderThan'].some((key) => has(self, key)),

  "!has(self.preReleaseCount) || self.preReleases == 'Separate'": (self) => !has(self, 'preReleaseCount') || field(self, 'preReleases') === 'Separate',
};

// `self.matches('RE') && duration(self) >= duration('MIN') && duration(self) <= duration('MAX')`
const DURATION_RULE = /^self\.matches\('(.+)'\) && duration\(self\) >= duration\('([^']+)'\) && duration\(self\) <= duration\('([^']+)'\)$/;

const DURATION_UNITS_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };

/** Milliseconds of a Go duration (time.ParseDuration's grammar, unsigned), or undefined. */
export function goDurationMs(s: string): number | undefined {
  if (s === '0') return 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  if (s.length === 0) return undefined;
  while (pos < s.length) {
    part.lastIndex = pos;
    const m = part.exec(s);
    if (m === null) return undefined;
    total += Number(m[1]) * (DURATION_UNITS_MS[m[2] as string] as number);
    pos = part.lastIndex;
  }
  return total;
}

function durationCheck(rule: string): CelCheck | undefined {
  const m = DURATION_RULE.exec(rule);
  if (m === null) return undefined;
  // The rule's regex is a CEL string literal: `\\.` in it is the regex `\.`.
  const syntax = new RegExp((m[1] as string).replace(/\\\\/g, '\\'));
  const min = goDurationMs(m[2] as string);
  const max = goDurationMs(m[3] as string);
  if (min === undefined || max === undefined) return undefined;
  return (self) => {
    if (typeof self !== 'string' || !syntax.test(self)) return false;
    const ms = goDurationMs(self);
    return ms !== undefined && ms >= min && ms <= max;
  };
}

// `self.matches(r'^…$')` on repository patterns: the regex is the CEL spelling of policy/match.ts's grammar;
// the variant that admits `${namespace}` is the one for delegation prefixes.
const PATTERN_RULE = /^self\.matches\(r'(\^.*\$)'\)$/;

/** The JavaScript RegExp of a repository-pattern rule, for tests that compare it with validatePattern. */
export function patternRuleRegExp(rule: string): RegExp | undefined {
  const m = PATTERN_RULE.exec(rule);
  return m === null ? undefined : new RegExp(m[1] as string);
}

function patternCheck(rule: string): CelCheck | undefined {
  const m = PATTERN_RULE.exec(rule);
  if (m === null || !(m[1] as string).includes('[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*')) return undefined;
  const allowNamespace = rule.includes('\\$\\{namespace\\}');
  return (self) => typeof self === 'string' && validatePattern(self, { allowNamespace }) === undefined;
}

/** The offline implementation of a CEL rule, by its exact text; undefined if there is none. */
export function findCelRule(rule: string): CelCheck | undefined {
  return EXACT[rule] ?? durationCheck(rule) ?? patternCheck(rule);
}
