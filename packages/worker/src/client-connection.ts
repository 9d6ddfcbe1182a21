/**
 * One WebSocket client: its limits, its state on its board, and what it sends
 * and is sent. Only this connection is closed for whatever it does wrong.
 */
import {
  CloseCode,
  looksLikePresence,
  parsePresenceMessage,
  PRESENCE,
  type PresenceMessage,
  type ClientMessage,
  type JoinedMessage,
  type Limits,
  type RejectItem,
  type WelcomeMessage,
  parseClientMessage,
  TokenBucket,
} from '@smegchat/protocol';
import crypto from 'node:crypto';
import type { Socket } from 'node:net';
import type { WebSocket, RawData } from 'ws';
import type { Logger } from '@smegchat/common';
import type { FramedTurn } from './local-boards.js';
import type { WorkerMetrics } from './worker-metrics.js';

/** What a connection needs from its worker. */
export interface ConnectionHost {
  readonly workerId: number;
  readonly hostName: string;
  readonly log: Logger;
  readonly metrics: WorkerMetrics;
  limits(): Limits;
  submit(client: ClientConnection, msg: ClientMessage): void;
  /** Takes `bytes` from the budget of the client's address on this worker; false when it is spent. */
  takeAddressBytes(address: string, bytes: number): boolean;
  /** The client said where it is (not sequenced). */
  presence(client: ClientConnection, msg: PresenceMessage): void;
  closed(client: ClientConnection): void;
}

type State = 'joining' | 'live' | 'closed';

let nextCid = 1;

export class ClientConnection {
  readonly cid = nextCid++;
  /** This connection's public id for presence: random, nothing to do with its session. */
  readonly who = crypto.randomBytes(8).toString('hex');
  private state: State = 'joining';
  /** The session token the sequencer gave this client (set once joined). */
  session = '';
  /** The highest seq this client has been sent. */
  private seq = 0;
  /** Cleared by each ping, set by each pong. */
  private alive = true;
  /** What the client sent before its welcome; sent on once joined (bounded by the rate limit). */
  private early: ClientMessage[] = [];
  private readonly bucket: TokenBucket;
  /** Bytes of sequenced messages (presence aside): what could fill the disk. */
  private readonly byteBucket: TokenBucket;
  /** Presence has its own budget: past it, presence is dropped and the connection stays. */
  private readonly presenceBucket = new TokenBucket(PRESENCE.inRate, PRESENCE.inBurst);
  /** When the upgrade was accepted: the join latency runs from here to the replay written. */
  private readonly acceptedAt = performance.now();

  constructor(
    readonly ws: WebSocket,
    readonly board: string,
    readonly address: string,
    private readonly host: ConnectionHost,
  ) {
    const limits = host.limits();
    this.bucket = new TokenBucket(limits.ratePerSecond, limits.rateBurst);
    this.byteBucket = new TokenBucket(limits.bytesPerSecond, limits.bytesBurst);
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('pong', () => (this.alive = true));
    ws.on('close', (code) => this.onClose(code));
    ws.on('error', (err) => host.log.debug({ cid: this.cid, err: err.message }, 'client socket error'));
  }

  get live(): boolean {
    return this.state === 'live';
  }

  /** Waiting for the sequencer's answer to its join. */
  get joining(): boolean {
    return this.state === 'joining';
  }

  /** The sequencer accepted the join: welcome, replay, then live. */
  joined(reply: JoinedMessage): void {
    if (this.state !== 'joining') return;
    this.session = reply.session;
    const welcome: WelcomeMessage = {
      t: 'welcome',
      board: reply.board,
      seq: reply.seq,
      epoch: reply.epoch,
      session: reply.session,
      worker: this.host.workerId,
      host: this.host.hostName,
      reset: reply.reset,
    };
    this.ws.send(JSON.stringify(welcome));
    for (const frame of reply.frames) this.ws.send(frame);
    this.host.metrics.joined((performance.now() - this.acceptedAt) / 1000);
    this.seq = reply.seq;
    this.state = 'live';
    const early = this.early;
    this.early = [];
    for (const msg of early) this.host.submit(this, msg);
  }

