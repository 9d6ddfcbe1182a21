/**
 * This user's undo and redo steps, rebuilt from the board's sequenced
 * messages (so a reloaded page that keeps its session gets them back from
 * the replay). A step is a whole drawn line (its pieces' ids share the part
 * before the first '.') or one erase. Ctrl+Z takes the last step done,
 * Ctrl+Shift+Z the last one undone; a new step forgets what was undone.
 * Pure, no DOM.
 */
import { targetsOf, type SequencedMessage } from '@smegchat/protocol';

interface Step {
  readonly targets: number[];
}

/** The part of a stroke's id that names its line. */
export function lineKey(id: string): string {
  const dot = id.indexOf('.');
  return dot === -1 ? id : id.slice(0, dot);
}

export class UndoStack {
  private done: Step[] = [];
  private undone: Step[] = [];
  private byKey = new Map<string, Step>();
  private bySeq = new Map<number, Step>();

  constructor(
    /** Whether an id is one this session sent. */
    private readonly mine: (id: string) => boolean,
  ) {}

  get canUndo(): boolean {
    return this.done.length > 0;
  }

  get canRedo(): boolean {
    return this.undone.length > 0;
  }

  /**
   * A sequenced message, in order. `movedAlready`: this page sent it and
   * moved the step when it did (takeUndo/takeRedo), so its echo moves nothing.
   */
  confirmed(m: SequencedMessage, movedAlready: boolean): void {
    if (m.t === 'clear') return this.reset();
    if (!this.mine(m.id)) return;
    switch (m.t) {
      case 'stroke': {
        const key = lineKey(m.id);
        const step = this.byKey.get(key);
        if (step !== undefined) step.targets.push(m.seq);
        else this.add(key, m.seq);
        this.bySeq.set(m.seq, this.byKey.get(key)!);
        return;
      }
      case 'erase':
        this.add(m.id, m.seq);
        this.bySeq.set(m.seq, this.byKey.get(m.id)!);
        return;
      case 'undo':
      case 'redo': {
        if (movedAlready) return;
        const step = this.bySeq.get(targetsOf(m)[0] ?? 0);
        if (step === undefined) return;
        const [from, to] = m.t === 'undo' ? [this.done, this.undone] : [this.undone, this.done];
        const i = from.indexOf(step);
        if (i >= 0) from.splice(i, 1);
        if (!to.includes(step)) to.push(step);
        return;
      }
      default:
        return;
    }
  }

  /** The seqs of the last step done, now counted as undone; null if there is none. */
  takeUndo(): readonly number[] | null {
    const step = this.done.pop();
    if (step === undefined) return null;
    this.undone.push(step);
    return step.targets.slice();
  }

  /** The seqs of the last step undone, now counted as done again; null if there is none. */
  takeRedo(): readonly number[] | null {
    const step = this.undone.pop();
    if (step === undefined) return null;
    this.done.push(step);
    return step.targets.slice();
  }

  reset(): void {
    this.done = [];
    this.undone = [];
    this.byKey = new Map();
    this.bySeq = new Map();
  }

  private add(key: string, seq: number): void {
    const step: Step = { targets: [seq] };
    this.byKey.set(key, step);
    this.done.push(step);
    this.undone = [];
  }
}
