/**
 * The others on the board (docs/PROTOCOL.md#presence): a chip per peer in
 * the toolbar, and a labelled pointer per peer over the board, placed
 * through the page's own view (board coordinates, so every zoom agrees) and
 * eased between updates by a CSS transition. A peer is drawn in the colour
 * its name has in the chat.
 */
import type { PresenceFrame } from '@smegchat/protocol';
import { hue } from './chat-panel.js';
import { toScreen, type View } from './view-transform.js';

interface Peer {
  name: string;
  x: number | null;
  y: number | null;
  readonly cursor: HTMLElement;
  readonly label: HTMLElement;
  readonly chip: HTMLElement;
}

/** What the debug hook shows of a peer. */
export interface PeerState {
  readonly who: string;
  readonly name: string;
  readonly x: number | null;
  readonly y: number | null;
}

export class PeersView {
  private readonly peers = new Map<string, Peer>();

  constructor(
    /** Where pointers are drawn: over the board, under the controls. */
    private readonly layer: HTMLElement,
    /** Where the chips go. */
    private readonly list: HTMLElement,
    private readonly view: () => View,
  ) {}

  apply(p: PresenceFrame): void {
    if (p.gone === true) return this.remove(p.who);
    let peer = this.peers.get(p.who);
    if (peer === undefined) peer = this.add(p.who);
    if (p.name !== undefined && p.name !== peer.name) {
      peer.name = p.name;
      peer.label.textContent = p.name;
      peer.chip.textContent = initials(p.name);
      peer.chip.title = p.name;
      for (const el of [peer.cursor, peer.chip]) el.style.setProperty('--hue', String(hue(p.name)));
    }
    if (p.x !== undefined) peer.x = p.x;
    if (p.y !== undefined) peer.y = p.y;
    this.place(peer, this.view());
    this.showCount();
  }

  /** The view changed: every pointer moves with the board, at once. */
  viewChanged(v: View): void {
    for (const peer of this.peers.values()) {
      peer.cursor.classList.add('jump');
      this.place(peer, v);
    }
    requestAnimationFrame(() => {
      for (const peer of this.peers.values()) peer.cursor.classList.remove('jump');
    });
  }

  /** Forgets everyone (the link dropped: a new connection is told everyone again). */
  clear(): void {
    for (const who of [...this.peers.keys()]) this.remove(who);
  }

  state(): PeerState[] {
    return [...this.peers].map(([who, p]) => ({ who, name: p.name, x: p.x, y: p.y }));
  }

  private add(who: string): Peer {
    const cursor = document.createElement('div');
    cursor.className = 'peer-cursor';
    cursor.hidden = true;
    cursor.innerHTML = '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true"><path d="M1 1l5 14 2-6 6-2z"/></svg>';
    const label = document.createElement('span');
    label.className = 'peer-name';
    cursor.append(label);
    const chip = document.createElement('span');
    chip.className = 'peer-chip';
    this.layer.append(cursor);
    this.list.append(chip);
    const peer: Peer = { name: '', x: null, y: null, cursor, label, chip };
    this.peers.set(who, peer);
    return peer;
  }

  private remove(who: string): void {
    const peer = this.peers.get(who);
    if (peer === undefined) return;
    peer.cursor.remove();
    peer.chip.remove();
    this.peers.delete(who);
    this.showCount();
  }

  private place(peer: Peer, v: View): void {
    if (peer.x === null || peer.y === null) return;
    const [sx, sy] = toScreen(v, peer.x, peer.y);
    peer.cursor.style.transform = `translate(${sx.toFixed(1)}px, ${sy.toFixed(1)}px)`;
    peer.cursor.hidden = false;
  }

  private showCount(): void {
    this.list.hidden = this.peers.size === 0;
    this.list.title = `${this.peers.size} other${this.peers.size === 1 ? '' : 's'} here`;
  }
}

function initials(name: string): string {
  const parts = name
    .trim()
    .split(/[\s_.-]+/)
    .filter(Boolean);
  const s = parts.length >= 2 ? parts[0]![0]! + parts[1]![0]! : name.slice(0, 2);
  return s.toUpperCase();
}
