// How long a directory takes to log someone in, as a failed login's padding needs it. The paths differ: an
// unknown name costs a search, a wrong password a search and a bind, a shared name's wrong password a
// bcrypt comparison before both, and a login a search, a bind and the group search. Padded only to bcrypt,
// each failure showed its own time, telling which names the directory holds and which a tenant's
// RegistryUser holds. Every failure of a Registry with a directory is therefore padded past a login's time
// (credentials.ts, padFailure), which only successful logins feed (identity/sources.ts): refusals are
// anyone's to send, and fast ones would pull it down. It starts at the first login, rises halfway to a
// slower one at once and sinks by a twentieth of the way to each faster one.

/** The expected time of a source's slower successful logins (ms); undefined until one is observed. */
export class AnswerTime {
  private ms: number | undefined;

  observe(ms: number): void {
    if (this.ms === undefined) this.ms = ms;
    else this.ms = ms > this.ms ? (this.ms + ms) / 2 : this.ms * 0.95 + ms * 0.05;
  }

  get expectedMs(): number | undefined {
    return this.ms;
  }
}
