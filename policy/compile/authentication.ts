// A Registry's `spec.authentication` -> the AuthenticationPolicy the token server follows, defaults applied,
// or a refusal that says which field is wrong. Checked here rather than at login: a malformed directory URL,
// a claim condition that is not CEL or plain-text LDAP nobody asked for is a Ready=False Registry, never a
// login that fails for a reason nobody sees.

import type { Authentication, LdapSource, OidcIssuer, ServiceAccountSource } from '../../crds/types.js';
import { compileClaimCondition } from '../claim-conditions.js';
import { parseDuration } from '../duration.js';
import { Reasons } from '../reasons.js';
import type { AuthenticationPolicy, LdapPolicy, OidcIssuerPolicy, ServiceAccountPolicy } from '../types.js';
import { compareStrings, refuse, type Refusal } from './status.js';

export const DEFAULT_LDAP_PREFIX = 'ldap:';
export const DEFAULT_USER_FILTER = '(uid={username})';
export const DEFAULT_GROUP_FILTER = '(member={dn})';
export const DEFAULT_IDENTITY_CACHE_TTL = '60s';
/** TokenReview answers are trusted no longer than this (and never past the token's own expiry). */
export const MAX_SERVICE_ACCOUNT_CACHE_SECONDS = 60;
export const MAX_LDAP_CACHE_SECONDS = 3600;
/** Asymmetric JWS algorithms only: `none` and HMAC (a public key used as a shared secret) are never accepted. */
export const OIDC_ALGORITHMS = ['EdDSA', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'] as const;
export const MAX_OIDC_ISSUERS = 8;

/**
 * Whether a Registry's RegistryUsers log in with their passwords (`spec.authentication.registryUsers`,
 * default true). When not, compile ships no hashes and the token server accepts none, nor refresh tokens.
 */
export function registryUserPasswords(policy: { authentication?: AuthenticationPolicy }): boolean {
  return policy.authentication?.registryUsers !== false;
}

function isNonEmptyString(x: unknown): x is string {
  return typeof x === 'string' && x.length > 0;
}

function seconds(field: string, value: string | undefined, fallback: string, min: number, max: number): number | Refusal {
  let s: number;
  try {
    s = parseDuration(value ?? fallback);
  } catch (e) {
    return refuse(Reasons.InvalidSpec, `${field}: ${(e as Error).message}`);
  }
  if (s < min || s > max) return refuse(Reasons.InvalidSpec, `${field} must be between ${min}s and ${max}s`);
  return s;
}

function isHttpsUrl(value: unknown): value is string {
  if (!isNonEmptyString(value)) return false;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && url.host !== '' && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}

function checkCertificateAuthority(field: string, pem: unknown): Refusal | undefined {
  if (pem === undefined) return undefined;
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN CERTIFICATE-----')) {
    return refuse(Reasons.InvalidSpec, `${field} must hold PEM certificates (-----BEGIN CERTIFICATE-----)`);
  }
  return undefined;
}

