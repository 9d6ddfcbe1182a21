/**
 * The board's name lives in the URL, /b/NAME, so a link shares a board.
 * `/` (or anything else that names no board) starts a new board with a
 * fresh random name and puts it in the address bar, ready to share;
 * `/?board=NAME` is accepted too and rewritten to /b/NAME.
 */
import { BOARD_NAME, boardOfPagePath } from '@smegchat/protocol';
import { randomTag } from './board-client.js';

export function boardFromLocation(): string {
  const fromPath = boardOfPagePath(location.pathname);
  if (fromPath !== null) return fromPath;
  const fromQuery = new URLSearchParams(location.search).get('board');
  const board = fromQuery !== null && BOARD_NAME.test(fromQuery) ? fromQuery : `board-${randomTag(6)}`;
  history.replaceState(null, '', `/b/${board}${location.hash}`);
  return board;
}
