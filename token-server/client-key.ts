// The key every abuse limit counts a client under (the login budgets, the "same wrong password again"
// memo, the verification queues). An IPv6 host is given a whole /64 (SLAAC, privacy addresses, any VPS),
// so keyed by its full address one attacker would have 2^64 budgets: an IPv6 client is keyed by its /64.
// An IPv4 client is keyed by its address, also when a dual-stack socket reports it as `::ffff:a.b.c.d` or
// a NAT64 translator as `64:ff9b::a.b.c.d`.
// Audit lines keep the full address; only the counting is coarser.

import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

declare const clientKeyBrand: unique symbol;
/** Only `clientKey` makes one, so no limit can be keyed by a raw address by mistake. */
export type ClientKey = string & { readonly [clientKeyBrand]: true };

/** `::ffff:0:0/96`: the first five groups 0, the sixth 0xffff. */
function isIPv4Mapped(groups: number[]): boolean {
  return groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
}

/**
 * `64:ff9b::/96`, the well-known NAT64 prefix (RFC 6052): behind a translator every IPv4 client of the
 * internet arrives from it, so keyed by its /64 they would all share one budget.
 */
function isNat64(groups: number[]): boolean {
  return groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0);
}

/**
 * The eight 16-bit groups of an IPv6 address. The WHATWG URL host parser (Node's own) does the parsing and
 * writes the canonical form: lower case, no leading zeros, `::` for the longest run of zero groups,
 * embedded IPv4 in hex. That form only needs its `::` expanded.
 */
export function ipv6Groups(address: string): number[] | undefined {
  let host: string;
  try {
    host = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const [head = '', tail] = host.split('::');
  const part = (text: string): string[] => (text === '' ? [] : text.split(':'));
  const left = part(head);
  const right = tail === undefined ? [] : part(tail);
  const zeros = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => '0');
  const groups = [...left, ...zeros, ...right].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

export function clientKey(address: string): ClientKey {
  if (isIPv4(address)) return address as ClientKey;
  // A zone id (`fe80::1%eth0`) names the interface the packet came in on, not the sender.
  const groups = isIPv6(address) ? ipv6Groups(address.split('%')[0] as string) : undefined;
  // Not an address (a trusted proxy's hop that is none, no socket peer): marked so that it can never equal
  // an address's key, and digested, since whoever wrote the hop chose its length (up to the header limit)
  // and every budget map would hold it.
  if (groups === undefined) return `?${createHash('sha256').update(address).digest('base64url').slice(0, 22)}` as ClientKey;
  if (isIPv4Mapped(groups) || isNat64(groups)) {
    const [high, low] = groups.slice(6) as [number, number];
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}` as ClientKey;
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64` as ClientKey;
}
