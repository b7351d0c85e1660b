// Which TLS connections may speak as the front proxy. TLS checks a client certificate once, at the
// handshake, against the request-header CA in the server's context at that moment; the CA is read from
// the cluster and may change. So each connection remembers the CA generation it was made under, and
// only connections of the current generation count: one made before the CA was first read (when Node
// would have checked against its public roots) never does, and when the CA changes, connections made
// under the old one are closed so the proxy reconnects and is checked again.

/** The part of a socket this needs: an identity and a way to close it. */
export interface Connection {
  destroy(): void;
}

export class ConnectionTrust {
  /** 0: no request-header CA yet. */
  private generation = 0;
  private readonly madeUnder = new WeakMap<Connection, number>();
  private readonly open = new Set<Connection>();

  /** A handshake finished under the current context. */
  connected(connection: Connection): void {
    this.madeUnder.set(connection, this.generation);
    this.open.add(connection);
  }

  closed(connection: Connection): void {
    this.open.delete(connection);
  }

  /** The server's context now holds a new CA: every open connection was checked against another one. */
  caChanged(): void {
    this.generation++;
    for (const connection of [...this.open]) {
      this.open.delete(connection);
      connection.destroy();
    }
  }

  /** Whether what TLS established on this connection is about the current CA. */
  current(connection: Connection): boolean {
    return this.generation > 0 && this.madeUnder.get(connection) === this.generation;
  }

  get hasCA(): boolean {
    return this.generation > 0;
  }
}
