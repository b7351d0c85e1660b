// The registry client's list walk: every page is asked with the registry token, so a Link header naming
// another origin must not take that token there.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DistributionClient } from './registry-api.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function serve(handler: (url: string, authorization: string | undefined) => { link?: string; body: unknown }): Promise<string> {
  const server = createServer((req, res) => {
    const answer = handler(req.url ?? '', req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/json', ...(answer.link ? { link: answer.link } : {}) });
    res.end(JSON.stringify(answer.body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('DistributionClient pages', () => {
  it('follows a next page of its own origin', async () => {
    const base = await serve((url) =>
      url.includes('last=a') ? { body: { repositories: ['b'] } } : { link: '</v2/_catalog?n=100&last=a>; rel="next"', body: { repositories: ['a'] } },
    );
    expect(await new DistributionClient({ server: base, token: 't' }).catalog()).toEqual(['a', 'b']);
  });

  it('refuses a next page on another origin, which never sees the token', async () => {
    const seen: (string | undefined)[] = [];
    const elsewhere = await serve((_url, authorization) => {
      seen.push(authorization);
      return { body: { repositories: ['stolen'] } };
    });
    const base = await serve(() => ({ link: `<${elsewhere}/steal>; rel="next"`, body: { repositories: ['a'] } }));
    await expect(new DistributionClient({ server: base, token: 'SECRET-TOKEN' }).catalog()).rejects.toThrow(/names another origin .*not followed/);
    expect(seen).toEqual([]);
  });
});
