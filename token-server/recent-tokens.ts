// Identical requests within the same second get the same token. Claims have one-second resolution, so
// two tokens for the same user, access, key and second differ only in `jti`; re-signing them is the most
// expensive step of a request (an ECDSA signature) and buys nothing. Docker and containerd ask for the
// same token many times in a burst (one per layer push), so this halves the work of a busy server.
// The map only ever holds entries for the current second and is bounded.

export class RecentTokens {
  private second = -1;
  private readonly tokens = new Map<string, string>();

  constructor(private readonly maxEntries = 4096) {}

  get(key: string, second: number): string | undefined {
    if (second !== this.second) return undefined;
    return this.tokens.get(key);
  }

  set(key: string, second: number, token: string): void {
    if (second !== this.second) {
      this.tokens.clear();
      this.second = second;
    }
    if (this.tokens.size < this.maxEntries) this.tokens.set(key, token);
  }
}

/** Everything that determines a token's claims except `jti`. */
export function claimsKey(parts: { kid: string; iss: string; sub: string; aud: string; iat: number; exp: number; access: unknown }): string {
  return `${parts.kid}\u0000${parts.iss}\u0000${parts.sub}\u0000${parts.aud}\u0000${parts.iat}\u0000${parts.exp}\u0000${JSON.stringify(parts.access)}`;
}
