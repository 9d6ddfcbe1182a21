/**
 * Presence (docs/PROTOCOL.md#presence): who is on a board and where their
 * pointer is. Not sequenced, not stored: a client says its name and pointer
 * as often as it likes, within its own budget; the server keeps the latest
 * per peer and forwards that, thinned, to the board's other clients on
 * every worker and host. The same peer shape travels worker → supervisor,
 * supervisor → worker, and between hosts.
 */
import { isObject, isString, type Json } from './check.js';
import { CloseCode, ProtocolError } from './close-codes.js';
import type { Limits } from './limits.js';

/** What a client sends: any of the three fields. */
export interface PresenceMessage {
  readonly t: 'presence';
  readonly name?: string;
  readonly x?: number;
  readonly y?: number;
}

/** One peer's latest presence, or that it left: what others are sent (as a `presence` frame with `who`). */
export interface PresencePeer {
  /** A public id for one connection: random, never derived from its session. */
  readonly who: string;
  readonly name?: string;
  readonly x?: number;
  readonly y?: number;
  readonly gone?: true;
}

/** A `who`: random letters and digits. */
export const WHO = /^[0-9a-z]{8,32}$/;

/**
 * The server's presence budgets. A client may send `inRate` a second
 * (`inBurst` at once) before presence is dropped, never closing it; each
 * client is sent at most `perTick` frames each `tickMs` (latest per peer
 * wins), so at most 1000 / tickMs × perTick a second in all.
 */
export const PRESENCE = Object.freeze({
  inRate: 120,
  inBurst: 240,
  tickMs: 50,
  perTick: 6,
  /** Peers a worker or host keeps per board; past it new ones are not forwarded. */
  maxPeersPerBoard: 1000,
  /** Between hosts: every host says its peers again this often, and a peer not heard of for `expireMs` is gone. */
  heartbeatMs: 3000,
  expireMs: 10_000,
});

/** Whether a text frame is presence (its own budget, checked before it is parsed): `t` comes first. */
export function looksLikePresence(text: string): boolean {
  return /^\s*\{\s*"t"\s*:\s*"presence"/.test(text);
}

function invalid(message: string): { ok: false; error: ProtocolError } {
  return { ok: false, error: new ProtocolError(CloseCode.InvalidPayload, 'bad-presence', message) };
}

/** Validates a client's presence frame; bad fields are bad input (1007) like any other. */
export function parsePresenceMessage(
  text: string,
  limits: Limits,
): { ok: true; value: PresenceMessage } | { ok: false; error: ProtocolError } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return invalid('frame is not JSON');
  }
  if (!isObject(raw) || raw['t'] !== 'presence') return invalid('presence frame is not a presence object');
  const fields = presenceFields(raw, limits);
  if (fields === null) {
    return invalid(`presence: name 1 to ${limits.maxNameLength} characters, x and y numbers within ±${limits.maxCoordinate}`);
  }
  if (Object.keys(fields).length === 0) return invalid('presence needs a name, x or y');
  return { ok: true, value: { t: 'presence', ...fields } };
}

/** The name, x and y of a presence object, each checked; null if one is bad. */
function presenceFields(raw: Json, limits: Limits): { name?: string; x?: number; y?: number } | null {
  const out: { name?: string; x?: number; y?: number } = {};
  const { name, x, y } = raw;
  if (name !== undefined) {
    if (!isString(name, 1, limits.maxNameLength)) return null;
    out.name = name;
  }
  for (const [k, v] of [
    ['x', x],
    ['y', y],
  ] as const) {
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v >= -limits.maxCoordinate && v <= limits.maxCoordinate)) return null;
    out[k] = v;
  }
  return out;
}

/** Validates a peer from another process or host; null if it is malformed. */
export function validPresencePeer(v: unknown, limits: Limits): PresencePeer | null {
  if (!isObject(v) || typeof v['who'] !== 'string' || !WHO.test(v['who'])) return null;
  if (v['gone'] === true) return { who: v['who'], gone: true };
  const fields = presenceFields(v, limits);
  return fields === null ? null : { who: v['who'], ...fields };
}

/** Merges an update into what is known of a peer: the latest of each field wins. */
export function mergePeer(old: PresencePeer | undefined, update: PresencePeer): PresencePeer {
  if (update.gone === true || old === undefined || old.gone === true) return update;
  return { ...old, ...update };
}

/** The frame a client is sent for a peer. */
export function presenceFrame(peer: PresencePeer): string {
  return JSON.stringify({ t: 'presence', ...peer });
}
