/**
 * Handing accepted sockets to workers: each goes to the serving worker with
 * the fewest connections (ties rotate), or waits, bounded in number and
 * time, while none serves (all crashed at once, say). The counts it keeps
 * are what the connection caps are checked against: here, where the whole
 * picture is.
 */
import net, { type Socket } from 'node:net';
import { TrustedProxies } from '@smegchat/common';
import { TokenBucket, type ConnectionRefusal, type Limits } from '@smegchat/protocol';
import type { WorkerProcess } from '../workers/worker-process.js';

/** Accepted sockets held while no worker is ready. */
const MAX_HELD_SOCKETS = 1024;
const HOLD_SOCKET_MS = 10_000;
/**
 * Connections past the caps on a TLS port that a worker answers (a handshake
 * each, to say 503): at most these a second, and a burst of twice as many;
 * the rest of a flood is closed unanswered, so refusing never costs more than this.
 */
const TLS_REFUSALS_PER_SECOND = 50;

export class Dispatcher {
  private readonly held: { socket: Socket; timer: NodeJS.Timeout }[] = [];
  private rotate = 0;
  private closed = false;
  private readonly tlsRefusals = new TokenBucket(TLS_REFUSALS_PER_SECOND, 2 * TLS_REFUSALS_PER_SECOND);
  /** Reverse proxies: exempt from the per-address cap at accept; their clients are counted by the address a worker claims. */
  private trusted = TrustedProxies.none;

  constructor(
    private readonly workers: () => Iterable<WorkerProcess>,
    private readonly refused: (reason: ConnectionRefusal) => void = () => undefined,
  ) {}

  totalConnections(): number {
    let n = this.held.length;
    for (const p of this.workers()) n += p.load.total;
    return n;
  }

  trust(proxies: TrustedProxies): void {
    this.trusted = proxies;
  }

  /** A connection from this address is a proxy's: the per-address cap applies to its clients instead. */
  isTrustedProxy(address: string): boolean {
    return this.trusted.has(address);
  }

  /**
   * A worker read, in a request from a trusted proxy, which client the
   * connection is for: it counts as from that address from now on, unless
   * that address is at its cap (false: the worker refuses the request).
   * The counts are moved here, where every worker's are, so the cap holds
   * across workers.
   */
  claim(proc: WorkerProcess, from: string, address: string, limits: Limits): boolean {
    if (net.isIP(address) === 0 || !proc.load.byAddress.has(from)) return false;
    if (!this.trusted.has(address) && this.connectionsFrom(address) >= limits.maxConnectionsPerAddress) {
      this.refused('max-per-address');
      return false;
    }
    proc.load.closed(from);
    proc.load.opened(address);
    return true;
  }

  connectionsFrom(address: string): number {
    let n = 0;
    for (const p of this.workers()) n += p.load.byAddress.get(address) ?? 0;
    for (const h of this.held) if (h.socket.remoteAddress === address) n++;
    return n;
  }

  /** Hands an accepted socket to the least loaded serving worker, or holds it until one serves. */
  dispatch(socket: Socket): void {
    const target = this.leastLoaded();
    if (target !== null) return this.handOver(target, socket);
    if (this.held.length >= MAX_HELD_SOCKETS || this.closed) {
      this.refused('no-worker');
      socket.destroy();
      return;
    }
    const entry = {
      socket,
      timer: setTimeout(() => {
        const i = this.held.indexOf(entry);
        if (i >= 0) this.held.splice(i, 1);
        this.refused('no-worker');
        socket.destroy();
      }, HOLD_SOCKET_MS),
    };
    socket.on('error', () => undefined);
    this.held.push(entry);
  }

  /**
   * A connection past the caps on a TLS port: a plaintext 503 would be garbage
   * on it, so a worker answers it over TLS and closes it. It is counted
   * nowhere. Past the refusal budget, or with no worker serving, it is closed
   * without a reply.
   */
  refuseOverTls(socket: Socket): void {
    const target = this.leastLoaded();
    if (target === null || !this.tlsRefusals.take()) {
      socket.destroy();
      return;
    }
    target.channel.handOver(socket, (err) => err && socket.destroy(), true);
  }

  /** A worker began serving: the sockets held for want of one go out now. */
  drainHeld(): void {
    while (this.held.length > 0) {
      const target = this.leastLoaded();
      if (target === null) return;
      const h = this.held.shift()!;
      clearTimeout(h.timer);
      this.handOver(target, h.socket);
    }
  }

  /** At stop: held sockets are closed, and nothing more is held. */
  close(): void {
    this.closed = true;
    for (const h of this.held.splice(0)) {
      clearTimeout(h.timer);
      h.socket.destroy();
    }
  }

  private handOver(target: WorkerProcess, socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown';
    target.load.opened(address);
    target.channel.handOver(socket, (err) => {
      if (err) {
        socket.destroy();
        target.load.closed(address);
      }
    });
  }

  private leastLoaded(): WorkerProcess | null {
    let best: WorkerProcess | null = null;
    const all = [...this.workers()];
    const n = all.length;
    this.rotate = (this.rotate + 1) % Math.max(1, n);
    for (let i = 0; i < n; i++) {
      const p = all[(this.rotate + i) % n]!;
      if (!p.serving) continue;
      if (best === null || p.load.total < best.load.total) best = p;
    }
    return best;
  }
}
