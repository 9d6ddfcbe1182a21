/**
 * Presence across the workers of this host, and (through a relay) across
 * hosts: who is on each board, the latest per peer, and where it came from.
 * Not sequenced, not stored, and kept apart from the sequencer's frames: it
 * only rides the same per-worker outbox, so it costs one IPC message per
 * worker per flush like everything else and never holds a delivery back.
 *
 * A worker sends its own clients' changes, already thinned to the latest
 * per peer per tick; the hub keeps them and passes them to the board's
 * other workers (each fans out to its clients, within each client's
 * budget), and to the relay. A worker that newly subscribes to a board is
 * sent everyone known on it. A worker that leaves a board or dies takes its
 * peers with it: they are announced gone.
 */
import { mergePeer, PRESENCE, type PresencePeer, type SupervisorMessage } from '@smegchat/protocol';
import type { Outbox } from '../sequencer/outbox.js';

/** Where presence of this host goes to and comes from other hosts (the Redis engine's pub/sub). */
export interface PresenceRelay {
  /** This host's peers on a board changed. */
  publish(board: string, peers: readonly PresencePeer[]): void;
}

/** What the hub needs of the sequencer: the board's subscribed workers, and their outboxes. */
export interface PresenceFanout {
  workersOn(board: string): Iterable<Outbox>;
  queue(outbox: Outbox, msg: SupervisorMessage): void;
}

/** A peer and where it is served: a worker of this host, or another host (by its id). */
interface Known {
  peer: PresencePeer;
  readonly from: Outbox | string;
  /** For peers of other hosts: when last heard of (they expire without a heartbeat). */
  heard: number;
}

export class PresenceHub {
  private readonly boards = new Map<string, Map<string, Known>>();
  relay: PresenceRelay | null = null;

  constructor(private readonly fanout: PresenceFanout) {}

  /** Changes of a worker's own clients. */
  fromWorker(from: Outbox, board: string, peers: readonly PresencePeer[]): void {
    // Late, after its leave: those peers were announced gone already.
    if (![...this.fanout.workersOn(board)].includes(from)) return;
    const changed = this.apply(from, board, peers);
    if (changed.length === 0) return;
    this.send(board, changed, from);
    this.relay?.publish(board, changed);
  }

  /** Changes of another host's clients (from the relay). */
  fromHost(host: string, board: string, peers: readonly PresencePeer[], now = Date.now()): void {
    if ([...this.fanout.workersOn(board)].length === 0) return; // no worker here is on it
    const changed = this.apply(host, board, peers, now);
    if (changed.length > 0) this.send(board, changed, null);
  }

  /** Everyone this host serves on each board, for the relay's heartbeat. */
  *local(): Generator<[board: string, peers: PresencePeer[]]> {
    for (const [board, peers] of this.boards) {
      const mine = [...peers.values()].filter((k) => typeof k.from !== 'string').map((k) => k.peer);
      if (mine.length > 0) yield [board, mine];
    }
  }

  /** A worker subscribed to a board: it is told of everyone else known there. */
  subscribed(to: Outbox, board: string): void {
    const peers = [...(this.boards.get(board)?.values() ?? [])].filter((k) => k.from !== to).map((k) => k.peer);
    if (peers.length > 0) this.fanout.queue(to, { t: 'presence', board, peers });
  }

  /** A worker left a board (or, with no board, died): its peers there are gone. */
  dropFrom(from: Outbox, board?: string): void {
    for (const name of board === undefined ? [...this.boards.keys()] : [board]) {
      const peers = this.boards.get(name);
      if (peers === undefined) continue;
      const gone: PresencePeer[] = [];
      for (const [who, k] of peers) if (k.from === from) gone.push({ who, gone: true });
      if (gone.length === 0) continue;
      this.apply(from, name, gone);
      this.send(name, gone, from);
      this.relay?.publish(name, gone);
    }
  }

  /** Peers of other hosts not heard of in time (their host died, or lost Redis) are gone. */
  expire(now = Date.now()): void {
    for (const [board, peers] of this.boards) {
      const gone: PresencePeer[] = [];
      for (const [who, k] of peers) if (typeof k.from === 'string' && now - k.heard > PRESENCE.expireMs) gone.push({ who, gone: true });
      for (const g of gone) peers.delete(g.who);
      if (peers.size === 0) this.boards.delete(board);
      if (gone.length > 0) this.send(board, gone, null);
    }
  }

  /** Records updates; returns those that change what is known (a gone for an unknown peer does not). */
  private apply(from: Outbox | string, board: string, updates: readonly PresencePeer[], now = Date.now()): PresencePeer[] {
    let peers = this.boards.get(board);
    const changed: PresencePeer[] = [];
    for (const u of updates) {
      const known = peers?.get(u.who);
      if (known !== undefined && known.from !== from) continue; // a who belongs to one connection
      if (u.gone === true) {
        if (known === undefined) continue;
        peers!.delete(u.who);
        changed.push(u);
        continue;
      }
      if (peers === undefined) this.boards.set(board, (peers = new Map()));
      if (known === undefined && peers.size >= PRESENCE.maxPeersPerBoard) continue;
      const peer = mergePeer(known?.peer, u);
      if (known === undefined) peers.set(u.who, { peer, from, heard: now });
      else {
        known.heard = now;
        if (samePeer(known.peer, peer)) continue; // a heartbeat: nothing new to tell
        known.peer = peer;
      }
      changed.push(peer);
    }
    if (peers !== undefined && peers.size === 0) this.boards.delete(board);
    return changed;
  }

  private send(board: string, peers: PresencePeer[], except: Outbox | null): void {
    for (const outbox of this.fanout.workersOn(board)) {
      if (outbox !== except) this.fanout.queue(outbox, { t: 'presence', board, peers });
    }
  }
}

function samePeer(a: PresencePeer, b: PresencePeer): boolean {
  return a.name === b.name && a.x === b.x && a.y === b.y && a.gone === b.gone;
}
