/**
 * Who a connection is from, behind a reverse proxy (`--trusted-proxies`).
 * A connection from a trusted proxy carries its client's address in
 * `X-Forwarded-For`: each proxy appends the address it got the request from,
 * so the header reads `client, proxy1, proxy2` and only its right end is
 * known to be true. The client is the last hop, from the right, that is not
 * itself a trusted proxy; everything left of it could have been written by
 * the client. The header of a connection from anyone else is ignored.
 */
import net from 'node:net';

/** An IPv4 address written as IPv6 (`::ffff:1.2.3.4`, how a dual-stack socket reports it) is the IPv4 address. */
export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && net.isIPv4(lower.slice(7)) ? lower.slice(7) : lower;
}

/** The addresses and networks (`A`, `A/N`) whose connections are proxied. */
export class TrustedProxies {
  private readonly list = new net.BlockList();

  private constructor(readonly entries: readonly string[]) {
    for (const entry of entries) {
      const [address, bits, extra] = entry.split('/');
      const family = net.isIP(address ?? '');
      const prefix = bits === undefined ? null : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
      if (family === 0 || extra !== undefined || Number.isNaN(prefix) || (prefix !== null && prefix > (family === 4 ? 32 : 128))) {
        throw new TypeError(`"${entry}" is not an IP address or network (A.B.C.D, A.B.C.D/N, an IPv6 address or ADDR/N)`);
      }
      const type = family === 4 ? 'ipv4' : 'ipv6';
      const normal = normalizeAddress(address!);
      if (prefix === null) this.list.addAddress(normal, net.isIPv4(normal) ? 'ipv4' : type);
      else this.list.addSubnet(address!, prefix, type);
    }
  }

  /** Parses the option's entries; throws a TypeError naming the first one that is not an address or network. */
  static parse(entries: readonly string[]): TrustedProxies {
    return new TrustedProxies(entries);
  }

  static readonly none = new TrustedProxies([]);

  get size(): number {
    return this.entries.length;
  }

  has(address: string): boolean {
    if (this.entries.length === 0) return false;
    const a = normalizeAddress(address);
    const family = net.isIP(a);
    return family !== 0 && this.list.check(a, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** One hop of the header as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`. Null if it is none of these. */
export function parseHop(hop: string): string | null {
  let a = hop.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(a);
  if (bracketed !== null) a = bracketed[1]!;
  else if (/^[\d.]+:\d{1,5}$/.test(a)) a = a.slice(0, a.lastIndexOf(':'));
  return net.isIP(a) === 0 ? null : normalizeAddress(a);
}

/** The client's address, or why the header cannot say it. */
export type ClientAddress = { readonly address: string; readonly forwarded: boolean } | { readonly error: string };

/**
 * Whom a request on a connection from `remote` is from. Not from a trusted
 * proxy: `remote`, whatever the header says. From one: the last hop of
 * `X-Forwarded-For` that is not a trusted proxy (all of them trusted: the
 * first); no header: the proxy itself. A hop that is not an address, where
 * the client would be read, is an error: the proxy is not writing the header
 * it should.
 */
export function clientAddress(remote: string, header: string | undefined, trusted: TrustedProxies): ClientAddress {
  if (!trusted.has(remote)) return { address: normalizeAddress(remote), forwarded: false };
  if (header === undefined || header.trim() === '') return { address: normalizeAddress(remote), forwarded: false };
  const hops = header.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = parseHop(hops[i]!);
    if (hop === null) return { error: `X-Forwarded-For hop ${JSON.stringify(hops[i]!.trim().slice(0, 64))} is not an address` };
    if (!trusted.has(hop) || i === 0) return { address: hop, forwarded: true };
  }
  return { address: normalizeAddress(remote), forwarded: false }; // unreachable: the loop returns at i === 0
}
