// Which TLS connections may speak as the front proxy. TLS checks a client certificate once, at the
// handshake, against the request-header CA in the context the connection was accepted under; the CA is
// read from the cluster and may change. So each connection remembers the CA generation current when it
// was accepted (not when its handshake ended: a handshake begun under the old CA and finished after the
// change was checked against the old one), and only connections of the current generation count: one
// accepted before the CA was first read (when Node would have checked against its public roots) never
// does, and when the CA changes, connections accepted under the old one are closed, those still in their
// handshake too, so the proxy reconnects and is checked again.

import type { Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { peerOf } from '../../wire/close-server.js';

/** The part of a socket this needs: an identity and a way to close it. */
export interface Connection {
  destroy(): void;
}

export class ConnectionTrust {
  /** 0: no request-header CA yet. */
  private generation = 0;
  /** Connections in their handshake, by addresses and ports (peerOf): the generation they were accepted under. */
  private readonly handshaking = new Map<string, { connection: Connection; generation: number }>();
  private readonly madeUnder = new WeakMap<Connection, number>();
  private readonly open = new Set<Connection>();

  /** Follows `server`'s connections from their acceptance; call it before the server listens. */
  attach(server: TlsServer): void {
    server.on('connection', (raw: Socket) => {
      const peer = peerOf(raw);
      this.accepted(peer, raw);
      raw.once('close', () => this.handshakeEnded(peer, raw));
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      this.connected(socket, peerOf(socket));
      socket.once('close', () => this.closed(socket));
    });
  }

  /** A TCP connection from `peer` was accepted: its handshake is checked against the current context. */
  accepted(peer: string, connection: Connection): void {
    this.handshaking.set(peer, { connection, generation: this.generation });
  }

  /** The handshake of the connection from `peer` finished: the TLS connection counts for the generation it was accepted under. */
  connected(connection: Connection, peer: string): void {
    const accepted = this.handshaking.get(peer);
    this.handshaking.delete(peer);
    // Never seen accepted (or its acceptance was cut by a CA change): it counts for no generation.
    this.madeUnder.set(connection, accepted?.generation ?? -1);
    this.open.add(connection);
  }

  /** The accepted connection closed (its TLS connection, if any, closes with it). */
  handshakeEnded(peer: string, connection: Connection): void {
    if (this.handshaking.get(peer)?.connection === connection) this.handshaking.delete(peer);
  }

  closed(connection: Connection): void {
    this.open.delete(connection);
  }

  /** The server's context now holds a new CA: every connection accepted before was checked against another one. */
  caChanged(): void {
    this.generation++;
    for (const { connection } of [...this.handshaking.values()]) connection.destroy();
    this.handshaking.clear();
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
