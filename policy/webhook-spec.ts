// What a RegistryWebhook's URL and headers may be, beyond the types its schema gives them. The CRD's CEL
// rules say the same (crds/celRules.ts checks them offline with these functions), and the activity server
// checks again before it sends anything: a tenant writes these fields, and a header that rewrites the
// request's framing or impersonates the signature, or credentials in plain text, must never go out.

/** Header names (regex alternatives, matched whole and case-insensitively) a webhook may not set. */
export const RESERVED_HEADER_PATTERNS: readonly string[] = [
  // Set by the activity server: the signature, the delivery id, the event kind.
  'x-portcullis-.*',
  // Credentials would sit in the object in plain text, readable by anyone who can read the webhook.
  'proxy-.*',
  'authorization',
  'cookie',
  // Framing and routing: Node sets these from the request itself.
  'host',
  'content-type',
  'content-length',
  'content-encoding',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'upgrade',
  'expect',
];

const RESERVED_HEADER = new RegExp(`^(${RESERVED_HEADER_PATTERNS.join('|')})$`, 'i');
const HEADER_NAME = /^[A-Za-z0-9][-A-Za-z0-9]*$/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses (CR/LF splits headers)
const HEADER_VALUE_CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

export function isHeaderNameSyntax(name: string): boolean {
  return HEADER_NAME.test(name);
}

export function isReservedHeaderName(name: string): boolean {
  return RESERVED_HEADER.test(name);
}

export function hasHeaderControlCharacters(value: string): boolean {
  return HEADER_VALUE_CONTROL.test(value);
}

/** Why a header may not be sent, or undefined. */
export function headerProblem(header: { name: unknown; value: unknown }): string | undefined {
  if (typeof header.name !== 'string' || !isHeaderNameSyntax(header.name) || header.name.length > 128) {
    return `header name ${JSON.stringify(header.name)} must be letters, digits and dashes`;
  }
  if (isReservedHeaderName(header.name)) return `header ${header.name} is set by the activity server or carries credentials`;
  if (typeof header.value !== 'string' || hasHeaderControlCharacters(header.value) || header.value.length > 4096) {
    return `header ${header.name} must have a value without control characters, at most 4096 long`;
  }
  return undefined;
}

/** Whether the text before the path has a `user[:password]@` part, as the CEL rule sees it. */
export function urlHasCredentials(url: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*@/.test(url);
}

/** Why a webhook URL may not be used, or undefined: absolute http(s), a host, no credentials. */
export function webhookUrlProblem(url: unknown): string | undefined {
  if (typeof url !== 'string' || !(url.startsWith('http://') || url.startsWith('https://'))) return 'url must be an absolute http:// or https:// URL';
  if (url.length > 2048) return 'url is longer than 2048';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'url must be an absolute http:// or https:// URL';
  }
  if (parsed.hostname === '') return 'url must name a host';
  if (urlHasCredentials(url) || parsed.username !== '' || parsed.password !== '') return 'url must not contain credentials (user:password@)';
  return undefined;
}
