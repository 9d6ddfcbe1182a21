/**
 * Which confirmed strokes are shown, from the board's undo, redo and erase
 * messages in seq order (docs/PROTOCOL.md#undo-and-redo): every client
 * works it out from the same order, so all agree. Pure, no DOM.
 *
 * A stroke is hidden while its owner's last word on it was `undo`, or while
 * an erase naming it is in force; an erase is in force unless its sender's
 * last word on it was `undo`.
 */
import { targetsOf, type SequencedMessage } from '@smegchat/protocol';

/** A stroke whose shown/hidden state may have changed, and what it is now. */
export type VisibilityChange = readonly [seq: number, hidden: boolean];

export class StrokeVisibility {
  /** Strokes and erases whose last undo/redo was an undo. */
  private readonly undone = new Set<number>();
  /** Each erase's targets. */
  private readonly erases = new Map<number, readonly number[]>();
  /** Per stroke, the erases in force that name it. */
  private readonly erasedBy = new Map<number, Set<number>>();

  /** Forgets everything (a reset before the full board is replayed). */
  reset(): void {
    this.undone.clear();
    this.erases.clear();
    this.erasedBy.clear();
  }

  /** Applies one sequenced message; returns the strokes it may have shown or hidden. */
  apply(m: SequencedMessage): VisibilityChange[] {
    switch (m.t) {
      case 'clear':
        this.reset();
        return [];
      case 'erase':
        this.erases.set(m.seq, m.targets);
        return this.enforce(m.seq, true);
      case 'undo':
      case 'redo': {
        const undo = m.t === 'undo';
        const touched: VisibilityChange[] = [];
        for (const seq of targetsOf(m)) {
          if (this.undone.has(seq) === undo) continue;
          if (undo) this.undone.add(seq);
          else this.undone.delete(seq);
          if (this.erases.has(seq)) touched.push(...this.enforce(seq, !undo));
          else touched.push([seq, this.hidden(seq)]);
        }
        return touched;
      }
      default:
        return [];
    }
  }

  hidden(stroke: number): boolean {
    return this.undone.has(stroke) || (this.erasedBy.get(stroke)?.size ?? 0) > 0;
  }

  /** Puts an erase in force (or out of it). */
  private enforce(erase: number, on: boolean): VisibilityChange[] {
    const out: VisibilityChange[] = [];
    for (const seq of this.erases.get(erase) ?? []) {
      let by = this.erasedBy.get(seq);
      if (on) {
        if (by === undefined) this.erasedBy.set(seq, (by = new Set()));
        by.add(erase);
      } else if (by !== undefined) {
        by.delete(erase);
        if (by.size === 0) this.erasedBy.delete(seq);
      }
      out.push([seq, this.hidden(seq)]);
    }
    return out;
  }
}
