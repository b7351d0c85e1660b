// An LDAP directory as an identity source: search-then-bind. The service account (or an anonymous bind)
// finds the user's entry by the admin's filter, the user's own password is checked by binding as that
// entry, then the groups the entry belongs to are searched (optionally following groups within groups).
//
// Two small connection pools: searches run on connections bound as the service account; user binds run on
// connections that do nothing else, so a user bind never changes who a search runs as. A connection that
// dropped is replaced, never reused unbound. Errors split in two: the directory said no (unknown user,
// wrong password, several entries) is a refusal; the directory could not answer (connection, TLS, timeout)
// is `unavailable`, which the token server answers with a 503, never a grant.

import { Client, InvalidCredentialsError, ResultCodeError, type Entry } from 'ldapts';
import type { LdapPolicy } from '../../policy/types.js';
import { prefixed, refused, unavailable, type IdentityCheck } from './types.js';

const POOL_SIZE = 4;
const MAX_NESTING = 8;
const MAX_GROUPS = 256;

/**
 * RFC 4515: a value placed in a filter cannot change the filter's structure. Only the specials and control
 * characters are escaped: ldapts' parser turns each `\XX` into the character U+00XX and sends the filter as
 * UTF-8, so escaping the UTF-8 bytes of `é` would ask the directory for `Ã©`. Left as they are, characters
 * beyond ASCII reach the directory as the UTF-8 the RFC asks for.
 */