function ldapPolicy(ldap: LdapSource): LdapPolicy | Refusal {
  const at = 'spec.authentication.ldap';
  if (typeof ldap !== 'object' || ldap === null) return refuse(Reasons.InvalidSpec, `${at} must be an object`);
  let url: URL;
  try {
    url = new URL(ldap.url);
  } catch {
    return refuse(Reasons.InvalidSpec, `${at}.url must be an ldaps:// or ldap:// URL`);
  }
  if ((url.protocol !== 'ldaps:' && url.protocol !== 'ldap:') || url.hostname === '' || (url.pathname !== '' && url.pathname !== '/')) {
    return refuse(Reasons.InvalidSpec, `${at}.url must be ldaps://HOST[:PORT] or ldap://HOST[:PORT], without a path`);
  }
  const startTLS = ldap.startTLS === true;
  const insecureNoTLS = ldap.insecureNoTLS === true;
  if (url.protocol === 'ldaps:' && startTLS) return refuse(Reasons.InvalidSpec, `${at}: startTLS is for ldap:// URLs; ldaps:// is TLS already`);
  if (url.protocol === 'ldap:' && !startTLS && !insecureNoTLS) {
    return refuse(
      Reasons.InvalidSpec,
      `${at}.url ${JSON.stringify(ldap.url)} would send passwords in clear text: use ldaps://, set startTLS: true, or set insecureNoTLS: true if the network is trusted`,
    );
  }
  if (insecureNoTLS && (url.protocol === 'ldaps:' || startTLS)) return refuse(Reasons.InvalidSpec, `${at}: insecureNoTLS contradicts TLS`);
  const caProblem = checkCertificateAuthority(`${at}.certificateAuthority`, ldap.certificateAuthority);
  if (caProblem !== undefined) return caProblem;
  if ((ldap.bindDN === undefined) !== (ldap.bindPasswordSecretRef === undefined)) {
    return refuse(Reasons.InvalidSpec, `${at}: bindDN and bindPasswordSecretRef go together (neither: anonymous search)`);
  }
  const users = ldap.userSearch;
  if (typeof users !== 'object' || users === null || !isNonEmptyString(users.baseDN)) return refuse(Reasons.InvalidSpec, `${at}.userSearch.baseDN is required`);
  const userFilter = users.filter ?? DEFAULT_USER_FILTER;
  if (!userFilter.includes('{username}')) return refuse(Reasons.InvalidSpec, `${at}.userSearch.filter must contain {username}`);
  const cacheTTLSeconds = seconds(`${at}.cacheTTL`, ldap.cacheTTL, DEFAULT_IDENTITY_CACHE_TTL, 0, MAX_LDAP_CACHE_SECONDS);
  if (typeof cacheTTLSeconds !== 'number') return cacheTTLSeconds;
  const timeoutSeconds = seconds(`${at}.timeout`, ldap.timeout, '5s', 1, 60);
  if (typeof timeoutSeconds !== 'number') return timeoutSeconds;
  const policy: LdapPolicy = {
    url: `${url.protocol}//${url.host}`,
    startTLS,
    insecureNoTLS,
    userSearch: { baseDN: users.baseDN, filter: userFilter, scope: users.scope ?? 'sub' },
    usernamePrefix: ldap.usernamePrefix ?? DEFAULT_LDAP_PREFIX,
    groupPrefix: ldap.groupPrefix ?? DEFAULT_LDAP_PREFIX,
    authenticated: ldap.authenticated === true,
    cacheTTLSeconds,
    timeoutSeconds,
  };
  if (users.usernameAttribute !== undefined) policy.userSearch.usernameAttribute = users.usernameAttribute;
  if (ldap.certificateAuthority !== undefined) policy.certificateAuthority = ldap.certificateAuthority;
  if (ldap.bindDN !== undefined) policy.bindDN = ldap.bindDN;
  const groups = ldap.groupSearch;
  if (groups !== undefined) {
    if (typeof groups !== 'object' || groups === null || !isNonEmptyString(groups.baseDN)) {
      return refuse(Reasons.InvalidSpec, `${at}.groupSearch.baseDN is required`);
    }
    const filter = groups.filter ?? DEFAULT_GROUP_FILTER;
    if (!filter.includes('{dn}') && !filter.includes('{username}')) {
      return refuse(Reasons.InvalidSpec, `${at}.groupSearch.filter must contain {dn} or {username}`);
    }
    policy.groupSearch = {
      baseDN: groups.baseDN,
      filter,
      scope: groups.scope ?? 'sub',
      nameAttribute: groups.nameAttribute ?? 'cn',
      nested: groups.nested === true,
    };
  }
  return policy;
}

