/**
 * Which address each connection counts as. The supervisor counts every
 * connection under the remote address it accepted it from, for the
 * per-address cap; one from a trusted proxy is counted under the proxy's
 * address, exempt from the cap, until a request on it says, in its
 * X-Forwarded-For, which client it carries. Then the worker claims that
 * address for it: the supervisor, which holds every worker's counts, moves
 * the connection to the client's address or refuses it (the client is at its
 * cap). A close is reported under the address the supervisor counts, once
 * any claim on the way is answered, so its counts never drift.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { clientAddress, normalizeAddress, type TrustedProxies } from '@smegchat/common';

/** The supervisor's side of it (SupervisorLink). */
export interface AddressLink {
  claim(from: string, address: string, answered: (ok: boolean) => void): void;
  socketClosed(address: string): void;
}

/** Whom a request is from, or why it is refused. */
export type Resolution =
  { readonly address: string } | { readonly refused: 'max-per-address' } | { readonly refused: 'bad-request'; readonly why: string };

interface Entry {
  /** The address the connection was accepted from (a proxy's, or the client's own). */
  readonly remote: string;
  /** The address the supervisor counts it under now. */
  counted: string;
  claiming: boolean;
  closed: boolean;
  /** Requests that came while a claim was on its way: they are resolved after it. */
  readonly waiting: (() => void)[];
}

export class ConnectionAddresses {
  private readonly entries = new WeakMap<Duplex, Entry>();

  constructor(
    private readonly link: AddressLink,
    private readonly trusted: () => TrustedProxies,
  ) {}

  /** A socket handed over; `served` is what HTTP reads from it (a TLS socket over it, or itself). */
  adopt(raw: Socket, served: Duplex): void {
    const remote = raw.remoteAddress ?? 'unknown';
    const entry: Entry = { remote, counted: remote, claiming: false, closed: false, waiting: [] };
    this.entries.set(served, entry);
    raw.once('close', () => {
      entry.closed = true;
      if (!entry.claiming) this.link.socketClosed(entry.counted);
    });
  }

  /** Whom a request on `served` is from; `done` is called once the connection counts as that (at once, unless a claim is needed). */
  resolve(served: Duplex, forwardedFor: string | undefined, done: (r: Resolution) => void): void {
    const entry = this.entries.get(served);
    if (entry === undefined) return done({ address: normalizeAddress((served as Partial<Socket>).remoteAddress ?? 'unknown') });
    if (entry.claiming) {
      entry.waiting.push(() => this.resolve(served, forwardedFor, done));
      return;
    }
    const who = clientAddress(entry.remote, forwardedFor, this.trusted());
    if ('error' in who) return done({ refused: 'bad-request', why: who.error });
    if (normalizeAddress(entry.counted) === who.address) return done({ address: who.address });
    entry.claiming = true;
    this.link.claim(entry.counted, who.address, (ok) => {
      entry.claiming = false;
      if (ok) entry.counted = who.address;
      if (entry.closed) {
        this.link.socketClosed(entry.counted);
        return;
      }
      done(ok ? { address: who.address } : { refused: 'max-per-address' });
      for (const next of entry.waiting.splice(0)) next();
    });
  }
}
