/**
 * The WebSocket URL a client opens: `/ws/BOARD?since=S&epoch=E&session=K`
 * (docs/PROTOCOL.md#websocket-url). Pure parsing, shared by the worker that
 * accepts the upgrade and the tests that check it.
 */
import { BOARD_NAME, EPOCH, SESSION_TOKEN } from './limits.js';

/** What a WebSocket URL asked for. */
export interface JoinRequest {
  readonly board: string;
  readonly since?: number;
  readonly epoch?: string;
  readonly session?: string;
}

const SINCE = /^\d{1,15}$/;

/** Parses /ws/BOARD?since=S&epoch=E&session=K; a string says what is wrong. */
export function parseJoinUrl(url: string): JoinRequest | string {
  let u: URL;
  let board: string;
  try {
    u = new URL(url, 'http://localhost');
    const match = /^\/ws\/([^/]*)$/.exec(u.pathname);
    if (match === null) return 'no such endpoint: WebSocket URLs are /ws/BOARD';
    board = decodeURIComponent(match[1]!);
  } catch {
    // new URL and decodeURIComponent throw on what a client may well send ("//", "%zz").
    return 'malformed URL';
  }
  if (!BOARD_NAME.test(board)) return 'board names are 1 to 64 characters of A-Z a-z 0-9 _ -';
  const since = u.searchParams.get('since');
  const epoch = u.searchParams.get('epoch');
  const session = u.searchParams.get('session');
  if (since !== null && !SINCE.test(since)) return 'since must be a whole number';
  if (epoch !== null && !EPOCH.test(epoch)) return 'epoch is malformed';
  if (session !== null && !SESSION_TOKEN.test(session)) return 'session is malformed';
  return {
    board,
    ...(since !== null && { since: Number(since) }),
    ...(epoch !== null && { epoch }),
    ...(session !== null && { session }),
  };
}
