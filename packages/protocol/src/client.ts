/**
 * Frames between a browser (or any client) and a worker (docs/PROTOCOL.md).
 */
import { isInt, isObject, isString } from './check.js';
import { CloseCode, ProtocolError } from './close-codes.js';
import type { Limits } from './limits.js';
import { validPresencePeer, type PresencePeer } from './presence.js';
import { DEFAULT_LIMITS } from './limits.js';

/** A point on the board, in board coordinates (independent of any window). */
export type Point = [x: number, y: number];

/** A stroke a client draws. */
export interface StrokeMessage {
  readonly t: 'stroke';
  /** The client's own id for the message, echoed back so it can confirm it. */
  readonly id: string;
  /** `#rrggbb`. */
  readonly color: string;
  readonly width: number;
  readonly points: Point[];
}

/** A chat line. */
export interface ChatMessage {
  readonly t: 'chat';
  readonly id: string;
  readonly name: string;
  readonly text: string;
}

/** Empties the board for everyone. */
export interface ClearMessage {
  readonly t: 'clear';
  readonly id: string;
}

/**
 * Takes back (`undo`) or brings back (`redo`) strokes or erases this
 * session sent (docs/PROTOCOL.md#undo-and-redo): `target` names one seq,
 * `targets` several as one step (the pieces of one drawn line), all or
 * nothing. Exactly one of the two is present.
 */
export interface UndoMessage {
  readonly t: 'undo' | 'redo';
  readonly id: string;
  readonly target?: number;
  readonly targets?: readonly number[];
}

/**
 * Removes strokes, anyone's, for everyone (docs/PROTOCOL.md#erase): one
 * sequenced message that its sender can undo (an `undo` whose target is the
 * erase's seq) and redo.
 */
export interface EraseMessage {
  readonly t: 'erase';
  readonly id: string;
  /** Seqs of strokes since the last clear, at least one. */
  readonly targets: readonly number[];
}

/** Everything a client may send. */
export type ClientMessage = StrokeMessage | ChatMessage | ClearMessage | UndoMessage | EraseMessage;

/** The message types that name earlier seqs, and so are checked against the board before they are sequenced. */
export type TargetingMessage = UndoMessage | EraseMessage;

/** The seqs an undo, redo or erase names, whichever field it used. */
export function targetsOf(msg: TargetingMessage): readonly number[] {
  if (msg.targets !== undefined) return msg.targets;
  return msg.t !== 'erase' && msg.target !== undefined ? [msg.target] : [];
}

/** A client message as every client receives it: with the board's `seq`. */
export type SequencedMessage = ClientMessage & { readonly seq: number };

/** The first frame on every connection. */
export interface WelcomeMessage {
  readonly t: 'welcome';
  readonly board: string;
  /** The board's head when the client joined: the replay that follows ends here. */
  readonly seq: number;
  /** Names this board's history; changes only if the history was lost or recreated. */
  readonly epoch: string;
  /** Secret token of this client's session, for resuming. */
  readonly session: string;
  /** The worker serving this client, 1..N (per host). */
  readonly worker: number;
  /** Which smegchat host serves this client (its `--name`); with Redis, several hosts serve one board. */
  readonly host?: string;
  /** True when the requested resume could not be served: the full board follows. */
  readonly reset?: boolean;
}

/**
 * A message the server refused without closing the connection, for example a
 * stroke on a board that is full (only `clear` is accepted then).
 */
export interface ErrorMessage {
  readonly t: 'error';
  /** The `id` of the refused message, when there was one. */
  readonly id?: string;
  /** Stable machine-readable reason, e.g. `'board-full'`. */
  readonly code: string;
  /** One line for a person. */
  readonly message: string;
}

/**
 * Why the server refused a message it could have sequenced (the `code` of an
 * {@link ErrorMessage}). `storage` and `unavailable` mean "not known to be
 * applied: send it again later, on the same session" (the dedupe makes a
 * resend safe); `board-full` and `disk-full` are final until something changes
 * (a clear, an operator).
 */
export const RefusalCode = {
  /** The board reached its message or byte bound since its last clear: only `clear` is accepted. */
  BoardFull: 'board-full',
  /** The history could not be written (a full disk, an I/O error). */
  Storage: 'storage',
  /** Where boards live cannot be reached right now. */
  Unavailable: 'unavailable',
  /** The history's disk budget is used up. */
  DiskFull: 'disk-full',
  /** An undo or redo named a stroke or erase another session sent. */
  NotYours: 'not-yours',
  /** An undo, redo or erase named a seq that is no stroke (or erase) on the board since its last clear. */
  NoSuchStroke: 'no-such-stroke',
} as const;
export type RefusalCode = (typeof RefusalCode)[keyof typeof RefusalCode];

/** Another client's presence, as a client is sent it (docs/PROTOCOL.md#presence). */
export type PresenceFrame = PresencePeer & { readonly t: 'presence' };

/** Everything a server sends. */
export type ServerMessage = WelcomeMessage | SequencedMessage | ErrorMessage | PresenceFrame;

