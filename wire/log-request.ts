// How an HTTP request appears in every server's log lines: method, path, route, client and request id.
// Never headers, bodies or the query string: a query may carry `refresh_token`, `password` or `account`,
// an Authorization header a password or a Registry's notification token.

export interface RequestLike {
  method?: string;
  url?: string;
  routeOptions?: { url?: string };
  ip?: string;
  id?: string;
}

/** Method and path only: the query string may carry a secret. */
export function safeRequest(req: RequestLike): Record<string, unknown> {
  const url = typeof req.url === 'string' ? req.url.split('?')[0] : undefined;
  return { method: req.method, url, route: req.routeOptions?.url, client: req.ip, id: req.id };
}
