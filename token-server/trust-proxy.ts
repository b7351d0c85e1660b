// Which client address rate limits and audit lines use when the token server sits behind proxies.
// X-Forwarded-For is written by every hop, the first by the client itself, so "trust every hop" would let
// any client pick its own address and step around every per-address limit. Only these two are offered:
// - a hop count N: the address N hops before the socket's peer (N = 1: one Ingress in front);
// - a list of proxy addresses or CIDRs: hops from those are skipped, the first other address is the client.

import { BlockList, isIP } from 'node:net';
import { ipv6Groups } from './client-key.js';

export type TrustProxy = { hops: number } | { proxies: string[] };

const MAX_HOPS = 16;

function isCidrOrAddress(value: string): boolean {
  const [address, bits, ...rest] = value.split('/');
  if (rest.length > 0 || address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * The widest ranges a proxy list may name: an IPv4 /8 (10.0.0.0/8, the widest private network), also
 * spelled IPv4-mapped (`::ffff:10.0.0.0/104`) or NAT64; fc00::/7 (private IPv6); a /24 of other IPv6
 * (the published ranges of CDNs in front of a registry are /28 to /32).
 * `0.0.0.0/0`, `::/0` or `::ffff:0:0/96` is "trust every hop" spelled as a CIDR.
 */
const MIN_PREFIX = { v4: 8, privateV6: 7, otherV6: 24 };
/** ::ffff:0:0/96 (IPv4-mapped, which trustHop checks as IPv4) and 64:ff9b::/96 (NAT64): IPv4 inside IPv6. */
const IPV4_IN_IPV6 = [
  [0, 0, 0, 0, 0, 0xffff, 0, 0],
  [0x64, 0xff9b, 0, 0, 0, 0, 0, 0],
];
const PRIVATE_V6 = [0xfc00, 0, 0, 0, 0, 0, 0, 0];

/** Whether the first `bits` bits of two IPv6 addresses (as eight 16-bit groups) are the same. */
function samePrefix(a: readonly number[], b: readonly number[], bits: number): boolean {
  for (let i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if (((a[i] ?? 0) & mask) !== ((b[i] ?? 0) & mask)) return false;
  }
  return true;
}

function tooWide(entry: string): boolean {
  const [address, bits] = entry.split('/') as [string, string | undefined];
  if (bits === undefined) return false;
  const length = Number(bits);
  if (isIP(address) === 4) return length < MIN_PREFIX.v4;
  const groups = ipv6Groups(address);
  if (groups === undefined) return true;
  for (const ipv4 of IPV4_IN_IPV6) {
    // Holding all of IPv4 (or more), or a part of it: then judged as the IPv4 range it is.
    if (length <= 96 && samePrefix(groups, ipv4, length)) return true;
    if (length > 96 && samePrefix(groups, ipv4, 96)) return length - 96 < MIN_PREFIX.v4;
  }
  if (length >= MIN_PREFIX.privateV6 && samePrefix(groups, PRIVATE_V6, MIN_PREFIX.privateV6)) return false;
  return length < MIN_PREFIX.otherV6;
}

/** Parses `--trust-proxy`: a hop count (1..16) or a comma-separated list of addresses/CIDRs. Throws a sentence. */
export function parseTrustProxy(value: string): TrustProxy {
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    if (hops < 1 || hops > MAX_HOPS) throw new Error(`--trust-proxy hop count must be 1..${MAX_HOPS}, not ${text}`);
    return { hops };
  }
  if (text === '' || text === 'true' || text === '*' || text === 'all') {
    throw new Error(
      '--trust-proxy needs the number of proxy hops in front (e.g. 1) or their addresses/CIDRs (e.g. 10.0.0.0/8); ' +
        'trusting every hop would let clients choose their own address',
    );
  }
  const proxies = text.split(',').map((p) => p.trim());
  const bad = proxies.find((p) => !isCidrOrAddress(p));
  if (bad !== undefined) throw new Error(`--trust-proxy: ${JSON.stringify(bad)} is neither a hop count nor an IP address or CIDR`);
  const wide = proxies.find(tooWide);
  if (wide !== undefined) {
    throw new Error(
      `--trust-proxy: ${wide} is too wide a range of proxies (at most an IPv4 /${MIN_PREFIX.v4}, also IPv4-mapped, ` +
        `fc00::/${MIN_PREFIX.privateV6} or an IPv6 /${MIN_PREFIX.otherV6}): it would trust hops from the internet, which lets clients choose their own address`,
    );
  }
  return { proxies };
}

/** Whether the hop `hop` away from the socket (0: the peer itself), at `address`, is a proxy to look past. */
export type TrustHop = (address: string, hop: number) => boolean;

/** The trust rule of a setting; undefined when unset (the socket's peer is the client). */
export function trustHop(setting: TrustProxy | undefined): TrustHop | undefined {
  if (setting === undefined) return undefined;
  if ('hops' in setting) {
    const { hops } = setting;
    return (_address, hop) => hop < hops;
  }
  const proxies = new BlockList();
  for (const entry of setting.proxies) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) proxies.addAddress(address, family);
    else proxies.addSubnet(address, Number(bits), family);
  }
  return (address) => {
    const plain = unmapped(address);
    const family = isIP(plain);
    return family !== 0 && proxies.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  };
}

/** An IPv4 address a dual-stack socket reports as IPv6 (`::ffff:10.0.0.1`) matches the IPv4 rules. */
function unmapped(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped === null ? address : mapped[1]!;
}

/**
 * The client's address: walking from the socket's peer back through X-Forwarded-For (last entry first,
 * empty entries skipped), the first hop not trusted; the first entry when every hop is. This is the walk
 * fastify's proxy-addr makes with the same rule (fastifyTrustProxy), so the GET /token fast path and
 * fastify's routes see one address for one request.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, trust: TrustHop | undefined): string {
  const socket = peer ?? '';
  if (trust === undefined || typeof forwardedFor !== 'string' || forwardedFor === '') return socket;
  const hops = forwardedFor
    .split(',')
    .map((hop) => hop.trim())
    .filter((hop) => hop !== '');
  let address = socket;
  for (let hop = 0; hop < hops.length; hop++) {
    if (!trust(address, hop)) return address;
    address = hops[hops.length - 1 - hop]!;
  }
  return address;
}

/** The fastify `trustProxy` option for a setting: false (the socket's peer is the client) when unset. */
export function fastifyTrustProxy(setting: TrustProxy | undefined): false | TrustHop {
  return trustHop(setting) ?? false;
}