/** The outcome of validating what a client sent. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: ProtocolError };

const COLOR = /^#[0-9a-fA-F]{6}$/;

function invalid(reason: string, message: string): { ok: false; error: ProtocolError } {
  return { ok: false, error: new ProtocolError(CloseCode.InvalidPayload, reason, message) };
}

function validPoints(v: unknown, limits: Limits): v is Point[] {
  if (!Array.isArray(v) || v.length < 1 || v.length > limits.maxPoints) return false;
  const max = limits.maxCoordinate;
  for (const p of v) {
    if (!Array.isArray(p) || p.length !== 2) return false;
    const x = p[0];
    const y = p[1];
    if (typeof x !== 'number' || typeof y !== 'number') return false;
    // NaN and the infinities fail these comparisons too.
    if (!(x >= -max && x <= max && y >= -max && y <= max)) return false;
  }
  return true;
}

function validTargets(v: unknown, limits: Limits): v is number[] {
  return Array.isArray(v) && v.length >= 1 && v.length <= limits.maxTargets && v.every((s) => isInt(s, 1, Number.MAX_SAFE_INTEGER));
}

function badTargets(limits: Limits): { ok: false; error: ProtocolError } {
  return invalid('bad-target', `targets must be 1 to ${limits.maxTargets} seqs (whole numbers from 1)`);
}

/**
 * Validates one text frame from a client. On success the value holds only the
 * fields of the contract, so whatever else a client put in is never relayed.
 * The frame size is checked by the WebSocket layer before this is called.
 */
export function parseClientMessage(text: string, limits: Limits): Parsed<ClientMessage> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return invalid('not-json', 'frame is not JSON');
  }
  return validateClientMessage(raw, limits);
}

/** Validates an already-parsed client message (as {@link parseClientMessage} does after JSON.parse). */
export function validateClientMessage(raw: unknown, limits: Limits): Parsed<ClientMessage> {
  if (!isObject(raw)) return invalid('not-object', 'frame is not a JSON object');
  const id = raw['id'];
  if (!isString(id, 1, limits.maxIdLength)) {
    return invalid('bad-id', `id must be a string of 1 to ${limits.maxIdLength} characters`);
  }
  switch (raw['t']) {
    case 'stroke': {
      const { color, width, points } = raw;
      if (typeof color !== 'string' || !COLOR.test(color)) {
        return invalid('bad-color', 'color must be #rrggbb');
      }
      if (typeof width !== 'number' || !(width > 0 && width <= limits.maxWidth)) {
        return invalid('bad-width', `width must be a number above 0 and at most ${limits.maxWidth}`);
      }
      if (!validPoints(points, limits)) {
        return invalid('bad-points', `points must be 1 to ${limits.maxPoints} [x, y] pairs of numbers within ±${limits.maxCoordinate}`);
      }
      return { ok: true, value: { t: 'stroke', id, color, width, points } };
    }
    case 'chat': {
      const { name, text: body } = raw;
      if (!isString(name, 1, limits.maxNameLength)) {
        return invalid('bad-name', `name must be 1 to ${limits.maxNameLength} characters`);
      }
      if (!isString(body, 1, limits.maxTextLength)) {
        return invalid('bad-text', `text must be 1 to ${limits.maxTextLength} characters`);
      }
      return { ok: true, value: { t: 'chat', id, name, text: body } };
    }
    case 'clear':
      return { ok: true, value: { t: 'clear', id } };
    case 'undo':
    case 'redo': {
      const { target, targets } = raw;
      if (target !== undefined && targets === undefined) {
        if (!isInt(target, 1, Number.MAX_SAFE_INTEGER)) return invalid('bad-target', 'target must be a seq (a whole number from 1)');
        return { ok: true, value: { t: raw['t'], id, target } };
      }
      if (target !== undefined) return invalid('bad-target', 'give target or targets, not both');
      if (!validTargets(targets, limits)) return badTargets(limits);
      return { ok: true, value: { t: raw['t'], id, targets } };
    }
    case 'erase': {
      const { targets } = raw;
      if (!validTargets(targets, limits)) return badTargets(limits);
      return { ok: true, value: { t: 'erase', id, targets } };
    }
    default:
      return invalid('bad-type', 't must be "stroke", "chat", "clear", "undo", "redo" or "erase"');
  }
}

/**
 * The frame every client receives for a sequenced message: serialised once,
 * by the sequencer, and sent as it is to every recipient.
 */
export function sequencedFrame(msg: ClientMessage, seq: number): string {
  return JSON.stringify({ ...msg, seq });
}

const SEQUENCED_TYPES: ReadonlySet<string> = new Set(['stroke', 'chat', 'clear', 'undo', 'redo', 'erase']);

/** Parses what a server sent; for clients and tests. Returns null if it is not a server message. */
export function parseServerMessage(text: string): ServerMessage | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(raw) || typeof raw['t'] !== 'string') return null;
  if (raw['t'] === 'welcome') {
    const ok =
      typeof raw['board'] === 'string' &&
      isInt(raw['seq'], 0, Number.MAX_SAFE_INTEGER) &&
      typeof raw['epoch'] === 'string' &&
      typeof raw['session'] === 'string' &&
      isInt(raw['worker'], 1, Number.MAX_SAFE_INTEGER);
    return ok ? (raw as unknown as WelcomeMessage) : null;
  }
  if (raw['t'] === 'presence') {
    const peer = validPresencePeer(raw, DEFAULT_LIMITS);
    return peer === null ? null : { t: 'presence', ...peer };
  }
  if (raw['t'] === 'error') return typeof raw['code'] === 'string' ? (raw as unknown as ErrorMessage) : null;
  if (typeof raw['t'] === 'string' && SEQUENCED_TYPES.has(raw['t'])) {
    return isInt(raw['seq'], 1, Number.MAX_SAFE_INTEGER) ? (raw as unknown as SequencedMessage) : null;
  }
  return null;
}
