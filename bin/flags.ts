// Flag values more than one command takes, parsed one way: a listen address and a log level.

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
