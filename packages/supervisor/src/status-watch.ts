/**
 * `smegctl status --watch`: the status again every interval. On a terminal it
 * redraws one screen in place, as top and pm2 monit do: the alternate screen,
 * the cursor sent home, each line written over the old one and cleared to
 * its end, the rest of the screen cleared after the last, so nothing is ever
 * blanked first and nothing flickers. Elsewhere (a pipe, a file) each status
 * is appended: the table and a blank line, or one JSON object a line.
 */
import { ControlError, getStatus } from './control-client.js';
import type { ControlIo } from './control-commands.js';
import { formatStatusTable } from './status-table.js';

const ESC = '\x1b[';
const ENTER = `${ESC}?1049h${ESC}?25l`; // alternate screen, cursor hidden
const LEAVE = `${ESC}?25h${ESC}?1049l`;

/**
 * One screen: cursor home, then every line over the old one (cut to the
 * width, so none wraps, and cleared to its end), then the rest cleared. At
 * most `rows` lines: the last says how many did not fit.
 */
export function renderFrame(text: string, columns: number, rows: number): string {
  let lines = text.replace(/\n$/, '').split('\n');
  if (lines.length > rows) {
    const hidden = lines.length - rows + 1;
    lines = [...lines.slice(0, rows - 1), `... ${hidden} more line${hidden === 1 ? '' : 's'}; a taller terminal shows them`];
  }
  return `${ESC}H${lines.map((l) => `${l.slice(0, Math.max(1, columns))}${ESC}K`).join('\r\n')}${ESC}J`;
}

export interface WatchOptions {
  readonly json: boolean;
  readonly intervalMs: number;
}

/** Runs until the signal aborts (Ctrl-C, `q` on a terminal); resolves with exit status 0. */
export async function watchStatus(socketPath: string, io: ControlIo, opts: WatchOptions, signal: AbortSignal): Promise<0> {
  const out = io.output;
  const screen = out.isTTY === true && !opts.json;
  const stop = new AbortController();
  signal.addEventListener('abort', () => stop.abort(), { once: true });
  let redraw: (() => void) | null = null;
  let last = '';
  const input = io.input as NodeJS.ReadStream;
  if (screen) {
    out.write(ENTER);
    if (input.isTTY === true) {
      // Raw, so that one key quits; Ctrl-C then arrives as a key too.
      input.setRawMode(true);
      input.resume();
      input.on('data', (key: Buffer) => {
        if (key.includes(0x03) || key.includes(0x71 /* q */)) stop.abort();
      });
    }
    (out as NodeJS.WriteStream).on('resize', () => redraw?.());
  }
  try {
    while (!stop.signal.aborted) {
      let text: string;
      try {
        const status = await getStatus(socketPath, { signal: stop.signal });
        text = opts.json ? JSON.stringify(status) + '\n' : formatStatusTable(status);
      } catch (err) {
        if (stop.signal.aborted) break;
        if (!(err instanceof ControlError)) throw err;
        // The supervisor may be restarting: say so, and keep asking.
        text = `${io.program}: ${err.message}\n`;
        if (!screen) io.error.write(text);
      }
      if (screen) {
        const header = `smegctl status --watch: every ${opts.intervalMs / 1000} s, q or Ctrl-C to quit    ${new Date().toLocaleTimeString()}\n\n`;
        last = header + text;
        redraw = () => {
          const w = out as NodeJS.WriteStream;
          out.write(renderFrame(last, w.columns ?? 80, w.rows ?? 24));
        };
        redraw();
      } else if (!text.startsWith(`${io.program}: `)) {
        out.write(opts.json ? text : `${text}\n`);
      }
      await sleep(opts.intervalMs, stop.signal);
    }
  } finally {
    if (screen) {
      out.write(LEAVE);
      if (input.isTTY === true) {
        input.setRawMode(false);
        input.pause();
      }
    }
  }
  return 0;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
