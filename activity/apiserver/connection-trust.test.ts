// Only connections accepted under the current request-header CA may speak as the front proxy.
import { describe, expect, it } from 'vitest';
import { ConnectionTrust } from './connection-trust.js';

const connection = () => {
  const c = { destroyed: false, destroy: () => void (c.destroyed = true) };
  return c;
};

let port = 40000;
/** A connection accepted, then through its handshake: the raw socket and the TLS socket over it. */
function handshake(trust: ConnectionTrust) {
  const peer = `127.0.0.1:${++port}`;
  const raw = connection();
  trust.accepted(peer, raw);
  const tls = connection();
  return { raw, tls, finish: () => trust.connected(tls, peer) };
}

function connected(trust: ConnectionTrust) {
  const c = handshake(trust);
  c.finish();
  return c.tls;
}

describe('ConnectionTrust', () => {
  it('before the CA was first read, no connection counts (TLS checked it against nothing of ours)', () => {
    const trust = new ConnectionTrust();
    const early = connected(trust);
    expect(trust.current(early)).toBe(false);
    expect(trust.hasCA).toBe(false);
  });

  it('loading the CA closes the connections made before it, and counts those made after', () => {
    const trust = new ConnectionTrust();
    const early = connected(trust);
    trust.caChanged();
    expect(early.destroyed).toBe(true);
    expect(trust.current(early)).toBe(false);
    const later = connected(trust);
    expect(trust.current(later)).toBe(true);
  });

  it('a CA change closes every connection checked against the old CA; a closed one is forgotten', () => {
    const trust = new ConnectionTrust();
    trust.caChanged();
    const a = connected(trust);
    const b = connected(trust);
    trust.closed(b);
    trust.caChanged();
    expect(a.destroyed).toBe(true);
    expect(b.destroyed).toBe(false);
    expect(trust.current(a)).toBe(false);
  });

  it('a handshake begun before a CA change is closed, and counts for nothing if it still finishes', () => {
    const trust = new ConnectionTrust();
    trust.caChanged();
    const held = handshake(trust);
    trust.caChanged();
    // Before: stamped when the handshake ended, it counted under the new CA though checked against the old.
    expect(held.raw.destroyed).toBe(true);
    held.finish();
    expect(trust.current(held.tls)).toBe(false);
  });

  it('a handshake begun before the CA was first read counts for nothing (checked against the public roots)', () => {
    const trust = new ConnectionTrust();
    const held = handshake(trust);
    trust.caChanged();
    held.finish();
    expect(trust.current(held.tls)).toBe(false);
  });

  it('a handshake that ended (its socket closed) is forgotten: a CA change does not close it again', () => {
    const trust = new ConnectionTrust();
    trust.caChanged();
    const peer = '127.0.0.1:1';
    const raw = connection();
    trust.accepted(peer, raw);
    trust.handshakeEnded(peer, raw);
    trust.caChanged();
    expect(raw.destroyed).toBe(false);
  });

  it('an unknown connection never counts, nor one whose acceptance was never seen', () => {
    const trust = new ConnectionTrust();
    trust.caChanged();
    expect(trust.current(connection())).toBe(false);
    const stray = connection();
    trust.connected(stray, '127.0.0.1:2');
    expect(trust.current(stray)).toBe(false);
  });
});
