import { pino, type Logger, type LoggerOptions } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { writeAssembledInfoLine, writeInfoLine, type AssembledFields } from './audit-line.js';
import { loggerOptions } from './logger.js';

/** A logger as the token server makes one (logger.ts), its lines collected, its clock fixed. */
function capture(options: LoggerOptions = {}): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ ...loggerOptions('info'), timestamp: () => ',"time":1700000000000', ...options }, { write: (line: string) => lines.push(line) });
  return { logger, lines };
}

/** The audit logger of app.ts: a child without the parent's redaction. */
const auditOf = (logger: Logger): Logger => logger.child({ log: 'audit' }, { redact: { paths: [] } });

const FIELDS: [string, Record<string, unknown>][] = [
  [
    'an audit line',
    {
      audit: 'token',
      client: '10.0.0.7',
      user: 'alice',
      anonymous: false,
      grantType: 'basic',
      service: 'registry.example',
      registry: 'team/main',
      requested: ['repository:team/app:pull,push'],
      granted: ['repository:team/app:pull,push'],
      decisions: [{ scope: 'repository:team/app:pull,push', granted: ['pull', 'push'], grants: ['team/devs'], reason: 'granted' }],
      kid: 'PO8bnDKYUIDNvWea',
      refreshToken: false,
    },
  ],
  ['an anonymous pull', { audit: 'token', user: null, anonymous: true, requested: [], granted: [], decisions: [] }],
  ['quotes, backslashes, control characters', { user: 'a"b\\c', reason: 'line\nbreak\ttab\u0001', long: `${'"x\\'.repeat(60)}\u0007` }],
  ['characters past ASCII', { user: 'élodie', repo: '日本/アプリ', emoji: '🦀' }],
  ['numbers and nesting', { n: 3, f: 1.5, big: 1e21, zero: -0, nested: { a: [1, { b: null }], 'key "quoted"': true } }],
  ['no fields', {}],
];

describe('writeInfoLine', () => {
  it.each(FIELDS)('%s: the line logger.info writes, byte for byte', (_name, fields) => {
    const ours = capture();
    const theirs = capture();
    const audit = auditOf(ours.logger);
    const info = vi.spyOn(audit, 'info');
    writeInfoLine(audit, fields, 'token issued');
    auditOf(theirs.logger).info(fields, 'token issued');
    expect(ours.lines).toEqual(theirs.lines);
    expect(ours.lines).toHaveLength(1);
    expect(info).not.toHaveBeenCalled();
  });

  const assembled = (fields: Record<string, unknown>): AssembledFields => ({
    keys: Object.keys(fields),
    json: () => JSON.stringify(fields),
    fields: () => fields,
  });

  it.each(FIELDS)('%s, assembled by the caller: the line logger.info writes, byte for byte', (_name, fields) => {
    const ours = capture();
    const theirs = capture();
    const audit = auditOf(ours.logger);
    const info = vi.spyOn(audit, 'info');
    writeAssembledInfoLine(audit, assembled(fields), 'token issued');
    auditOf(theirs.logger).info(fields, 'token issued');
    expect(ours.lines).toEqual(theirs.lines);
    expect(ours.lines).toHaveLength(1);
    expect(info).not.toHaveBeenCalled();
  });

  it('takes the fast way for the plain logger (pino is not asked)', () => {
    const { logger, lines } = capture();
    const audit = auditOf(logger);
    const info = vi.spyOn(audit, 'info');
    writeInfoLine(audit, FIELDS[0]![1], 'token issued');
    expect(info).not.toHaveBeenCalled();
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 30,
      time: 1700000000000,
      component: 'token-server',
      log: 'audit',
      audit: 'token',
      msg: 'token issued',
    });
  });

  // What the fast way cannot reproduce goes through pino, so the line is still pino's.
  const OTHER_LOGGERS: [string, LoggerOptions, Record<string, unknown>][] = [
    ['a mixin', { mixin: () => ({ trace: 'abc' }) }, { user: 'alice' }],
    ['a log formatter', { formatters: { log: (o: Record<string, unknown>) => ({ ...o, formatted: true }) } }, { user: 'alice' }],
    ['a serializer of a field', { serializers: { user: (u: string) => u.toUpperCase() } }, { user: 'alice' }],
    ['an err field', {}, { err: new Error('boom') }],
    ['a message prefix', { msgPrefix: '[audit] ' }, { user: 'alice' }],
    ['a nested key', { nestedKey: 'payload' }, { user: 'alice' }],
    ['another message key', { messageKey: 'message' }, { user: 'alice' }],
  ];
  it.each(OTHER_LOGGERS)('a logger with %s: pino writes the line', (_name, options, fields) => {
    const ours = capture(options);
    const theirs = capture(options);
    writeInfoLine(auditOf(ours.logger), fields, 'token issued');
    auditOf(theirs.logger).info(fields, 'token issued');
    expect(ours.lines).toEqual(theirs.lines);
    expect(ours.lines).toHaveLength(1);
  });

  it.each(OTHER_LOGGERS)('a logger with %s, fields assembled by the caller: pino writes the line', (_name, options, fields) => {
    const ours = capture(options);
    const theirs = capture(options);
    writeAssembledInfoLine(auditOf(ours.logger), assembled(fields), 'token issued');
    auditOf(theirs.logger).info(fields, 'token issued');
    expect(ours.lines).toEqual(theirs.lines);
    expect(ours.lines).toHaveLength(1);
  });

  it('assembles nothing when info is off', () => {
    const { logger, lines } = capture({ level: 'warn' });
    const line = { keys: ['user'], json: vi.fn(() => '{"user":"alice"}'), fields: vi.fn(() => ({ user: 'alice' })) };
    writeAssembledInfoLine(auditOf(logger), line, 'token issued');
    expect(lines).toEqual([]);
    expect(line.json).not.toHaveBeenCalled();
    expect(line.fields).not.toHaveBeenCalled();
  });

  it("keeps the parent's redaction when the child does not drop it", () => {
    const { logger, lines } = capture();
    writeInfoLine(logger.child({ log: 'audit' }), { user: 'alice', password: 'hunter2' }, 'token issued');
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('hunter2');
    expect(JSON.parse(lines[0]!)).toMatchObject({ user: 'alice', password: '[redacted]' });
  });

  it('writes nothing when info is off, and follows a level changed later', () => {
    const { logger, lines } = capture({ level: 'warn' });
    const audit = auditOf(logger);
    writeInfoLine(audit, { user: 'alice' }, 'token issued');
    expect(lines).toEqual([]);
    audit.level = 'info';
    writeInfoLine(audit, { user: 'alice' }, 'token issued');
    expect(lines).toHaveLength(1);
  });

  it('writes bindings set after the first line', () => {
    const { logger, lines } = capture();
    const audit = auditOf(logger);
    writeInfoLine(audit, { user: 'alice' }, 'token issued');
    audit.setBindings({ shard: 3 });
    writeInfoLine(audit, { user: 'alice' }, 'token issued');
    expect(JSON.parse(lines[1]!)).toMatchObject({ shard: 3, user: 'alice' });
  });
});