function oidcPolicy(issuer: OidcIssuer, i: number): OidcIssuerPolicy | Refusal {
  const at = `spec.authentication.oidc[${i}]`;
  if (typeof issuer !== 'object' || issuer === null) return refuse(Reasons.InvalidSpec, `${at} must be an object`);
  if (!isHttpsUrl(issuer.issuer)) return refuse(Reasons.InvalidSpec, `${at}.issuer must be an https:// URL`);
  if (issuer.discoveryURL !== undefined && !isHttpsUrl(issuer.discoveryURL)) return refuse(Reasons.InvalidSpec, `${at}.discoveryURL must be an https:// URL`);
  const caProblem = checkCertificateAuthority(`${at}.certificateAuthority`, issuer.certificateAuthority);
  if (caProblem !== undefined) return caProblem;
  if (!Array.isArray(issuer.audiences) || issuer.audiences.length === 0 || !issuer.audiences.every(isNonEmptyString)) {
    return refuse(Reasons.InvalidSpec, `${at}.audiences must list at least one audience`);
  }
  const algorithms = issuer.algorithms ?? [...OIDC_ALGORITHMS];
  for (const a of algorithms) {
    if (!(OIDC_ALGORITHMS as readonly string[]).includes(a)) {
      return refuse(Reasons.InvalidSpec, `${at}.algorithms: ${JSON.stringify(a)} is not allowed (asymmetric algorithms only: ${OIDC_ALGORITHMS.join(', ')})`);
    }
  }
  if (typeof issuer.username !== 'object' || issuer.username === null || typeof issuer.username.prefix !== 'string') {
    return refuse(Reasons.InvalidSpec, `${at}.username.prefix is required (it keeps this issuer's names apart; "" to use them as they are)`);
  }
  const policy: OidcIssuerPolicy = {
    issuer: issuer.issuer,
    audiences: [...new Set(issuer.audiences)].sort(compareStrings),
    algorithms: [...new Set(algorithms)].sort(compareStrings),
    username: { claim: issuer.username.claim ?? 'sub', prefix: issuer.username.prefix },
    conditions: [],
    authenticated: issuer.authenticated === true,
  };
  if (issuer.discoveryURL !== undefined) policy.discoveryURL = issuer.discoveryURL;
  if (issuer.certificateAuthority !== undefined) policy.certificateAuthority = issuer.certificateAuthority;
  if (issuer.groups !== undefined) {
    if (typeof issuer.groups !== 'object' || issuer.groups === null || typeof issuer.groups.prefix !== 'string') {
      return refuse(Reasons.InvalidSpec, `${at}.groups.prefix is required`);
    }
    policy.groups = { claim: issuer.groups.claim ?? 'groups', prefix: issuer.groups.prefix };
  }
  for (const [j, c] of (issuer.conditions ?? []).entries()) {
    if (typeof c !== 'object' || c === null || !isNonEmptyString(c.expression))
      return refuse(Reasons.InvalidSpec, `${at}.conditions[${j}].expression is required`);
    const compiled = compileClaimCondition(c.expression);
    if ('error' in compiled) return refuse(Reasons.InvalidSpec, `${at}.conditions[${j}].expression ${compiled.error}`);
    policy.conditions.push({ expression: c.expression, message: c.message ?? `claims do not satisfy ${c.expression}` });
  }
  return policy;
}

function serviceAccountPolicy(source: ServiceAccountSource, service: string): ServiceAccountPolicy | Refusal {
  const at = 'spec.authentication.serviceAccounts';
  if (typeof source !== 'object' || source === null) return refuse(Reasons.InvalidSpec, `${at} must be an object`);
  const audiences = source.audiences ?? [service];
  if (!Array.isArray(audiences) || audiences.length === 0 || !audiences.every(isNonEmptyString)) {
    return refuse(Reasons.InvalidSpec, `${at}.audiences must list at least one audience`);
  }
  const cacheTTLSeconds = seconds(`${at}.cacheTTL`, source.cacheTTL, DEFAULT_IDENTITY_CACHE_TTL, 0, MAX_SERVICE_ACCOUNT_CACHE_SECONDS);
  if (typeof cacheTTLSeconds !== 'number') return cacheTTLSeconds;
  return { audiences: [...new Set(audiences)].sort(compareStrings), cacheTTLSeconds, authenticated: source.authenticated === true };
}

/** The normalised policy, undefined when the spec leaves authentication at its default (RegistryUsers only). */
export function authenticationPolicy(spec: Authentication | undefined, service: string): AuthenticationPolicy | undefined | Refusal {
  if (spec === undefined) return undefined;
  if (typeof spec !== 'object' || spec === null) return refuse(Reasons.InvalidSpec, 'spec.authentication must be an object');
  const policy: AuthenticationPolicy = { registryUsers: spec.registryUsers !== false, oidc: [] };
  if (spec.ldap !== undefined) {
    const ldap = ldapPolicy(spec.ldap);
    if ('refused' in ldap) return ldap;
    policy.ldap = ldap;
  }
  const issuers = spec.oidc ?? [];
  if (!Array.isArray(issuers) || issuers.length > MAX_OIDC_ISSUERS)
    return refuse(Reasons.InvalidSpec, `spec.authentication.oidc must list at most ${MAX_OIDC_ISSUERS} issuers`);
  for (const [i, issuer] of issuers.entries()) {
    const oidc = oidcPolicy(issuer, i);
    if ('refused' in oidc) return oidc;
    if (policy.oidc.some((o) => o.issuer === oidc.issuer)) return refuse(Reasons.InvalidSpec, `spec.authentication.oidc[${i}].issuer appears twice`);
    policy.oidc.push(oidc);
  }
  policy.oidc.sort((a, b) => compareStrings(a.issuer, b.issuer));
  if (spec.serviceAccounts !== undefined) {
    const sa = serviceAccountPolicy(spec.serviceAccounts, service);
    if ('refused' in sa) return sa;
    policy.serviceAccounts = sa;
  }
  return policy;
}
