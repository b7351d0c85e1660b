// How long a directory takes to answer, as a failed login's padding needs it. Its paths differ: an unknown
// name costs a search, a wrong password a search and a bind, a shared name's wrong password a bcrypt
// comparison before both. Padded only to bcrypt, each path showed its own time, telling which names the
// directory holds and which a tenant's RegistryUser holds. So the expected time follows the slower
// answers: it starts at the first answer, rises halfway to a slower one at once and sinks slowly (a
// twentieth of the way to each faster one), and every failure of a Registry with a directory is padded
// past it (credentials.ts, padFailure).
// Only answers are observed, never a timeout or an unreachable directory: padding every failure to a
// timeout would make each wrong password cost the server a long wait for nothing.

/** The expected time of a source's slower answers (ms); 0 until one is observed. */
export class AnswerTime {
  private ms: number | undefined;

  observe(ms: number): void {
    if (this.ms === undefined) this.ms = ms;
    else this.ms = ms > this.ms ? (this.ms + ms) / 2 : this.ms * 0.95 + ms * 0.05;
  }

  get expectedMs(): number {
    return this.ms ?? 0;
  }
}
