// Which client address rate limits and audit lines use when the token server sits behind proxies.
// X-Forwarded-For is written by every hop, the first by the client itself, so "trust every hop" would let
// any client pick its own address and step around every per-address limit. Only these two are offered:
// - a hop count N: the address N hops before the socket's peer (N = 1: one Ingress in front);
// - a list of proxy addresses or CIDRs: hops from those are skipped, the first other address is the client.

import { isIP } from 'node:net';

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
  return { proxies };
}

/**
 * The fastify `trustProxy` option for a setting: false (the socket's peer is the client) when unset. A hop
 * count is a function of the hop index, as proxy-addr calls it (0 is the socket's peer).
 */
export function fastifyTrustProxy(setting: TrustProxy | undefined): false | string[] | ((address: string, hop: number) => boolean) {
  if (setting === undefined) return false;
  if ('proxies' in setting) return setting.proxies;
  const { hops } = setting;
  return (_address, hop) => hop < hops;
}
