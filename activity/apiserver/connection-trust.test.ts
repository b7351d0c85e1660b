// Only connections made under the current request-header CA may speak as the front proxy.
import { describe, expect, it } from 'vitest';
import { ConnectionTrust } from './connection-trust.js';

const connection = () => {
  const c = { destroyed: false, destroy: () => void (c.destroyed = true) };
  return c;
};

describe('ConnectionTrust', () => {
  it('before the CA was first read, no connection counts (TLS checked it against nothing of ours)', () => {
    const trust = new ConnectionTrust();
    const early = connection();
    trust.connected(early);
    expect(trust.current(early)).toBe(false);
    expect(trust.hasCA).toBe(false);
  });

  it('loading the CA closes the connections made before it, and counts those made after', () => {
    const trust = new ConnectionTrust();
    const early = connection();
    trust.connected(early);
    trust.caChanged();
    expect(early.destroyed).toBe(true);
    expect(trust.current(early)).toBe(false);
    const later = connection();
    trust.connected(later);
    expect(trust.current(later)).toBe(true);
  });

  it('a CA change closes every connection checked against the old CA; a closed one is forgotten', () => {
    const trust = new ConnectionTrust();
    trust.caChanged();
    const a = connection();
    const b = connection();
    trust.connected(a);
    trust.connected(b);
    trust.closed(b);
    trust.caChanged();
    expect(a.destroyed).toBe(true);
    expect(b.destroyed).toBe(false);
    expect(trust.current(a)).toBe(false);
  });

  it('an unknown connection never counts', () => {
    const trust = new ConnectionTrust();
    trust.caChanged();
    expect(trust.current(connection())).toBe(false);
  });
});
