/**
 * The byte budget of each remote address on this worker: what all its
 * connections here may send together, so that one address opening many
 * connections does not multiply the per-connection byte rate. Kept per
 * worker (the supervisor spreads an address's connections over workers, so
 * an address gets at most this many times the worker count); forgotten
 * once the address's last connection here closes.
 */
import { TokenBucket, type Limits } from '@smegchat/protocol';

export class AddressBytes {
  private readonly byAddress = new Map<string, { readonly bucket: TokenBucket; connections: number }>();

  constructor(private readonly limits: () => Limits) {}

  opened(address: string): void {
    const entry = this.byAddress.get(address);
    if (entry !== undefined) entry.connections++;
    else {
      const rate = this.limits().addressBytesPerSecond;
      this.byAddress.set(address, { bucket: new TokenBucket(rate, 2 * rate), connections: 1 });
    }
  }

  closed(address: string): void {
    const entry = this.byAddress.get(address);
    if (entry !== undefined && --entry.connections <= 0) this.byAddress.delete(address);
  }

  /** Takes `bytes` from the address's budget; false when it is spent (always true with no limit). */
  take(address: string, bytes: number): boolean {
    if (this.limits().addressBytesPerSecond === 0) return true;
    return this.byAddress.get(address)?.bucket.takeMany(bytes) ?? true;
  }

  /** New limits from a reload. */
  setLimits(limits: Limits): void {
    for (const { bucket } of this.byAddress.values()) bucket.setLimits(limits.addressBytesPerSecond, 2 * limits.addressBytesPerSecond);
  }
}
