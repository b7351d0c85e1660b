import { pino, type Logger, type LoggerOptions } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ScopeDecision } from '../policy/authorize.js';
import { formatScope, type ResourceScope } from '../policy/scope.js';
import type { Grant } from './login-steps.js';
import { loggerOptions } from './logger.js';
import { auditTokenIssued, decisionText, tokenIssuedFields, tokenIssuedJson, type TokenIssued } from './token-audit.js';

function capture(options: LoggerOptions = {}): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ ...loggerOptions('info'), timestamp: () => ',"time":1700000000000', ...options }, { write: (line: string) => lines.push(line) });
  return { logger: logger.child({ log: 'audit' }, { redact: { paths: [] } }), lines };
}

/** The fields as routes/token.ts wrote them before the line was assembled: the reference, key order and all. */
function referenceFields(issued: TokenIssued): Record<string, unknown> {
  const { grant, decisions } = issued;
  const granted = decisions.filter((d) => d.granted.length > 0).map((d) => formatScope({ ...d.scope, actions: d.granted }));
  return {
    audit: 'token',
    client: issued.client,
    user: grant.requester.kind === 'anonymous' ? null : grant.requester.username,
    anonymous: grant.requester.kind === 'anonymous',
    ...(grant.source === undefined ? {} : { source: grant.source }),
    grantType: grant.grantType,
    service: issued.service,
    registry: issued.registry,
    requested: decisions.map((d) => formatScope(d.scope)),
    granted,
    decisions: decisions.map((d) => ({ scope: formatScope(d.scope), granted: d.granted, grants: d.grants, reason: d.reason })),
    kid: issued.kid,
    refreshToken: issued.refreshToken,
  };
}

const repo = (name: string, ...actions: string[]): ResourceScope => ({ type: 'repository', name, actions });
const shared = (scope: ResourceScope): ResourceScope => Object.freeze({ ...scope, actions: Object.freeze([...scope.actions]) as string[] });
/** A decision as the decision cache hands out for a shared scope: frozen, arrays and all. */
const frozen = (d: ScopeDecision): ScopeDecision =>
  Object.freeze({
    scope: shared(d.scope),
    granted: Object.freeze([...d.granted]) as string[],
    grants: Object.freeze([...d.grants]) as string[],
    reason: d.reason,
  });

const alice: Grant = { requester: { kind: 'user', username: 'alice', groups: ['team-a'] }, grantType: 'basic', revision: 'r1' };
const anonymous: Grant = { requester: { kind: 'anonymous' }, grantType: 'anonymous' };
const oidc: Grant = {
  requester: { kind: 'identity', source: 'oidc', username: 'ci@example.com', groups: [], authenticated: true },
  grantType: 'password',
  source: 'oidc',
};
const pushPull: ScopeDecision = { scope: repo('team-a/app', 'pull', 'push'), granted: ['pull', 'push'], grants: ['team-a/devs'], reason: 'granted' };
const partly: ScopeDecision = { scope: repo('team-b/app', 'push', 'pull'), granted: ['pull'], grants: ['team-b/readers'], reason: 'push: no grant' };
const none: ScopeDecision = { scope: repo('other/app', 'pull'), granted: [], grants: [], reason: 'no grant matches "other/app"' };
const plugin: ScopeDecision = {
  scope: { type: 'repository', class: 'plugin', name: 'team-a/p', actions: ['pull'] },
  granted: ['pull'],
  grants: ['x/y'],
  reason: 'granted',
};
const emptyClass: ScopeDecision = {
  scope: { type: 'repository', class: '', name: 'team-a/q', actions: ['*'] },
  granted: ['*'],
  grants: ['x/y'],
  reason: 'granted',
};
const odd: ScopeDecision = {
  scope: repo('é/日本/"q"\\', 'pull'),
  granted: ['pull'],
  grants: ['ns/"quoted"\u0001'],
  reason: 'line\nbreak\ttab \u2028 🦀 \ud800',
};

const issued = (grant: Grant, decisions: ScopeDecision[], more: Partial<TokenIssued> = {}): TokenIssued => ({
  client: '10.0.0.7',
  grant,
  service: 'registry.example',
  registry: 'team/main',
  decisions,
  kid: 'PO8bnDKYUIDNvWea',
  refreshToken: false,
  ...more,
});

const CASES: [string, TokenIssued][] = [
  ['one scope, all granted', issued(alice, [pushPull])],
  ['the same, decisions frozen as the cache shares them', issued(alice, [frozen(pushPull)])],
  ['an anonymous request without scopes', issued(anonymous, [])],
  ['an anonymous pull refused', issued(anonymous, [none])],
  ['an identity with its source and a refresh token', issued(oidc, [pushPull, none], { refreshToken: true })],
  ['partly granted, classes, nothing granted', issued(alice, [partly, plugin, none, emptyClass].map(frozen))],
  [
    'quotes, control characters, past ASCII, lone surrogates',
    issued(alice, [odd, frozen(odd)], { client: '::ffff:10.0.0.7', service: 'reg "x"', registry: 'ns/\u0000' }),
  ],
  ['an unusual user name', issued({ ...alice, requester: { kind: 'user', username: 'a"b\\c\u007f', groups: [] } }, [pushPull])],
];

describe('the token audit line', () => {
  it.each(CASES)('%s: the fields and their order are the reference', (_name, input) => {
    expect(JSON.stringify(tokenIssuedFields(input))).toBe(JSON.stringify(referenceFields(input)));
  });

  it.each(CASES)('%s: the assembled JSON is JSON.stringify of the fields, the first time and again', (_name, input) => {
    const want = JSON.stringify(referenceFields(input));
    expect(tokenIssuedJson(input)).toBe(want);
    expect(tokenIssuedJson(input)).toBe(want);
  });

  it.each(CASES)('%s: the line logger.info writes, byte for byte', (_name, input) => {
    const ours = capture();
    const theirs = capture();
    auditTokenIssued(ours.logger, input);
    auditTokenIssued(ours.logger, input);
    theirs.logger.info(referenceFields(input), 'token issued');
    theirs.logger.info(referenceFields(input), 'token issued');
    expect(ours.lines).toEqual(theirs.lines);
    expect(ours.lines).toHaveLength(2);
  });

  it('a logger with a serializer of one of its fields: pino writes the line', () => {
    const options: LoggerOptions = { serializers: { kid: (kid: string) => kid.toLowerCase() } };
    const ours = capture(options);
    const theirs = capture(options);
    auditTokenIssued(ours.logger, issued(alice, [pushPull]));
    theirs.logger.info(referenceFields(issued(alice, [pushPull])), 'token issued');
    expect(ours.lines).toEqual(theirs.lines);
    expect(ours.lines[0]).toContain('"kid":"po8bndkyuidnvwea"');
  });

  it('remembers the text of a frozen decision only', () => {
    const fixed = frozen(pushPull);
    expect(decisionText(fixed)).toBe(decisionText(fixed));
    const changing: ScopeDecision = { ...pushPull, granted: ['pull', 'push'] };
    expect(decisionText(changing).granted).toBe('repository:team-a/app:pull,push');
    changing.granted.pop();
    expect(decisionText(changing).granted).toBe('repository:team-a/app:pull');
  });
});
