// Where a delivery may connect. The URL is a tenant's choice, and the activity server sits inside the
// cluster: a webhook must not become a way to read the cloud's instance metadata service (which answers
// with credentials) from the pod network. Link-local addresses (169.254.0.0/16, fe80::/10, where every
// major cloud serves metadata), AWS's IPv6 metadata address and the unspecified addresses are refused
// unless the operator of the activity server allows them. The check runs on the address actually
// connected to (a lookup hook on the socket), so a name that resolves differently later (DNS rebinding)
// gains nothing. Everything else — other pods, Services, the internet — is for a NetworkPolicy on the
// activity server's egress to limit (docs/webhooks.md).

import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** The error code a refused address fails with (it also becomes lastFailure.reason). */
export const FORBIDDEN_ADDRESS = 'ForbiddenAddress';

const blocked = new BlockList();
blocked.addSubnet('169.254.0.0', 16, 'ipv4');
blocked.addSubnet('0.0.0.0', 8, 'ipv4');
blocked.addSubnet('fe80::', 10, 'ipv6');
blocked.addAddress('fd00:ec2::254', 'ipv6');
blocked.addAddress('::', 'ipv6');

/** Whether connecting to `address` (an IP literal) is refused. IPv4-mapped IPv6 is judged as IPv4. */
export function isForbiddenAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return blocked.check(mapped, 'ipv4');
  const family = isIP(address);
  if (family === 0) return false;
  return blocked.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export class ForbiddenAddressError extends Error {
  readonly code = FORBIDDEN_ADDRESS;
  constructor(host: string) {
    // The host is the tenant's own input, so it may appear; the address list is not needed to act on it.
    super(`${host} resolves to a link-local or metadata address, which webhooks may not reach`);
  }
}

/** The hostname of a URL as net.connect sees it (IPv6 literals without brackets). */
export function connectHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** Refuses a URL whose host is itself a forbidden IP literal (no lookup happens for those). */
export function literalAddressProblem(url: URL): string | undefined {
  const host = connectHost(url);
  return isIP(host) !== 0 && isForbiddenAddress(host) ? new ForbiddenAddressError(host).message : undefined;
}

type Resolve = (
  hostname: string,
  options: { all: true; family?: number | 'IPv4' | 'IPv6' },
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/** A socket lookup that drops forbidden addresses and fails when none is left; `resolve` is for tests. */
export function guardLookup(resolve: Resolve = dnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...(options.family !== undefined ? { family: options.family } : {}), all: true }, (error, addresses) => {
      if (error) {
        callback(error, '', 0);
        return;
      }
      const allowed = addresses.filter((a) => !isForbiddenAddress(a.address));
      const first = allowed[0];
      if (first === undefined) {
        callback(new ForbiddenAddressError(hostname), '', 0);
        return;
      }
      if (options.all === true) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
      else callback(null, first.address, first.family);
    });
  };
}

export const guardedLookup: LookupFunction = guardLookup();
