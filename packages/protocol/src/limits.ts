/**
 * The limits every smegchat process agrees on. A worker enforces them on what
 * clients send; `smegchat --help` prints them; the page keeps within them.
 * They are generous for real drawing (docs/PROTOCOL.md#rate-limits): at least 100
 * messages a second sustained per connection and frames of at least 64 KiB.
 */
export interface Limits {
  /** Largest WebSocket frame a client may send, in bytes. */
  readonly maxFrameBytes: number;
  /** Most points in one stroke. */
  readonly maxPoints: number;
  /** Longest chat text, in characters. */
  readonly maxTextLength: number;
  /** Longest chat name, in characters. */
  readonly maxNameLength: number;
  /** Longest client message `id`, in characters. */
  readonly maxIdLength: number;
  /** Most seqs one `undo`, `redo` or `erase` names (`targets`). */
  readonly maxTargets: number;
  /** Widest stroke. */
  readonly maxWidth: number;
  /** Largest absolute coordinate. */
  readonly maxCoordinate: number;
  /** Messages a second a connection may send, sustained. */
  readonly ratePerSecond: number;
  /** Messages a connection may send in one burst above the sustained rate. */
  readonly rateBurst: number;
  /** Bytes a second a connection may send, sustained: with the board bounds, what keeps one client from filling the disk. */
  readonly bytesPerSecond: number;
  /** Bytes a connection may send in one burst above its sustained byte rate (at least one largest frame). */
  readonly bytesBurst: number;
  /** Bytes a second all connections from one address may send to one worker, sustained (a burst of twice that); 0: no limit. */
  readonly addressBytesPerSecond: number;
  /** Bytes queued to one client before it is judged too slow and dropped. */
  readonly maxBufferedBytes: number;
  /** Open connections on the whole server. */
  readonly maxConnections: number;
  /** Open connections from one remote address. */
  readonly maxConnectionsPerAddress: number;
  /** Boards kept on disk; a new board past this is refused (1013). */
  readonly maxBoards: number;
  /** Messages a board holds since its last clear; past it only `clear` is accepted. */
  readonly maxBoardMessages: number;
  /** Bytes a board holds since its last clear; past it only `clear` is accepted. */
  readonly maxBoardBytes: number;
  /** Seconds between pings; a client that has not answered the last one is dropped. */
  readonly pingIntervalSeconds: number;
}

/** The defaults; every one can be changed by option or config file. */
export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxFrameBytes: 256 * 1024,
  maxPoints: 10_000,
  maxTextLength: 2_000,
  maxNameLength: 64,
  maxIdLength: 64,
  maxTargets: 1_000,
  maxWidth: 200,
  maxCoordinate: 1_000_000,
  ratePerSecond: 200,
  rateBurst: 400,
  bytesPerSecond: 1024 * 1024,
  bytesBurst: 4 * 1024 * 1024,
  addressBytesPerSecond: 4 * 1024 * 1024,
  maxBufferedBytes: 32 * 1024 * 1024,
  maxConnections: 20_000,
  maxConnectionsPerAddress: 1_000,
  maxBoards: 10_000,
  maxBoardMessages: 50_000,
  maxBoardBytes: 24 * 1024 * 1024,
  pingIntervalSeconds: 30,
});

/** How many workers one supervisor runs: the bounds of `--workers`, `smegctl scale` and a worker's id. */
export const MIN_WORKERS = 1;
export const MAX_WORKERS = 256;

/** A board name: what may follow `/ws/` or `/b/` in a URL (docs/PROTOCOL.md#urls). */
export const BOARD_NAME = /^[A-Za-z0-9_-]{1,64}$/;

const BOARD_PAGE_PATH = /^\/b\/([^/]+)\/?$/;

/**
 * The board a page URL's path names (`/b/NAME`, a trailing slash allowed,
 * percent-encoding decoded), or null. The one definition for the server
 * that serves the page and the page that reads its own address.
 */
export function boardOfPagePath(pathname: string): string | null {
  const m = BOARD_PAGE_PATH.exec(pathname);
  if (m === null) return null;
  let name: string;
  try {
    name = decodeURIComponent(m[1]!);
  } catch {
    return null; // malformed percent-encoding
  }
  return BOARD_NAME.test(name) ? name : null;
}

/** A session token as the sequencer issues it: 128 random bits in hex. */
export const SESSION_TOKEN = /^[0-9a-f]{32}$/;

/** An epoch as the sequencer issues it. */
export const EPOCH = /^[0-9a-z]{1,32}$/;