  /**
   * Its board's frames of this turn, framed once for every recipient: those
   * it has not had (a client that joined meanwhile had some in its replay)
   * go in one write, straight to the socket. Returns how many.
   */
  deliverTurn(turn: FramedTurn): number {
    const socket = this.socket();
    if (this.state !== 'live' || this.ws.readyState !== this.ws.OPEN || socket === undefined) return 0;
    let k = 0;
    while (k < turn.seqs.length && turn.seqs[k]! <= this.seq) k++;
    if (k === turn.seqs.length) return 0;
    this.seq = turn.seqs[turn.seqs.length - 1]!;
    const limit = this.host.limits().maxBufferedBytes;
    if (this.ws.bufferedAmount > limit) {
      // It stopped reading: it cannot take a close frame either.
      this.host.log.warn({ cid: this.cid, address: this.address, buffered: this.ws.bufferedAmount, limit }, 'client too slow: dropped');
      this.host.metrics.slowDropped++;
      this.ws.terminate();
      return 0;
    }
    // ws sends nothing of its own meanwhile (no deflate, so no queue): its frames and these stay in order.
    socket.write(k === 0 ? turn.bytes : turn.bytes.subarray(turn.starts[k]));
    return turn.seqs.length - k;
  }

  /** ws keeps its socket private; writing a turn's frames to it in one write is the one thing we need from it. */
  private socket(): Socket | undefined {
    return (this.ws as unknown as { _socket?: Socket })._socket;
  }

  /** A presence frame (serialised once for every recipient); never ahead of the welcome. */
  sendPresence(frame: string): void {
    if (this.state !== 'live' || this.ws.bufferedAmount > this.host.limits().maxBufferedBytes) return;
    this.ws.send(frame);
  }

  /** The sequencer refused one of this client's messages; the connection stays. */
  rejected(item: RejectItem): void {
    if (this.state === 'closed') return;
    this.ws.send(JSON.stringify({ t: 'error', id: item.id, code: item.code, message: item.message }));
  }

  /** Ping tick: a client that left the last ping unanswered is dropped. */
  ping(): void {
    if (!this.alive) {
      this.host.log.info({ cid: this.cid, address: this.address }, 'client did not answer its ping: dropped');
      this.ws.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.ws.close(code, reason);
  }

  setLimits(limits: Limits): void {
    this.bucket.setLimits(limits.ratePerSecond, limits.rateBurst);
    this.byteBucket.setLimits(limits.bytesPerSecond, limits.bytesBurst);
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.state === 'closed') return;
    if (isBinary) return this.refuse(CloseCode.Unsupported, 'binary frames are not accepted');
    const text = data.toString();
    if (looksLikePresence(text)) {
      if (!this.presenceBucket.take()) return; // over its own budget: dropped, never closed
      const p = parsePresenceMessage(text, this.host.limits());
      if (!p.ok) return this.refuse(p.error.closeCode, p.error.message, p.error.reason);
      this.host.presence(this, p.value);
      return;
    }
    if (!this.bucket.take()) {
      const { ratePerSecond, rateBurst } = this.host.limits();
      return this.refuse(CloseCode.Policy, `over the rate limit of ${ratePerSecond}/s (burst ${rateBurst})`);
    }
    const bytes = Array.isArray(data) ? data.reduce((n, b) => n + b.byteLength, 0) : data.byteLength;
    if (!this.byteBucket.takeMany(bytes)) {
      const { bytesPerSecond, bytesBurst } = this.host.limits();
      return this.refuse(CloseCode.Policy, `over the byte rate of ${bytesPerSecond} bytes/s (burst ${bytesBurst})`);
    }
    if (!this.host.takeAddressBytes(this.address, bytes)) {
      return this.refuse(CloseCode.Policy, `over the byte rate of ${this.host.limits().addressBytesPerSecond} bytes/s from one address`);
    }
    const parsed = parseClientMessage(text, this.host.limits());
    if (!parsed.ok) return this.refuse(parsed.error.closeCode, parsed.error.message, parsed.error.reason);
    if (this.state === 'joining') this.early.push(parsed.value);
    else this.host.submit(this, parsed.value);
  }

  private refuse(code: number, message: string, reason?: string): void {
    this.host.log.info({ cid: this.cid, address: this.address, code, reason, message }, 'client closed for bad input');
    // A close reason is at most 123 bytes.
    this.ws.close(code, Buffer.from(message).subarray(0, 123).toString());
    this.state = 'closed';
    this.host.closed(this);
  }

  private onClose(code: number): void {
    this.host.metrics.clientClosed(code);
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.host.closed(this);
  }
}
