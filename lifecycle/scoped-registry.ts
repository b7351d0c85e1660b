// Registry clients whose tokens carry exactly what a run needs: the catalog alone, or `pull` (a dry
// run) or `pull,delete` on the repositories the policy covers, asked for a chunk of repositories at a
// time so a token stays small, and asked again before it expires (registry tokens live minutes, a run
// over a large registry may not).

import { DistributionClient } from './registry-api.js';
import type { IssuedToken, TokenSource } from './sources.js';

export interface RegistryEndpoint {
  /** https://HOST[:PORT]; absent: https:// and the service the token was issued for. */
  server?: string;
  /** PEM of the CA to trust; absent: the system's trust. */
  ca?: Buffer;
}

/** A repository the token does not cover for what the run needs, with the issuer's reason. */
export class RepositoryRefused extends Error {
  constructor(
    readonly repository: string,
    message: string,
  ) {
    super(message);
    this.name = 'RepositoryRefused';
  }
}

/** Repositories per token: a JWT naming a thousand repositories is a header some proxies refuse. */
export const REPOSITORIES_PER_TOKEN = 100;
/** A token this close to expiring is replaced before use. */
const RENEW_BEFORE_MS = 60_000;

interface Held {
  client: DistributionClient;
  token: IssuedToken;
}

export class ScopedRegistry {
  private readonly chunkOf = new Map<string, number>();
  private readonly chunks: string[][] = [];
  private readonly held = new Map<number, Promise<Held>>();
  private readonly all: DistributionClient[] = [];

  constructor(
    private readonly endpoint: RegistryEndpoint,
    private readonly tokens: TokenSource,
    private readonly actions: readonly string[],
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The repositories the run covers (once, after the catalog or the trail named them). */
  cover(repositories: readonly string[]): void {
    if (this.chunkOf.size > 0) throw new Error('the repositories of a run are set once');
    [...repositories].sort().forEach((repository, i) => {
      const chunk = Math.floor(i / REPOSITORIES_PER_TOKEN);
      (this.chunks[chunk] ??= []).push(repository);
      this.chunkOf.set(repository, chunk);
    });
  }

  private newClient(token: IssuedToken): DistributionClient {
    const server = this.endpoint.server ?? (token.service === undefined ? undefined : `https://${token.service}`);
    if (server === undefined) throw new Error('no registry server given, and the token names no service');
    const client = new DistributionClient({ server, token: token.token, ...(this.endpoint.ca ? { ca: this.endpoint.ca } : {}) });
    this.all.push(client);
    return client;
  }

  private async issue(chunk: number): Promise<Held> {
    const scopes = (this.chunks[chunk] ?? []).map((repository) => `repository:${repository}:${this.actions.join(',')}`);
    const token = await this.tokens.token(scopes);
    return { client: this.newClient(token), token };
  }

  /** A client whose token carries every action the run needs on `repository`; throws RepositoryRefused if not. */
  async client(repository: string): Promise<DistributionClient> {
    const chunk = this.chunkOf.get(repository);
    if (chunk === undefined) throw new RepositoryRefused(repository, `${repository} is not among the repositories this run covers`);
    let pending = this.held.get(chunk);
    if (pending === undefined) this.held.set(chunk, (pending = this.issue(chunk)));
    let held = await pending;
    if (held.token.expiresAt.getTime() - this.now().getTime() < RENEW_BEFORE_MS) {
      // Whoever notices first renews; the others wait for the same new token.
      if (this.held.get(chunk) === pending) this.held.set(chunk, this.issue(chunk));
      held = await (this.held.get(chunk) as Promise<Held>);
    }
    const granted = held.token.access.find((a) => a.type === 'repository' && a.name === repository)?.actions ?? [];
    const missing = this.actions.filter((action) => !granted.includes(action));
    if (missing.length > 0) {
      const why = held.token.withheld.find((w) => w.scope.startsWith(`repository:${repository}:`))?.reason;
      throw new RepositoryRefused(repository, `the token for ${repository} carries no ${missing.join(',')}${why === undefined ? '' : `: ${why}`}`);
    }
    return held.client;
  }

  /** A client with a token for the catalog only. */
  async catalogClient(): Promise<DistributionClient> {
    return this.newClient(await this.tokens.token(['registry:catalog:*']));
  }

  /** Registry requests sent through every client so far. */
  get requests(): number {
    return this.all.reduce((n, c) => n + c.requests, 0);
  }

  close(): void {
    for (const client of this.all) client.close();
  }
}