export function escapeFilterValue(value: string): string {
  // eslint-disable-next-line no-control-regex -- control characters (NUL above all) are what must be escaped
  return value.replace(/[\u0000-\u001f\u007f\\*()]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * One pass with a replacer function: a replacement string would read `$\`` and `$'` in a name as the
 * filter's text before and after the placeholder (unescaped), and a second pass would fill a `{dn}` that a
 * username brought along.
 */
export function fill(filter: string, values: { username: string; dn?: string }): string {
  return filter.replace(/\{(username|dn)\}/g, (_, name: string) => escapeFilterValue(name === 'username' ? values.username : (values.dn ?? '')));
}

function firstValue(entry: Entry, attribute: string): string | undefined {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  const value = key === undefined ? undefined : entry[key];
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' && first !== '' ? first : undefined;
}

class Pool {
  private readonly idle: Client[] = [];
  private open = 0;
  private readonly waiting: { resolve: (client: Client) => void; reject: (error: unknown) => void }[] = [];

  constructor(
    private readonly create: () => Promise<Client>,
    private readonly size: number,
  ) {}

  async use<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const client = await this.acquire();
    let healthy = true;
    try {
      return await work(client);
    } catch (error) {
      // A refusal by the directory leaves the connection usable; anything else may have broken it.
      healthy = error instanceof ResultCodeError && client.isConnected;
      throw error;
    } finally {
      this.release(client, healthy);
    }
  }

  private async acquire(): Promise<Client> {
    while (this.idle.length > 0) {
      const client = this.idle.pop() as Client;
      if (client.isConnected) return client;
      this.open--;
      void client.unbind().catch(() => undefined);
    }
    if (this.open < this.size) {
      this.open++;
      try {
        return await this.create();
      } catch (error) {
        this.open--;
        throw error;
      }
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private release(client: Client, healthy: boolean): void {
    if (!healthy) {
      this.open--;
      void client.unbind().catch(() => undefined);
      const next = this.waiting.shift();
      if (next !== undefined) {
        this.open++;
        this.create().then(next.resolve, (error: unknown) => {
          this.open--;
          next.reject(error);
        });
      }
      return;
    }
    const next = this.waiting.shift();
    if (next !== undefined) next.resolve(client);
    else this.idle.push(client);
  }

  async close(): Promise<void> {
    const clients = this.idle.splice(0);
    this.open -= clients.length;
    await Promise.all(clients.map((c) => c.unbind().catch(() => undefined)));
  }
}

export class LdapDirectory {
  private readonly searches: Pool;
  private readonly binds: Pool;

  constructor(
    readonly policy: LdapPolicy,
    bindPassword: string | undefined,
    private readonly now: () => Date,
  ) {
    this.searches = new Pool(async () => {
      const client = await this.connect();
      if (policy.bindDN === undefined) return client;
      try {
        await client.bind(policy.bindDN, bindPassword ?? '');
      } catch (error) {
        void client.unbind().catch(() => undefined);
        // Not the user's fault: a misconfigured service account makes the directory unusable, not the login wrong.
        if (error instanceof ResultCodeError) throw new Error(`the directory refused the service account ${policy.bindDN}: ${error.message}`, { cause: error });
        throw error;
      }
      return client;
    }, POOL_SIZE);
    this.binds = new Pool(() => this.connect(), POOL_SIZE);
  }

  private async connect(): Promise<Client> {
    const p = this.policy;
    const tls = {
      ...(p.certificateAuthority === undefined ? {} : { ca: p.certificateAuthority }),
      servername: new URL(p.url).hostname,
      minVersion: 'TLSv1.2' as const,
    };
    const client = new Client({
      url: p.url,
      timeout: p.timeoutSeconds * 1000,
      connectTimeout: p.timeoutSeconds * 1000,
      ...(p.url.startsWith('ldaps:') ? { tlsOptions: tls } : {}),
    });
    if (p.startTLS) await client.startTLS(tls);
    return client;
  }

  async login(username: string, password: string): Promise<IdentityCheck> {
    // An empty password is an "unauthenticated bind", which many directories answer with success.
    if (password === '') return refused('empty password');
    // eslint-disable-next-line no-control-regex -- control characters never belong in a login name
    if (username === '' || /[\u0000-\u001f\u007f]/.test(username)) return refused('unknown user');
    try {
      const found = await this.searches.use((c) =>
        c.search(this.policy.userSearch.baseDN, {
          scope: this.policy.userSearch.scope,
          filter: fill(this.policy.userSearch.filter, { username }),
          attributes: [this.policy.userSearch.usernameAttribute ?? 'uid'],
          sizeLimit: 2,
        }),
      );
      const entries = found.searchEntries;
      if (entries.length === 0) return refused('unknown user');
      if (entries.length > 1) return refused('the user filter matches several entries');
      const entry = entries[0] as Entry;
      const attribute = this.policy.userSearch.usernameAttribute ?? 'uid';
      const name = firstValue(entry, attribute);
      if (name === undefined) return refused(`the user's entry has no ${attribute}`);
      try {
        await this.binds.use((c) => c.bind(entry.dn, password));
      } catch (error) {
        if (error instanceof InvalidCredentialsError) return refused('wrong password');
        throw error;
      }
      const groups = await this.groupsOf(entry.dn, username);
      return {
        ok: true,
        identity: {
          source: 'ldap',
          username: `${this.policy.usernamePrefix}${name}`,
          groups: prefixed(this.policy.groupPrefix, groups),
          authenticated: this.policy.authenticated,
          reuseUntil: this.now().getTime() + this.policy.cacheTTLSeconds * 1000,
        },
      };
    } catch (error) {
      if (error instanceof ResultCodeError) return refused(`the directory refused: ${error.message}`);
      return unavailable(`the directory ${this.policy.url} could not be reached: ${(error as Error).message}`);
    }
  }

  /** Group names of the entry, following group-in-group membership when `nested`. */
  private async groupsOf(dn: string, username: string): Promise<string[]> {
    const search = this.policy.groupSearch;
    if (search === undefined) return [];
    const names = new Set<string>();
    const seen = new Set<string>([dn.toLowerCase()]);
    let frontier = [dn];
    for (let depth = 0; depth < (search.nested ? MAX_NESTING : 1) && frontier.length > 0 && names.size < MAX_GROUPS; depth++) {
      const next: string[] = [];
      for (const member of frontier) {
        const result = await this.searches.use((c) =>
          c.search(search.baseDN, {
            scope: search.scope,
            filter: fill(search.filter, { username, dn: member }),
            attributes: [search.nameAttribute],
            sizeLimit: MAX_GROUPS,
          }),
        );
        for (const group of result.searchEntries) {
          const name = firstValue(group, search.nameAttribute);
          if (name !== undefined) names.add(name);
          if (!seen.has(group.dn.toLowerCase())) {
            seen.add(group.dn.toLowerCase());
            next.push(group.dn);
          }
        }
      }
      frontier = next;
    }
    return [...names];
  }

  async close(): Promise<void> {
    await Promise.all([this.searches.close(), this.binds.close()]);
  }
}
