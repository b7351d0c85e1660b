// Flag values parsed one way wherever a command takes them: a listen address, a log level, a namespace list.

export interface ListenAddress {
  host: string;
  port: number;
}

/** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces). Throws a sentence naming `flag`. */
export function parseListenAddress(value: string, flag = '--listen'): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port >= 0 && port <= 65535)) throw new Error(`${flag} must be HOST:PORT, not ${JSON.stringify(value)}`);
  const host = m[1] ?? (m[2] === '' || m[2] === undefined ? '0.0.0.0' : m[2]);
  return { host, port };
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A `--log-level` value. Throws a sentence listing the levels. */
export function parseLogLevel(value: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(value)) throw new Error(`unknown --log-level ${JSON.stringify(value)}: use ${LOG_LEVELS.join(', ')}`);
  return value as LogLevel;
}

/** A Kubernetes namespace name: a DNS label (RFC 1123), at most 63 characters. */
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** `ns1,ns2`: comma-separated namespace names, spaces around them ignored, duplicates dropped. Throws a sentence naming `flag`. */
export function parseNamespaceList(value: string, flag: string): string[] {
  const names = value
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (names.length === 0) throw new Error(`${flag} needs at least one namespace`);
  const bad = names.find((n) => !NAMESPACE_NAME.test(n));
  if (bad !== undefined) throw new Error(`${flag}: ${JSON.stringify(bad)} is not a namespace name`);
  return [...new Set(names)];
}
