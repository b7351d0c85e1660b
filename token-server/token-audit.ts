// The audit line of each issued token ("token issued"). Most of it repeats from one token to the next: a
// repeated request gets the same frozen decision objects back from the decision cache
// (policy/decision-cache.ts), so what the line says of a decision (its formatted scope, what was granted,
// its `decisions` entry) is made once and remembered with the decision, and the line's JSON is assembled
// from those pieces. JSON.stringify of the whole fields object, nested arrays and all, was most of the
// line's cost. tokenIssuedFields is the line as an object: what pino is given when it writes the line
// itself, and what token-audit.test.ts holds the assembled JSON to.

import type { Logger } from 'pino';
import type { ScopeDecision } from '../policy/authorize.js';
import { formatScope, isShared, type ResourceScope } from '../policy/scope.js';
import { writeAssembledInfoLine, type AssembledFields } from './audit-line.js';
import type { Grant } from './login-steps.js';

/** What the line says of one decision. */
export interface DecisionText {
  /** formatScope of the scope asked for: its entry in `requested`, and the `scope` of its `decisions` entry. */
  readonly requested: string;
  /** formatScope of what was granted of it (the token's access entry), or undefined when nothing was. */
  readonly granted: string | undefined;
  readonly requestedJson: string;
  readonly grantedJson: string | undefined;
  /** Its entry in `decisions`. */
  readonly decisionJson: string;
}

const formattedScopes = new WeakMap<ResourceScope, string>();

/** formatScope, remembered for shared scope objects: a decision made afresh (a cache miss) may still have one. */
export function formattedScope(scope: ResourceScope): string {
  let text = formattedScopes.get(scope);
  if (text === undefined) {
    text = formatScope(scope);
    if (isShared(scope)) formattedScopes.set(scope, text);
  }
  return text;
}

const texts = new WeakMap<ScopeDecision, DecisionText>();

/** Remembered only for a frozen decision of a shared scope: nothing it is made of can change. */
export function decisionText(d: ScopeDecision): DecisionText {
  let text = texts.get(d);
  if (text !== undefined) return text;
  const requested = formattedScope(d.scope);
  const granted = d.granted.length === 0 ? undefined : formatScope({ ...d.scope, actions: d.granted });
  text = {
    requested,
    granted,
    requestedJson: JSON.stringify(requested),
    grantedJson: granted === undefined ? undefined : JSON.stringify(granted),
    decisionJson: JSON.stringify({ scope: requested, granted: d.granted, grants: d.grants, reason: d.reason }),
  };
  if (Object.isFrozen(d) && Object.isFrozen(d.granted) && Object.isFrozen(d.grants) && isShared(d.scope)) texts.set(d, text);
  return text;
}

export interface TokenIssued {
  client: string;
  grant: Grant;
  service: string;
  registry: string;
  decisions: readonly ScopeDecision[];
  kid: string;
  refreshToken: boolean;
}

const KEYS: readonly string[] = [
  'audit',
  'client',
  'user',
  'anonymous',
  'source',
  'grantType',
  'service',
  'registry',
  'requested',
  'granted',
  'decisions',
  'kid',
  'refreshToken',
];

/** The line's fields, in the order they are written. */
export function tokenIssuedFields(issued: TokenIssued): Record<string, unknown> {
  const { grant, decisions } = issued;
  const list = decisions.map(decisionText);
  return {
    audit: 'token',
    client: issued.client,
    user: grant.requester.kind === 'anonymous' ? null : grant.requester.username,
    anonymous: grant.requester.kind === 'anonymous',
    ...(grant.source === undefined ? {} : { source: grant.source }),
    grantType: grant.grantType,
    service: issued.service,
    registry: issued.registry,
    requested: list.map((t) => t.requested),
    granted: list.flatMap((t) => (t.granted === undefined ? [] : [t.granted])),
    decisions: list.map((t, i) => {
      const d = decisions[i] as ScopeDecision;
      return { scope: t.requested, granted: d.granted, grants: d.grants, reason: d.reason };
    }),
    kid: issued.kid,
    refreshToken: issued.refreshToken,
  };
}

/** JSON.stringify(tokenIssuedFields(issued)), from the decisions' remembered pieces. */
export function tokenIssuedJson(issued: TokenIssued): string {
  const { grant, decisions } = issued;
  const requester = grant.requester;
  const anonymous = requester.kind === 'anonymous';
  const user = requester.kind === 'anonymous' ? null : requester.username;
  // The types say strings; anything else is left to JSON.stringify, which leaves an undefined key out.
  const strings = [issued.client, issued.service, issued.registry, issued.kid, user ?? '', grant.source ?? ''];
  if (strings.some((value) => typeof value !== 'string')) {
    return JSON.stringify(tokenIssuedFields(issued));
  }
  let requested = '';
  let granted = '';
  let list = '';
  for (const d of decisions) {
    const text = decisionText(d);
    requested += requested === '' ? text.requestedJson : `,${text.requestedJson}`;
    if (text.grantedJson !== undefined) granted += granted === '' ? text.grantedJson : `,${text.grantedJson}`;
    list += list === '' ? text.decisionJson : `,${text.decisionJson}`;
  }
  const source = grant.source === undefined ? '' : `,"source":${JSON.stringify(grant.source)}`;
  return (
    `{"audit":"token","client":${JSON.stringify(issued.client)},"user":${user === null ? 'null' : JSON.stringify(user)},"anonymous":${anonymous}${source}` +
    `,"grantType":${JSON.stringify(grant.grantType)},"service":${JSON.stringify(issued.service)},"registry":${JSON.stringify(issued.registry)}` +
    `,"requested":[${requested}],"granted":[${granted}],"decisions":[${list}],"kid":${JSON.stringify(issued.kid)},"refreshToken":${issued.refreshToken}}`
  );
}

/** Writes the line of an issued token: logger.info(tokenIssuedFields(issued), 'token issued'), byte for byte. */
export function auditTokenIssued(logger: Logger, issued: TokenIssued): void {
  const line: AssembledFields = { keys: KEYS, json: () => tokenIssuedJson(issued), fields: () => tokenIssuedFields(issued) };
  writeAssembledInfoLine(logger, line, 'token issued');
}
