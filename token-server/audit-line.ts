// The audit line of each issued token, written the way pino writes `logger.info(fields, msg)`, in one
// JSON.stringify of the fields. pino serializes a line field by field (serializers, redaction, a string
// escaper per value): on the token path that was about a twentieth of each token (perf, bench (a)).
// The fast way is taken only for a logger whose line it reproduces byte for byte (but for one case: a
// string field holding a lone surrogate, which pino writes raw and JSON.stringify escapes, so the line
// stays well-formed UTF-8; an OIDC username decoded by JSON.parse can hold one): no mixin, log
// formatter, message prefix, nested key, stream hook, redaction or serializer of a field; otherwise
// (and always when the level is off) it is logger.info itself. audit-line.test.ts compares the two.
//
// pino.symbols is pino's published way in for integrations that need its internals: the level's cached
// prefix, the time function, the bindings, the line's end and the stream are what pino's own write() uses.

import { pino, type Logger } from 'pino';

const symbols = pino.symbols;
// A child logger's message prefix (pino 8.14+); pino's types do not list its symbol yet.
const msgPrefixSym = (symbols as unknown as Record<string, symbol | undefined>).msgPrefixSym;
const INFO = 30;

type Stream = { write(line: string): unknown };

// The symbols index pino's private state; pino types none of it, hence the record of unknowns.
type Internals = Record<symbol, unknown>;

/** Per logger: whether pino's write() of its lines is the fast one's (the serializers are checked per line). */
const plainLoggers = new WeakMap<Logger, boolean>();

function isPlain(logger: Logger): boolean {
  let plain = plainLoggers.get(logger);
  if (plain !== undefined) return plain;
  const internal = logger as unknown as Internals;
  const formatters = internal[symbols.formattersSym] as { log?: unknown } | undefined;
  const hooks = internal[symbols.hooksSym] as { streamWrite?: unknown } | undefined;
  const stringifiers = (internal[symbols.stringifiersSym] ?? {}) as Record<string | symbol, unknown>;
  const stream = internal[symbols.streamSym] as (Stream & Record<symbol, unknown>) | undefined;
  plain =
    internal[symbols.mixinSym] == null &&
    formatters?.log == null &&
    hooks?.streamWrite == null &&
    !internal[symbols.nestedKeySym] &&
    (msgPrefixSym === undefined || !internal[msgPrefixSym]) &&
    internal[symbols.messageKeySym] === 'msg' &&
    stringifiers[symbols.wildcardFirstSym] == null &&
    Object.keys(stringifiers).length === 0 &&
    typeof stream?.write === 'function' &&
    stream[symbols.needsMetadataGsym] !== true;
  plainLoggers.set(logger, plain);
  return plain;
}

/** Whether pino would run a serializer on one of the fields (an `err` field has one of its own). */
function serialized(internal: Internals, fields: Record<string, unknown>): boolean {
  for (const field in fields) if (hasSerializer(internal, field)) return true;
  return false;
}

function hasSerializer(internal: Internals, field: string): boolean {
  const serializers = internal[symbols.serializersSym] as Record<string, unknown> | undefined;
  return serializers?.[field] != null || field === internal[symbols.errorKeySym];
}

/**
 * logger.info(fields, msg), byte for byte. `fields` must be a plain object of JSON values (no undefined,
 * no function, no toJSON): what JSON.stringify and pino print alike.
 */
export function writeInfoLine(logger: Logger, fields: Record<string, unknown>, msg: string): void {
  if (!logger.isLevelEnabled('info')) return;
  const internal = logger as unknown as Internals;
  if (!isPlain(logger) || serialized(internal, fields)) {
    logger.info(fields, msg);
    return;
  }
  writeLine(logger, JSON.stringify(fields), msg);
}

/**
 * Fields whose JSON the caller assembles itself, from pieces it remembers: JSON.stringify of a line's
 * nested fields was most of the line's cost.
 */
export interface AssembledFields {
  /** Every key fields() may have: pino's serializers are looked up by them. */
  readonly keys: readonly string[];
  /** Exactly JSON.stringify(fields()). */
  json(): string;
  /** Made only when pino writes the line itself. */
  fields(): Record<string, unknown>;
}

/** writeInfoLine(logger, line.fields(), msg), byte for byte; neither is made when info is off. */
export function writeAssembledInfoLine(logger: Logger, line: AssembledFields, msg: string): void {
  if (!logger.isLevelEnabled('info')) return;
  const internal = logger as unknown as Internals;
  if (!isPlain(logger) || line.keys.some((key) => hasSerializer(internal, key))) {
    logger.info(line.fields(), msg);
    return;
  }
  writeLine(logger, line.json(), msg);
}

/** What pino's write() makes of `json` (the fields' JSON) and `msg` on a plain logger. */
function writeLine(logger: Logger, json: string, msg: string): void {
  const internal = logger as unknown as Internals;
  const props = json.length > 2 ? `,${json.slice(1, -1)}` : '';
  const prefix = (internal[symbols.lsCacheSym] as Record<number, string>)[INFO]!;
  const time = (internal[symbols.timeSym] as () => string).call(logger);
  const line = `${prefix}${time}${internal[symbols.chindingsSym] as string}${props},"msg":${JSON.stringify(msg)}${internal[symbols.endSym] as string}`;
  (internal[symbols.streamSym] as Stream).write(line);
}
