/**
 * The Redis engine's pure decisions: how an error from Redis is answered, how
 * the submit script's answer reads, and what a reader's batch of a board
 * means. No I/O, so each has a unit test (test/unit/redis-engine.test.ts).
 */
import { RefusalCode } from '@smegchat/protocol';
import type { SubmitOutcome } from '../engine.js';
import { targetRefusal } from '../targets.js';

/** What an error from a Redis command means for the engine. */
export type ErrorKind =
  /** Redis answered: it is full (maxmemory): the write was refused, nothing applied. */
  | 'oom'
  /** Redis answered with another refusal (a script error, READONLY replica, ...): nothing applied. */
  | 'refused'
  /** The login was refused: wrong password, unknown user, missing permission. */
  | 'auth'
  /** No answer (the connection broke, the command timed out): it may or may not have been applied. */
  | 'unknown';

/** Classifies an error thrown by ioredis for a command. */
export function classifyError(err: unknown): ErrorKind {
  const e = err as { name?: string; message?: string };
  const message = e?.message ?? '';
  if (e?.name === 'ReplyError') {
    if (message.startsWith('OOM')) return 'oom';
    if (/^(WRONGPASS|NOAUTH|NOPERM)/.test(message) || message.includes('invalid password')) return 'auth';
    return 'refused';
  }
  return 'unknown';
}

/** Errors at the start that are the configuration's fault (exit 78), as opposed to Redis being away. */
export function isConfigFault(err: unknown): boolean {
  if (classifyError(err) === 'auth') return true;
  const code = (err as { code?: string })?.code ?? '';
  // TLS: the server's certificate does not check out against the CAs given.
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(code);
}

/**
 * Reads the submit script's outcomes string ("s41,d,f,n12,y7"): one outcome per
 * message. A replayed operation whose outcomes Redis no longer holds was
 * applied (its messages are stored and will be published): each is
 * answered `duplicate`, which tells its sender nothing new.
 */
export function readOutcomes(encoded: string | null, count: number): SubmitOutcome[] {
  if (encoded === null || encoded === '') return Array.from({ length: count }, () => ({ kind: 'duplicate' }) as const);
  const parts = encoded.split(',');
  const out: SubmitOutcome[] = [];
  for (let i = 0; i < count; i++) {
    const p = parts[i] ?? 'd';
    if (p.startsWith('s')) out.push({ kind: 'sequenced', seq: Number(p.slice(1)) });
    else if (p === 'f') out.push(boardFull());
    else if (p.startsWith('n') || p.startsWith('y')) out.push(targetRefusal(p[0] as 'n' | 'y', Number(p.slice(1))));
    else out.push({ kind: 'duplicate' });
  }
  return out;
}

function boardFull(): SubmitOutcome {
  return {
    kind: 'refused',
    code: RefusalCode.BoardFull,
    message: 'board is full (its message or byte bound since the last clear): clear it to draw again',
  };
}

/**
 * What to do with a batch the reader got for a board whose cursor is
 * `cursor` (the last seq published). `first` is the batch's first seq.
 * - `publish`: it follows on;
 * - `gap`: entries are missing between (trimmed by a clear before this host
 *   read them, or lost): the board's subscribers must resume;
 * - `stale`: the read was made from another cursor (the board was
 *   unsubscribed and subscribed again meanwhile): drop it, the next read is right.
 */
export function batchFits(cursor: number, readFrom: number, first: number): 'publish' | 'gap' | 'stale' {
  if (readFrom !== cursor) return 'stale';
  if (first === cursor + 1) return 'publish';
  return first <= cursor ? 'stale' : 'gap';
}

/**
 * The frames a join's replay lacks when the reader has already published
 * past the join's head: those with seq in (head, published], from the ring
 * of recently published frames (in seq order, dense). Null when the ring
 * does not reach back far enough (the engine reads them from Redis instead).
 */
export function framesBetween(ring: readonly { seq: number; frame: string }[], head: number, published: number): string[] | null {
  if (published <= head) return [];
  if (ring.length === 0) return null;
  const start = head + 1 - ring[0]!.seq;
  if (start < 0) return null;
  const end = published - ring[0]!.seq; // inclusive
  if (end >= ring.length) return null;
  const frames: string[] = [];
  for (let i = start; i <= end; i++) frames.push(ring[i]!.frame);
  return frames;
}

/** The watchdog's judgement of one probe: Redis went back when its write clock or generation is not what this host saw. */
export function wentBack(seenClock: number, seenGen: string | null, clock: number, gen: string | null): boolean {
  if (seenGen !== null && gen !== seenGen) return true;
  return clock < seenClock;
}
