/**
 * `smegctl check-history`: an offline check of every board log in a data
 * directory, changing nothing (docs/CONTROL.md#check-history). Each log is
 * read as the server reads it: the header, every line's checksum, the seqs
 * rising. A torn last line (a crash mid-write) is what the server cuts at
 * the next load and is reported as such; anything else that fails is
 * corruption, which the server keeps aside whole and never cuts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BOARD_NAME } from '@smegchat/protocol';
import { BoardLog, inOrder, LOG_VERSION, seqOf, type BadLine } from './board-log.js';

export interface BoardCheck {
  readonly board: string;
  /** The format version its header names; null when the header is not valid. */
  readonly version: number | null;
  /** Lines that proved themselves. */
  readonly entries: number;
  /** The highest seq among them. */
  readonly head: number;
  readonly bad: readonly BadLine[];
  /** Lines whose seq does not rise (a line copied twice, or out of place). */
  readonly outOfOrder: number;
  /** Bytes after the last newline. */
  readonly tornBytes: number;
  /** The history was stopped cleanly (its state file says so), so a torn tail is damage, not a crash's. */
  readonly afterCleanStop: boolean;
}

export interface HistoryCheck {
  readonly dir: string;
  readonly boards: readonly BoardCheck[];
  /** Logs the server found corrupt earlier and kept aside (BOARD.log.corrupt-TIME). */
  readonly keptAside: readonly string[];
}

export function isCorrupt(c: BoardCheck): boolean {
  return c.version === null || c.bad.length > 0 || c.outOfOrder > 0 || (c.tornBytes > 0 && c.afterCleanStop);
}

/** Whether the state file says the last supervisor stopped cleanly. */
function stoppedCleanly(dataDir: string): boolean {
  try {
    const state = JSON.parse(fs.readFileSync(path.join(dataDir, 'state.json'), 'utf8')) as { running?: unknown };
    return state.running === false;
  } catch {
    return false;
  }
}

/** Reads every board log under DATA/boards. Throws (with the path) if the directory cannot be read. */
export function checkHistory(dataDir: string): HistoryCheck {
  const dir = path.join(dataDir, 'boards');
  const names = fs.readdirSync(dir).sort();
  const afterCleanStop = stoppedCleanly(dataDir);
  const boards: BoardCheck[] = [];
  for (const name of names) {
    if (!name.endsWith('.log') || !BOARD_NAME.test(name.slice(0, -4))) continue;
    const board = name.slice(0, -4);
    const loaded = BoardLog.read(dir, board);
    const rising = loaded.entries.filter(inOrder());
    const head = rising.length > 0 ? seqOf(rising.at(-1)!.frame) : 0;
    const outOfOrder = loaded.entries.length - rising.length;
    boards.push({
      board,
      version: loaded.header?.v ?? null,
      entries: loaded.entries.length,
      head,
      bad: loaded.bad,
      outOfOrder,
      tornBytes: loaded.truncated,
      afterCleanStop,
    });
  }
  return { dir, boards, keptAside: names.filter((n) => /\.log\.corrupt-/.test(n)) };
}

/** The report a person reads: a line for each board that is not simply whole, then a summary. */
export function formatHistoryCheck(check: HistoryCheck): string {
  const lines: string[] = [];
  for (const c of check.boards) {
    if (isCorrupt(c)) {
      const what = [
        c.version === null ? 'no valid header' : '',
        c.bad.length > 0 ? `${c.bad.length} bad lines (${describeLines(c.bad)})` : '',
        c.outOfOrder > 0 ? `${c.outOfOrder} lines out of order` : '',
        c.tornBytes > 0 && c.afterCleanStop ? `cut short after a clean stop (${c.tornBytes} bytes past the last whole line)` : '',
      ].filter(Boolean);
      lines.push(`${c.board}: CORRUPT: ${what.join(', ')}; ${c.entries} valid lines, up to seq ${c.head}`);
    } else if (c.tornBytes > 0) {
      lines.push(`${c.board}: torn last line (${c.tornBytes} bytes, a crash mid-write): cut at its next load; ${c.entries} lines`);
    } else if (c.version !== LOG_VERSION) {
      lines.push(`${c.board}: format version ${c.version}: rewritten as version ${LOG_VERSION} at its next load; ${c.entries} lines`);
    }
  }
  for (const f of check.keptAside) lines.push(`${f}: kept aside earlier by smegchat (corrupt when found); not served`);
  const corrupt = check.boards.filter(isCorrupt).length;
  const torn = check.boards.filter((c) => !isCorrupt(c) && c.tornBytes > 0).length;
  lines.push(
    `${check.boards.length} board logs checked in ${check.dir}: ${check.boards.length - corrupt - torn} whole, ` +
      `${torn} with a torn last line, ${corrupt} corrupt`,
  );
  return lines.join('\n') + '\n';
}

function describeLines(bad: readonly BadLine[]): string {
  const shown = bad.slice(0, 5).map((b) => `line ${b.line}: ${b.why}`);
  return bad.length > 5 ? `${shown.join('; ')}; …` : shown.join('; ');
}
