/**
 * Presence in one worker (docs/PROTOCOL.md#presence): the latest of every
 * peer on each board here (this worker's clients, and everyone else's as
 * the supervisor passes them on), thinned to the latest per peer and sent
 * once a tick:
 *
 * - up, to the supervisor: one message per board with this worker's
 *   clients' changes;
 * - down, to each client: at most `perTick` frames a tick, the latest per
 *   peer winning while it waits, so a client is sent a bounded number of
 *   frames a second however many peers move; a peer's frame is serialised
 *   once a tick for all.
 *
 * Nothing here touches sequenced frames: presence is written by its own
 * timer, after whatever the turn delivered.
 */
import { mergePeer, PRESENCE, presenceFrame, type PresencePeer } from '@smegchat/protocol';
import type { ClientConnection } from './client-connection.js';

/** What the fan-out needs of its worker. */
export interface PresenceHost {
  /** The live clients on a board here. */
  clientsOn(board: string): Iterable<ClientConnection>;
  /** Sends this worker's clients' changes on a board to the supervisor. */
  up(board: string, peers: PresencePeer[]): void;
}

export class PresenceFanout {
  private readonly peers = new Map<string, Map<string, PresencePeer>>();
  private readonly dirtyUp = new Map<string, Map<string, PresencePeer>>();
  /** Changes since the last tick, by board, for this worker's clients: a peer that moved ten times is told once. */
  private readonly dirtyDown = new Map<string, Map<string, PresencePeer>>();
  /** Per client, what it has still to be sent: who → latest. */
  private readonly waiting = new Map<ClientConnection, Map<string, PresencePeer>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly host: PresenceHost) {}

  /** A client here said where it is. */
  fromClient(client: ClientConnection, update: PresencePeer): void {
    const peer = this.record(client.board, update);
    if (peer === null) return;
    mark(this.dirtyUp, client.board, peer);
    mark(this.dirtyDown, client.board, peer);
    this.arm();
  }

  /** Peers served elsewhere, from the supervisor. */
  fromSupervisor(board: string, peers: readonly PresencePeer[]): void {
    for (const u of peers) {
      const peer = this.record(board, u);
      if (peer !== null) mark(this.dirtyDown, board, peer);
    }
    this.arm();
  }

  /** A client is live after its replay: it is told of everyone on the board but itself, at once. */
  joined(client: ClientConnection): void {
    for (const peer of this.peers.get(client.board)?.values() ?? []) {
      if (peer.who !== client.who) client.sendPresence(presenceFrame(peer));
    }
  }

  /** A client here left: if it had said anything, it is gone for everyone. */
  left(client: ClientConnection): void {
    this.waiting.delete(client);
    if (this.peers.get(client.board)?.has(client.who)) this.fromClient(client, { who: client.who, gone: true });
  }

  /** Stops the tick (the worker is stopping). */
  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Keeps the latest of a peer; null when nothing is to be told (a gone for an unknown peer, a full board). */
  private record(board: string, u: PresencePeer): PresencePeer | null {
    let peers = this.peers.get(board);
    const old = peers?.get(u.who);
    if (u.gone === true) {
      if (old === undefined) return null;
      peers!.delete(u.who);
      if (peers!.size === 0) this.peers.delete(board);
      return u;
    }
    if (peers === undefined) this.peers.set(board, (peers = new Map()));
    if (old === undefined && peers.size >= PRESENCE.maxPeersPerBoard) return null;
    const peer = mergePeer(old, u);
    peers.set(u.who, peer);
    return peer;
  }

  /** Queues a board's changes for each of its clients here (not a client's own). */
  private toClients(board: string, changed: readonly PresencePeer[]): void {
    for (const c of this.host.clientsOn(board)) {
      let w = this.waiting.get(c);
      for (const peer of changed) {
        if (c.who === peer.who) continue;
        if (w === undefined) this.waiting.set(c, (w = new Map()));
        // Latest wins, and goes to the back of the queue: a peer that keeps moving does not crowd out the rest.
        w.delete(peer.who);
        w.set(peer.who, peer);
      }
    }
  }

  private arm(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.tick(), PRESENCE.tickMs);
    this.timer.unref();
  }

  private tick(): void {
    for (const [board, peers] of this.dirtyUp) this.host.up(board, [...peers.values()]);
    this.dirtyUp.clear();
    for (const [board, peers] of this.dirtyDown) this.toClients(board, [...peers.values()]);
    this.dirtyDown.clear();
    const frames = new Map<PresencePeer, string>();
    for (const [client, w] of this.waiting) {
      let n = 0;
      for (const [who, peer] of w) {
        if (n++ >= PRESENCE.perTick) break;
        w.delete(who);
        let frame = frames.get(peer);
        if (frame === undefined) frames.set(peer, (frame = presenceFrame(peer)));
        client.sendPresence(frame);
      }
      if (w.size === 0) this.waiting.delete(client);
    }
    if (this.waiting.size === 0) this.close();
  }
}

function mark(dirty: Map<string, Map<string, PresencePeer>>, board: string, peer: PresencePeer): void {
  let peers = dirty.get(board);
  if (peers === undefined) dirty.set(board, (peers = new Map()));
  peers.set(peer.who, peer);
}
