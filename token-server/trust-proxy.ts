// Which client address rate limits and audit lines use when the token server sits behind proxies.
// X-Forwarded-For is written by every hop, the first by the client itself, so "trust every hop" would let
// any client pick its own address and step around every per-address limit. Only these two are offered:
// - a hop count N: the address N hops before the socket's peer (N = 1: one Ingress in front);
// - a list of proxy addresses or CIDRs: hops from those are skipped, the first other address is the client.

import { BlockList, isIP } from 'node:net';

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
 * The widest range a proxy list may name: 10.0.0.0/8 and fc00::/7, the widest private networks. `0.0.0.0/0`
 * (or a /1) is "trust every hop" spelled as a CIDR.
 */
const MIN_PREFIX = { v4: 8, v6: 7 };

function tooWide(entry: string): boolean {
  const [address, bits] = entry.split('/') as [string, string | undefined];
  if (bits === undefined) return false;
  return Number(bits) < (isIP(address) === 4 ? MIN_PREFIX.v4 : MIN_PREFIX.v6);
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
      `--trust-proxy: ${wide} is wider than any private network (/${MIN_PREFIX.v4} for IPv4, /${MIN_PREFIX.v6} for IPv6): ` +
        'it would trust hops from the internet, which lets clients choose their own address',
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
