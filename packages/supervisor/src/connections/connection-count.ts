/** Connections handed to one worker and not yet reported closed, in all and by remote address (for the per-address cap). */
export class ConnectionCount {
  total = 0;
  readonly byAddress = new Map<string, number>();

  opened(address: string): void {
    this.total++;
    this.byAddress.set(address, (this.byAddress.get(address) ?? 0) + 1);
  }

  closed(address: string): void {
    const n = this.byAddress.get(address) ?? 0;
    if (n <= 1) this.byAddress.delete(address);
    else this.byAddress.set(address, n - 1);
    if (this.total > 0) this.total--;
  }
}
