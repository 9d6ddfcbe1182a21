/**
 * The one rule for messages that name earlier seqs (undo, redo, erase),
 * kept by both engines: the embedded Board calls {@link checkTargets}; the
 * Redis engine's SUBMIT script (redis/scripts.ts) keeps the same rule in Lua
 * and answers with the codes {@link targetRefusal} turns into outcomes.
 *
 * - `undo`/`redo`: every target is a stroke or an erase that the same
 *   session (tag) sent, since the board's last clear;
 * - `erase`: every target is a stroke since the last clear, anyone's.
 *
 * All or nothing: the first target that fails decides the refusal. Whether a
 * target is shown or hidden now is not the server's business: repeating an
 * undo changes nothing, and every client works it out from the same order.
 */
import { RefusalCode, targetsOf, type ClientMessage, type TargetingMessage } from '@smegchat/protocol';

export type FrameKind = 'stroke' | 'erase' | 'other';

/** What the engine knows of a seq on the board since its last clear. */
export interface TargetInfo {
  readonly kind: FrameKind;
  /** The sending session's tag. */
  readonly tag: string;
}

export type TargetRefusal = { readonly kind: 'refused'; readonly code: RefusalCode; readonly message: string };

/** A sequenced frame's type, from its first bytes: frames are serialised with `t` first. */
export function frameKind(frame: string): FrameKind {
  if (frame.startsWith('{"t":"stroke"')) return 'stroke';
  if (frame.startsWith('{"t":"erase"')) return 'erase';
  return 'other';
}

export function isTargeting(msg: ClientMessage): msg is TargetingMessage {
  return msg.t === 'undo' || msg.t === 'redo' || msg.t === 'erase';
}

/** Null when every target is acceptable, else the refusal. */
export function checkTargets(msg: TargetingMessage, tag: string, lookup: (seq: number) => TargetInfo | undefined): TargetRefusal | null {
  for (const seq of targetsOf(msg)) {
    const info = lookup(seq);
    if (msg.t === 'erase') {
      if (info?.kind !== 'stroke') return targetRefusal('n', seq);
    } else {
      if (info === undefined || info.kind === 'other') return targetRefusal('n', seq);
      if (info.tag !== tag) return targetRefusal('y', seq);
    }
  }
  return null;
}

/** The refusal for a failed target: `y` not this session's, `n` no such stroke. */
export function targetRefusal(code: 'y' | 'n', seq: number): TargetRefusal {
  return code === 'y'
    ? { kind: 'refused', code: RefusalCode.NotYours, message: `seq ${seq} is someone else's: you can only undo or redo your own` }
    : { kind: 'refused', code: RefusalCode.NoSuchStroke, message: `seq ${seq} is no stroke on this board (since its last clear)` };
}
