/**
 * Presence between hosts (docs/ARCHITECTURE.md#presence): Redis pub/sub,
 * one channel per board, `smegchat:presence:{BOARD}`. Nothing is stored:
 * a message is `{"h":HOST,"p":[peers]}` (this host's peers changed), or
 * `{"h":HOST,"ask":true}` (a host started following the board: everyone
 * says their peers again, for its newcomers' snapshot). Every host says its
 * peers again every `heartbeatMs`; a peer of another host not heard of for
 * `expireMs` is gone (its host died, or lost Redis). A Redis that is away
 * costs presence only: nothing sequenced waits on it.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '@smegchat/common';
import { BOARD_NAME, DEFAULT_LIMITS, PRESENCE, validPresencePeer, type PresencePeer } from '@smegchat/protocol';
import type { PresenceHub, PresenceRelay } from '../../presence/presence-hub.js';

const PREFIX = 'smegchat:presence:';

export function presenceChannel(board: string): string {
  return `${PREFIX}{${board}}`;
}

/** A relayed message, validated; null if it is not one (another program's, or malformed). */
export function readRelayed(channel: string, text: string): { board: string; host: string; peers: PresencePeer[] | 'ask' } | null {
  const m = /^smegchat:presence:\{(.+)\}$/.exec(channel);
  if (m === null || !BOARD_NAME.test(m[1]!)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const { h, p, ask } = raw as Record<string, unknown>;
  if (typeof h !== 'string' || h.length === 0 || h.length > 200) return null;
  if (ask === true) return { board: m[1]!, host: h, peers: 'ask' };
  if (!Array.isArray(p)) return null;
  const peers: PresencePeer[] = [];
  for (const v of p) {
    const peer = validPresencePeer(v, DEFAULT_LIMITS);
    if (peer === null) return null;
    peers.push(peer);
  }
  return { board: m[1]!, host: h, peers };
}

export class RedisPresenceRelay implements PresenceRelay {
  private readonly sub: Redis;
  private readonly timer: NodeJS.Timeout;

  constructor(
    options: RedisOptions,
    /** The engine's command connection, for PUBLISH. */
    private readonly pub: () => Redis,
    private readonly hostId: string,
    private readonly hub: PresenceHub,
    private readonly log: Logger,
  ) {
    this.sub = new Redis({ ...options, autoResubscribe: true, connectionName: `smegchat:${hostId}:presence` });
    this.sub.on('error', (err: Error) => this.log.debug({ err: err.message }, 'presence relay: Redis connection error'));
    this.sub.on('message', (channel: string, text: string) => this.received(channel, text));
    this.sub.connect().catch(() => undefined);
    hub.relay = this;
    this.timer = setInterval(() => this.heartbeat(), PRESENCE.heartbeatMs);
    this.timer.unref();
  }

  publish(board: string, peers: readonly PresencePeer[]): void {
    this.send(board, { h: this.hostId, p: peers });
  }

  /** A board got its first subscriber here: hear of it, and ask the others who is there. */
  follow(board: string): void {
    this.sub.subscribe(presenceChannel(board)).then(
      () => this.send(board, { h: this.hostId, ask: true }),
      () => undefined, // Redis away: the heartbeat tells once it is back (autoResubscribe)
    );
  }

  unfollow(board: string): void {
    this.sub.unsubscribe(presenceChannel(board)).catch(() => undefined);
  }

  close(): void {
    clearInterval(this.timer);
    this.hub.relay = null;
    this.sub.disconnect();
  }

  private heartbeat(): void {
    for (const [board, peers] of this.hub.local()) this.publish(board, peers);
    this.hub.expire();
  }

  private received(channel: string, text: string): void {
    const m = readRelayed(channel, text);
    if (m === null || m.host === this.hostId) return;
    if (m.peers === 'ask') {
      for (const [board, peers] of this.hub.local()) if (board === m.board) this.publish(board, peers);
      return;
    }
    this.hub.fromHost(m.host, m.board, m.peers);
  }

  private send(board: string, msg: object): void {
    const pub = this.pub();
    if (pub.status !== 'ready') return; // presence is never queued: the heartbeat says it again
    pub.publish(presenceChannel(board), JSON.stringify(msg)).catch(() => undefined);
  }
}
